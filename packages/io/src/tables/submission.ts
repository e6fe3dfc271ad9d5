import { lstat, mkdir, readdir, readFile, realpath, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { replaceDirectoryAtomic, syncDirectory, temporarySibling, writeFileDurable } from '../atomic.js';
import { CovsevInputError } from '../errors.js';
import { SEVERITY_CLASSES, type SeverityCategory } from '../severity.js';
import { compareScanNames, scanNameProblem } from './scanName.js';

/**
 * The severity track's submission (docs/formats.md): one CSV per class, `mild.csv`, `moderate.csv`,
 * `severe.csv`, `critical.csv`, each listing the test scans predicted as that class. Teams have
 * written the names one per line (covsev's default) or as one comma-separated row; both are
 * written and read. Every test scan must appear in exactly one file.
 */
export type SubmissionLayout = 'one-per-line' | 'one-row';

/** The file of each category, 1..4. */
export const SUBMISSION_FILES = SEVERITY_CLASSES.map((c) => `${c.toLowerCase()}.csv`) as readonly string[];

export interface SubmissionEntry {
  readonly name: string;
  readonly category: SeverityCategory;
}

export interface WriteSubmissionOptions {
  readonly outDir: string;
  readonly entries: readonly SubmissionEntry[];
  readonly layout?: SubmissionLayout;
  /** When given, the entries must name exactly these scans (e.g. the test set's folders). */
  readonly expectedScans?: readonly string[];
  /**
   * More files written beside the class files, in the same folder swap (e.g. the submitted
   * prediction table): file name and text. An earlier submission's copies may be in `outDir`.
   */
  readonly extraFiles?: readonly { readonly name: string; readonly text: string }[];
}

function checkEntries(entries: readonly SubmissionEntry[], expected: readonly string[] | undefined, where: string): void {
  const seen = new Set<string>();
  for (const e of entries) {
    if (seen.has(e.name)) throw new CovsevInputError(where, `scan "${e.name}" is predicted twice`);
    seen.add(e.name);
  }
  if (expected === undefined) return;
  const missing = expected.filter((n) => !seen.has(n));
  const extra = [...seen].filter((n) => !expected.includes(n));
  if (missing.length > 0)
    throw new CovsevInputError(
      where,
      `${missing.length} test scan(s) have no prediction: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`,
    );
  if (extra.length > 0)
    throw new CovsevInputError(
      where,
      `${extra.length} prediction(s) name no test scan: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', ...' : ''}`,
    );
}

/** The text of each class file, in SUBMISSION_FILES order; refuses a bad name, naming file and line. */
function classFileTexts(outDir: string, entries: readonly SubmissionEntry[], layout: SubmissionLayout): string[] {
  return SUBMISSION_FILES.map((file, index) => {
    const names = entries
      .filter((e) => e.category === index + 1)
      .map((e) => e.name)
      .sort(compareScanNames);
    names.forEach((name, k) => {
      const problem = scanNameProblem(name);
      if (problem !== undefined)
        throw new CovsevInputError(join(outDir, file), problem, { line: layout === 'one-row' ? 1 : k + 1 });
    });
    return names.length === 0 ? '' : layout === 'one-row' ? `${names.join(',')}\n` : `${names.join('\n')}\n`;
  });
}

function errorCode(error: unknown): string | undefined {
  return (error as { code?: string } | null)?.code;
}

/** The nearest existing ancestor of `path` that is not a folder, if any. */
async function fileAncestor(path: string): Promise<string | undefined> {
  for (let at = dirname(path); ; at = dirname(at)) {
    const info = await stat(at).catch(() => undefined);
    if (info !== undefined) return info.isDirectory() ? undefined : at;
    if (dirname(at) === at) return undefined;
  }
}

/**
 * Where the class files go, checked: the real folder (a symlinked out folder is followed, so the
 * link stays), whether it exists, and that it holds nothing but class files. Refusals are
 * CovsevInputErrors naming `outDir`.
 */
async function prepareOutDir(outDir: string, own: readonly string[]): Promise<{ target: string; exists: boolean }> {
  const notFolder = (): CovsevInputError => new CovsevInputError(outDir, 'is a file, not a folder');
  const link = await lstat(outDir).catch((error: unknown) => {
    if (errorCode(error) === 'ENOENT') return undefined;
    if (errorCode(error) === 'ENOTDIR') return null;
    throw error;
  });
  if (link === null || link === undefined) {
    const file = await fileAncestor(resolve(outDir));
    if (file !== undefined) throw new CovsevInputError(outDir, `${file} is a file, not a folder`);
    if (link === null) throw notFolder();
    try {
      await mkdir(dirname(resolve(outDir)), { recursive: true });
    } catch (error) {
      if (errorCode(error) === 'ENOTDIR' || errorCode(error) === 'EEXIST') {
        throw new CovsevInputError(outDir, `${dirname(outDir)} is not a folder`, { cause: error });
      }
      throw error;
    }
    return { target: resolve(outDir), exists: false };
  }
  let target = resolve(outDir);
  if (link.isSymbolicLink()) {
    try {
      target = await realpath(outDir);
    } catch (error) {
      throw new CovsevInputError(outDir, `is a symlink to nothing (${(error as Error).message})`, { cause: error });
    }
  }
  if (!(await stat(target)).isDirectory()) throw notFolder();
  const others = (await readdir(target)).filter((entry) => !own.includes(entry)).sort();
  if (others.length > 0) {
    const extra = own.slice(SUBMISSION_FILES.length);
    throw new CovsevInputError(
      outDir,
      `holds other files than the four class files${extra.length > 0 ? ` and ${extra.join(', ')}` : ''} (${others.slice(0, 5).join(', ')}${others.length > 5 ? ', ...' : ''}): ` +
        'the folder is replaced as a whole, so give an empty or new folder, or move them',
    );
  }
  return { target, exists: true };
}

/**
 * Writes the four class files; returns their paths. The four change together or not at all,
 * and an earlier submission in `outDir` survives any failure: the files are written and fsynced
 * in a temporary sibling folder (`<outDir>.tmp-<pid>-<hex>`), then swapped in: the earlier
 * folder is renamed aside (`<outDir>.old-<pid>-<hex>`), the new one renamed into place (the old
 * one is put back if that fails), the parent fsynced and the old folder removed. As the folder
 * is replaced as a whole, an `outDir` holding anything but the four class files is refused
 * (CovsevInputError), as is an `outDir` that is a file or lies under one; a symlinked `outDir` is
 * followed (its target is replaced, the link stays). Bad scan names (`scanNameProblem`), a scan
 * predicted twice and, with `expectedScans`, a missing or unknown scan are refused before
 * anything is written. A kill between the two renames leaves the earlier submission in the
 * `.old-` sibling.
 */
export async function writeSubmission(options: WriteSubmissionOptions): Promise<string[]> {
  checkEntries(options.entries, options.expectedScans, options.outDir);
  const texts = classFileTexts(options.outDir, options.entries, options.layout ?? 'one-per-line');
  const extra = options.extraFiles ?? [];
  for (const { name } of extra)
    if (name.length === 0 || basename(name) !== name || SUBMISSION_FILES.includes(name) || name.startsWith('.'))
      throw new RangeError(`writeSubmission: extra file name "${name}" must be a plain file name other than the class files`);
  const { target } = await prepareOutDir(options.outDir, [...SUBMISSION_FILES, ...extra.map((f) => f.name)]);
  const fresh = temporarySibling(target);
  try {
    await mkdir(fresh);
    for (const [index, file] of SUBMISSION_FILES.entries())
      await writeFileDurable(join(fresh, file), texts[index] as string, 'wx');
    for (const { name, text } of extra) await writeFileDurable(join(fresh, name), text, 'wx');
    await syncDirectory(fresh);
    await replaceDirectoryAtomic(fresh, target);
  } catch (error) {
    await rm(fresh, { recursive: true, force: true }).catch(() => undefined);
    throw error;
  }
  return SUBMISSION_FILES.map((file) => join(options.outDir, file));
}

/**
 * Reads a submission folder in either layout (names trimmed, blank lines and empty cells
 * skipped); a scan in two files is an error naming both, a bad scan name (`scanNameProblem`) an
 * error naming the file and line. Other files in the folder are ignored.
 */
export async function readSubmission(dir: string): Promise<SubmissionEntry[]> {
  const entries: SubmissionEntry[] = [];
  const where = new Map<string, string>();
  let present: string[];
  try {
    present = await readdir(dir);
  } catch (error) {
    throw new CovsevInputError(dir, `cannot list submission folder: ${(error as Error).message}`, { cause: error });
  }
  for (const [index, file] of SUBMISSION_FILES.entries()) {
    if (!present.includes(file)) throw new CovsevInputError(join(dir, file), 'missing class file');
    const path = join(dir, file);
    const text = await readFile(path, 'utf8');
    const names = text.split(/\r\n|\n|\r/).flatMap((row, k) =>
      row
        .split(',')
        .map((name) => ({ name: name.trim(), line: k + 1 }))
        .filter((n) => n.name.length > 0),
    );
    for (const { name, line } of names) {
      const problem = scanNameProblem(name);
      if (problem !== undefined) throw new CovsevInputError(path, problem, { line });
      const earlier = where.get(name);
      if (earlier !== undefined) throw new CovsevInputError(path, `scan "${name}" is also listed in ${earlier}`);
      where.set(name, file);
      entries.push({ name, category: (index + 1) as SeverityCategory });
    }
  }
  return entries;
}
