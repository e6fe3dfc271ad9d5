/**
 * Durable, atomic file writes: every file covsev writes (NIfTI, PNG, CSV, .npy, cache entries,
 * checkpoints) goes through here, so a reader sees either the old content or the new, never a
 * half-written file, and a crash or power cut after the call returned cannot lose it.
 *
 * The recipe: write a temporary sibling `<path>.tmp-<pid>-<random>` in the same folder, fsync
 * it, rename it over `path` (atomic on POSIX within one filesystem), then fsync the folder so the
 * rename itself is on disk. On any failure the temporary file is removed and an existing file at
 * `path` keeps its old content. Parent folders are created.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/** A fresh temporary name beside `path` (same folder, so the rename stays on one filesystem). */
export function temporarySibling(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Writes `data` to a new file or over an old one and fsyncs it (not atomic: use inside a temporary folder). */
export async function writeFileDurable(path: string, data: string | Uint8Array, flag = 'w'): Promise<void> {
  const handle = await open(path, flag);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * fsyncs a folder, making the renames and creations in it durable. Platforms that cannot fsync a
 * folder (Windows: EPERM / EISDIR, some filesystems: EINVAL) are tolerated: the rename is still
 * atomic there, only not yet durable. Other errors propagate.
 */
export async function syncDirectory(path: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(path, 'r');
    await handle.sync();
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM') throw error;
  } finally {
    await handle?.close();
  }
}

/**
 * Replaces `path` atomically and durably with a file that `write` produces at the temporary path
 * it is given (for streamed writers). `write` must create that file; it is fsynced, renamed over
 * `path` and the folder fsynced. On failure the temporary file is removed and the error rethrown.
 */
export async function replaceFileAtomic(path: string, write: (temporaryPath: string) => Promise<void>): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = temporarySibling(path);
  try {
    await write(tmp);
    const handle = await open(tmp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw error;
  }
  await syncDirectory(dirname(path));
}

/** Writes `data` to `path` atomically and durably (see the module comment). */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = temporarySibling(path);
  try {
    await writeFileDurable(tmp, data, 'wx');
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw error;
  }
  await syncDirectory(dirname(path));
}

/**
 * Replaces the folder `target` by the folder `fresh` (a complete, already fsynced sibling of it)
 * as a whole: renamed into place when `target` does not exist; otherwise the old folder is
 * renamed aside (`<target>.old-<pid>-<random>`), `fresh` renamed into place (the old one is put
 * back if that fails), the parent fsynced and the old folder removed. A reader sees the old
 * folder or the new one, never a mix; a kill between the two renames leaves the old folder in
 * the `.old-` sibling.
 */
export async function replaceDirectoryAtomic(fresh: string, target: string): Promise<void> {
  const parent = dirname(target);
  let exists = true;
  try {
    await stat(target);
  } catch {
    exists = false;
  }
  if (!exists) {
    await rename(fresh, target);
  } else {
    const aside = `${target}.old-${process.pid}-${randomBytes(4).toString('hex')}`;
    await rename(target, aside);
    try {
      await rename(fresh, target);
    } catch (error) {
      await rename(aside, target);
      throw error;
    }
    await syncDirectory(parent);
    await rm(aside, { recursive: true, force: true }).catch(() => undefined);
  }
  await syncDirectory(parent);
}
