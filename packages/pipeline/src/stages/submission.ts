/**
 * Stage "submission": the challenge's four class files (`mild.csv`, `moderate.csv`,
 * `severe.csv`, `critical.csv`, docs/formats.md) from a prediction table, or from several
 * combined by `@covsev/ensemble` (mean, weighted mean or vote; the method's submission is the
 * mean of plain CMC and infection-aware CMC), checked against the test folder when one is given
 * (every test scan predicted exactly once). The table that was submitted is written beside the
 * class files as `predictions.csv`, in the same folder swap. `checkChallengeSubmission` checks an
 * existing submission folder and lists every problem.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type CombineRule, combinePredictions, type EnsembleMember } from '@covsev/ensemble';
import {
  CovsevInputError,
  compareScanNames,
  type PredictionRow,
  predictionCsvText,
  readPredictionCsv,
  readSubmission,
  SEVERITY_CLASSES,
  SUBMISSION_FILES,
  type SubmissionEntry,
  type SubmissionLayout,
  scanNameProblem,
  writeSubmission,
} from '@covsev/io';
import { beginStage, type StageContext } from '../stage.js';

/** The prediction table written beside the class files: the table the class files come from. */
export const PREDICTION_TABLE_FILE = 'predictions.csv';

/** Scans per category: mild, moderate, severe, critical. */
export type CategoryCounts = readonly [number, number, number, number];

export interface SubmissionOptions {
  /**
   * A prediction table's path, its rows, or several tables' paths: several are combined with
   * `rule`; one is used as it is (its categories are kept).
   */
  readonly predictions: string | readonly string[] | readonly PredictionRow[];
  /** How several tables are combined (`@covsev/ensemble`): default `'mean'`. */
  readonly rule?: CombineRule;
  /** One weight per table, for the `'weighted-mean'` rule only. */
  readonly weights?: readonly number[];
  /** The folder that receives the four files and `predictions.csv`. */
  readonly outDir: string;
  /** Names one per line (default) or one comma-separated row. */
  readonly layout?: SubmissionLayout;
  /** The test folder (one folder per scan): each of its scans must have a prediction. */
  readonly testDir?: string;
  /** The test scans, when known without a folder. */
  readonly expectedScans?: readonly string[];
}

export interface Submission {
  /** The four class files, in SUBMISSION_FILES order. */
  readonly files: string[];
  /** The prediction table written beside them (`<outDir>/predictions.csv`). */
  readonly table: string;
  /** The submitted rows (the combined table when several were given). */
  readonly rows: readonly PredictionRow[];
  /** How many tables were combined (1: the table as given). */
  readonly members: number;
  /** The rule that combined them; absent for one table. */
  readonly rule?: CombineRule;
  readonly scans: number;
  /** Scans per category: mild, moderate, severe, critical. */
  readonly counts: CategoryCounts;
  /** For a person: one line naming the empty classes, if any. */
  readonly warnings: readonly string[];
}

