import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic.js';
import { CovsevInputError } from '../errors.js';
import { SEVERITY_CLASSES, type SeverityCategory } from '../severity.js';

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

/** Natural order: ct_scan_2 before ct_scan_10. */
function byName(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/** Writes the four class files (each atomically); returns their paths. */
export async function writeSubmission(options: WriteSubmissionOptions): Promise<string[]> {
  checkEntries(options.entries, options.expectedScans, options.outDir);
  const layout = options.layout ?? 'one-per-line';
  const paths: string[] = [];
  for (const [index, file] of SUBMISSION_FILES.entries()) {
    const names = options.entries
      .filter((e) => e.category === index + 1)
      .map((e) => e.name)
      .sort(byName);
    const text = names.length === 0 ? '' : layout === 'one-row' ? `${names.join(',')}\n` : `${names.join('\n')}\n`;
    const path = join(options.outDir, file);
    await writeFileAtomic(path, text);
    paths.push(path);
  }
  return paths;
}

/** Reads a submission folder in either layout; a scan in two files is an error naming both. */
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
    const names = text
      .split(/[\r\n,]+/)
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    for (const name of names) {
      const earlier = where.get(name);
      if (earlier !== undefined) throw new CovsevInputError(path, `scan "${name}" is also listed in ${earlier}`);
      where.set(name, file);
      entries.push({ name, category: (index + 1) as SeverityCategory });
    }
  }
  return entries;
}
