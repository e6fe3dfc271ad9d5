/**
 * Guards every reader shares: regular files only (a FIFO, socket, device or folder where a file
 * is expected is refused instead of hanging), a limit on the bytes a header may claim, and no
 * NaN or infinite voxels. Each failure is a CovsevInputError naming the file.
 */
import type { Stats } from 'node:fs';
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { CovsevInputError } from '../errors.js';
import { DEFAULT_MAX_VOLUME_BYTES, type ReadOptions } from './reader.js';

/** What a file system entry is, for "not a regular file" messages. */
export function fileKind(info: Stats): string {
  if (info.isDirectory()) return 'a folder';
  if (info.isFIFO()) return 'a FIFO (named pipe)';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  return 'not a file';
}

/** The problem with a non-regular file, as the messages say it. */
export function notRegularProblem(info: Stats, what: string): string {
  return info.isDirectory()
    ? `is a folder, not a regular file (expected a ${what})`
    : `not a regular file (${fileKind(info)}); expected a ${what}`;
}

/** A short phrase for a failed fs call. */
export function describeFsError(error: unknown, what: string): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') return `no such file`;
  if (code === 'EISDIR') return `is a folder, not a ${what}`;
  if (code === 'EACCES' || code === 'EPERM') return `permission denied`;
  return `cannot read: ${error instanceof Error ? error.message : String(error)}`;
}

/**
 * Opens `path` for reading if it is a regular file. The open does not block (O_NONBLOCK: opening
 * a FIFO waits for a writer otherwise) and the type is checked on the open descriptor (fstat), so
 * nothing can swap the file in between. The caller closes the handle.
 */
export async function openRegularFile(path: string, what: string): Promise<{ handle: FileHandle; size: number }> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (error) {
    throw new CovsevInputError(path, describeFsError(error, what), { cause: error });
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new CovsevInputError(path, notRegularProblem(info, what));
    return { handle, size: info.size };
  } catch (error) {
    await handle.close();
    if (error instanceof CovsevInputError) throw error;
    throw new CovsevInputError(path, describeFsError(error, what), { cause: error });
  }
}

/** The whole of a regular file (see `openRegularFile`). */
export async function readRegularFile(path: string, what: string): Promise<Buffer> {
  const { handle } = await openRegularFile(path, what);
  try {
    return await handle.readFile();
  } catch (error) {
    throw new CovsevInputError(path, describeFsError(error, what), { cause: error });
  } finally {
    await handle.close();
  }
}

/** `n` with thousands separators (9,600,000,000). */
export function grouped(n: number): string {
  return n.toLocaleString('en-US');
}

/** The effective `maxBytes` of `options` (validated: a positive number). */
export function maxVolumeBytes(options: ReadOptions): number {
  const limit = options.maxBytes ?? DEFAULT_MAX_VOLUME_BYTES;
  if (!(limit > 0)) throw new RangeError(`ReadOptions.maxBytes must be a positive number of bytes, got ${limit}`);
  return limit;
}

/** Refuses a claim of `bytes` bytes of voxels (described by `claim`) above the limit. */
export function checkVolumeBytes(path: string, claim: string, bytes: number, options: ReadOptions): void {
  const limit = maxVolumeBytes(options);
  if (bytes > limit) {
    throw new CovsevInputError(
      path,
      `${claim} (${grouped(bytes)} bytes), more than the limit of ${grouped(limit)} bytes (maxBytes; pass a larger maxBytes to read it)`,
    );
  }
}

/**
 * Refuses NaN and infinite voxels (`nonFinite: 'error'`, the default) or replaces them in place
 * by the smallest finite value, with a warning (`'replace'`). Integer arrays pass untouched.
 */
export function checkFinite(
  path: string,
  data: ArrayLike<number> & { [i: number]: number },
  options: ReadOptions,
  warn: (message: string) => void,
): void {
  if (!(data instanceof Float32Array || data instanceof Float64Array)) return;
  let bad = 0;
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    if (Number.isFinite(v)) {
      if (v < min) min = v;
    } else bad++;
  }
  if (bad === 0) return;
  const share = (100 * bad) / data.length;
  const percent = String(Number(share.toPrecision(3)));
  const counted = `${percent} % of voxels (${grouped(bad)} of ${grouped(data.length)}) are NaN or infinite`;
  const mode = options.nonFinite ?? 'error';
  if (mode !== 'error' && mode !== 'replace') {
    throw new RangeError(`ReadOptions.nonFinite must be 'error' or 'replace', got ${String(mode)}`);
  }
  if (mode === 'error' || min === Number.POSITIVE_INFINITY) {
    const hint = mode === 'error' ? " (nonFinite: 'replace' reads it with them replaced)" : ', nothing to replace them with';
    throw new CovsevInputError(path, `${counted}${hint}`);
  }
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i] as number)) data[i] = min;
  warn(
    `${path}: ${grouped(bad)} of ${grouped(data.length)} voxels (${percent} %) were NaN or infinite; replaced by ${min}, the smallest finite value`,
  );
}