/** Lists the scan folders of a test folder. */
export async function listTestScans(testDir: string): Promise<string[]> {
  try {
    return (await readdir(testDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (error) {
    throw new CovsevInputError(testDir, `cannot list the test folder: ${(error as Error).message}`);
  }
}

function countCategories(entries: readonly { readonly category: number }[]): CategoryCounts {
  const counts: [number, number, number, number] = [0, 0, 0, 0];
  for (const e of entries) counts[e.category - 1] = (counts[e.category - 1] as number) + 1;
  return counts;
}

/** One line naming the classes no scan falls in, or nothing. */
export function emptyClassWarnings(counts: CategoryCounts): string[] {
  const empty = SEVERITY_CLASSES.filter((_, c) => counts[c] === 0).map((c) => c.toLowerCase());
  if (empty.length === 0) return [];
  const files = empty.map((c) => `${c}.csv`).join(', ');
  return [`warning: no scan is graded ${empty.join(', ')} (${files} ${empty.length === 1 ? 'is' : 'are'} empty)`];
}

function isPathList(predictions: SubmissionOptions['predictions']): predictions is readonly string[] {
  return Array.isArray(predictions) && predictions.length > 0 && predictions.every((p) => typeof p === 'string');
}

/** The rows to submit: one table as it is, or several combined (errors name the file at fault). */
async function submittedRows(
  options: SubmissionOptions,
): Promise<{ rows: PredictionRow[]; members: number; rule?: CombineRule }> {
  const fn = 'writeChallengeSubmission';
  const { predictions, weights } = options;
  const paths = typeof predictions === 'string' ? [predictions] : isPathList(predictions) ? predictions : undefined;
  const several = paths !== undefined && paths.length > 1;
  if (!several && (options.rule !== undefined || weights !== undefined)) {
    throw new RangeError(`${fn}: rule and weights combine several prediction tables; one was given`);
  }
  if (paths === undefined) return { rows: [...(predictions as readonly PredictionRow[])], members: 1 };
  if (!several) return { rows: await readPredictionCsv(paths[0] as string), members: 1 };
  const rule = options.rule ?? 'mean';
  if (weights !== undefined && rule !== 'weighted-mean') {
    throw new RangeError(`${fn}: weights are given but the rule is '${rule}' (use 'weighted-mean')`);
  }
  if (rule === 'weighted-mean' && weights === undefined) throw new RangeError(`${fn}: the 'weighted-mean' rule needs weights`);
  if (weights !== undefined && weights.length !== paths.length) {
    throw new RangeError(`${fn}: ${weights.length} weights for ${paths.length} prediction tables`);
  }
  const members: EnsembleMember[] = [];
  for (const [i, path] of paths.entries()) {
    members.push({
      name: path,
      path,
      rows: await readPredictionCsv(path),
      ...(weights === undefined ? {} : { weight: weights[i] as number }),
    });
  }
  return { rows: combinePredictions(members, { rule }), members: paths.length, rule };
}

/**
 * Writes the challenge submission: the four class files and `predictions.csv` (the submitted
 * table, `writePredictionCsv`'s format), which change together or not at all (io's
 * `writeSubmission` with the table as an extra file: one folder swap; a failure leaves an
 * earlier submission as it was). `outDir` may hold the four class files and `predictions.csv` of
 * an earlier submission, nothing else (CovsevInputError naming it).
 *
 * Several tables are combined (`combinePredictions`: `rule`, default `'mean'`; `weights` for
 * `'weighted-mean'` only, one per table; RangeError otherwise); tables whose scan sets differ are
 * refused by the ensemble's CovsevInputError naming the file. One table is submitted as it is.
 */
export async function writeChallengeSubmission(options: SubmissionOptions, context: StageContext = {}): Promise<Submission> {
  const tables = typeof options.predictions === 'string' ? 1 : isPathList(options.predictions) ? options.predictions.length : 1;
  const stage = beginStage(context, 'submission', undefined, {
    out: options.outDir,
    tables,
    ...(tables > 1 ? { rule: options.rule ?? 'mean' } : {}),
  });
  const { rows, members, rule } = await submittedRows(options);
  const expectedScans = options.testDir !== undefined ? await listTestScans(options.testDir) : options.expectedScans;
  await writeSubmission({
    outDir: options.outDir,
    entries: rows.map((r) => ({ name: r.name, category: r.category })),
    ...(options.layout === undefined ? {} : { layout: options.layout }),
    ...(expectedScans === undefined ? {} : { expectedScans }),
    extraFiles: [{ name: PREDICTION_TABLE_FILE, text: predictionCsvText(join(options.outDir, PREDICTION_TABLE_FILE), rows) }],
  });
  const files = SUBMISSION_FILES.map((file) => join(options.outDir, file));
  const table = join(options.outDir, PREDICTION_TABLE_FILE);
  const counts = countCategories(rows);
  const warnings = emptyClassWarnings(counts);
  stage.end(
    [...files, table],
    { scans: rows.length, mild: counts[0], moderate: counts[1], severe: counts[2], critical: counts[3] },
    warnings,
  );
  return { files, table, rows, members, ...(rule === undefined ? {} : { rule }), scans: rows.length, counts, warnings };
}

export interface SubmissionCheckOptions {
  /** The layout the files must have; absent: either (as io's `readSubmission` reads them). */
  readonly layout?: SubmissionLayout;
  /** The test folder: every scan folder of it must be listed exactly once, and nothing else. */
  readonly testDir?: string;
  /** The test scans, when known without a folder. */
  readonly expectedScans?: readonly string[];
}

export interface SubmissionCheck {
  /** Every problem found, `file[:line]: problem`; empty for a good submission. */
  readonly problems: readonly string[];
  /** The scans listed (each once, in its first class). */
  readonly entries: readonly SubmissionEntry[];
  readonly scans: number;
  readonly counts: CategoryCounts;
  /** The test scans checked against, when a test folder or scan list was given. */
  readonly expected?: number;
  /** For a person: one line naming the empty classes, if any. */
  readonly warnings: readonly string[];
}

/**
 * Checks an existing submission folder and lists every problem (io's `readSubmission` stops at
 * the first; it is run last, on a folder found good, so that the two never disagree). Problems:
 * a class file missing or unreadable; with `layout`, a line that breaks it (`one-per-line`: one
 * name per line; `one-row`: every name on one line); an empty name between commas, blank space
 * around a name, a bad scan name (docs/formats.md, "Scan names"); a scan listed twice in a file
 * or in two class files; with a test folder (or `expectedScans`), a test scan listed nowhere or a
 * listed scan that is not one. Other files in the folder (`predictions.csv`) are not read.
 * An unlistable test folder is a CovsevInputError naming it.
 */
export async function checkChallengeSubmission(dir: string, options: SubmissionCheckOptions = {}): Promise<SubmissionCheck> {
  const expectedScans = options.testDir !== undefined ? await listTestScans(options.testDir) : options.expectedScans;
  const problems: string[] = [];
  const problem = (path: string, text: string, line?: number): void => {
    problems.push(new CovsevInputError(path, text, line === undefined ? undefined : { line }).message);
  };
  const first = new Map<string, { file: string; line: number }>();
  const entries: SubmissionEntry[] = [];
  let present: string[] | undefined;
  try {
    present = await readdir(dir);
  } catch (error) {
    problem(dir, `cannot list submission folder: ${(error as Error).message}`);
  }
  for (const [index, file] of SUBMISSION_FILES.entries()) {
    if (present === undefined) break;
    const path = join(dir, file);
    if (!present.includes(file)) {
      problem(path, 'missing class file');
      continue;
    }
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      problem(path, `cannot read class file: ${(error as Error).message}`);
      continue;
    }
    let rowLine: number | undefined;
    text.split(/\r\n|\n|\r/).forEach((row, k) => {
      const line = k + 1;
      if (row.trim() === '') return;
      const cells = row.split(',');
      const names = cells.filter((cell) => cell.trim() !== '');
      if (names.length < cells.length) problem(path, 'an empty name between commas', line);
      if (options.layout === 'one-per-line' && names.length > 1)
        problem(path, `${names.length} names on one line (layout one-per-line: one name per line)`, line);
      if (options.layout === 'one-row') {
        if (rowLine === undefined) rowLine = line;
        else problem(path, `names on another line than ${rowLine} (layout one-row: every name on one line)`, line);
      }
      for (const cell of names) {
        const name = cell.trim();
        if (name !== cell) problem(path, `blank space around scan name ${JSON.stringify(cell)}`, line);
        const bad = scanNameProblem(name);
        if (bad !== undefined) {
          problem(path, bad, line);
          continue;
        }
        const earlier = first.get(name);
        if (earlier === undefined) {
          first.set(name, { file, line });
          entries.push({ name, category: (index + 1) as SubmissionEntry['category'] });
        } else if (earlier.file === file) {
          problem(path, `scan "${name}" is listed twice (first on line ${earlier.line})`, line);
        } else {
          problem(path, `scan "${name}" is also listed in ${earlier.file}:${earlier.line}`, line);
        }
      }
    });
  }
  if (expectedScans !== undefined && present !== undefined) {
    const expected = new Set(expectedScans);
    const source = options.testDir === undefined ? 'the expected scans' : options.testDir;
    for (const [name, at] of first) {
      if (!expected.has(name)) problem(join(dir, at.file), `scan "${name}" is not a test scan (not in ${source})`, at.line);
    }
    for (const name of [...expected].sort(compareScanNames)) {
      if (!first.has(name)) problem(dir, `test scan "${name}" (${source}) is in no class file`);
    }
  }
  if (problems.length === 0) {
    try {
      await readSubmission(dir);
    } catch (error) {
      if (!(error instanceof CovsevInputError)) throw error;
      problems.push(error.message);
    }
  }
  const counts = countCategories(entries);
  return {
    problems,
    entries,
    scans: entries.length,
    counts,
    ...(expectedScans === undefined ? {} : { expected: new Set(expectedScans).size }),
    warnings: problems.length === 0 ? emptyClassWarnings(counts) : [],
  };
}
