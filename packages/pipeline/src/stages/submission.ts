/**
 * Stage "submission": the challenge's four class files (`mild.csv`, `moderate.csv`,
 * `severe.csv`, `critical.csv`, docs/formats.md) from a prediction table, checked against the
 * test folder when one is given (every test scan predicted exactly once).
 */
import { readdir } from 'node:fs/promises';
import { CovsevInputError, type PredictionRow, readPredictionCsv, type SubmissionLayout, writeSubmission } from '@covsev/io';
import { beginStage, type StageContext } from '../stage.js';

export interface SubmissionOptions {
  /** A prediction table's path, or its rows. */
  readonly predictions: string | readonly PredictionRow[];
  /** The folder that receives the four files. */
  readonly outDir: string;
  /** Names one per line (default) or one comma-separated row. */
  readonly layout?: SubmissionLayout;
  /** The test folder (one folder per scan): each of its scans must have a prediction. */
  readonly testDir?: string;
  /** The test scans, when known without a folder. */
  readonly expectedScans?: readonly string[];
}

export interface Submission {
  readonly files: string[];
  readonly scans: number;
  /** Scans per category: mild, moderate, severe, critical. */
  readonly counts: readonly [number, number, number, number];
}

/** Lists the scan folders of a test folder. */
export async function listTestScans(testDir: string): Promise<string[]> {
  try {
    return (await readdir(testDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (error) {
    throw new CovsevInputError(testDir, `cannot list the test folder: ${(error as Error).message}`);
  }
}

/** Writes the challenge submission. */
export async function writeChallengeSubmission(options: SubmissionOptions, context: StageContext = {}): Promise<Submission> {
  const stage = beginStage(context, 'submission', undefined, { out: options.outDir });
  const rows = typeof options.predictions === 'string' ? await readPredictionCsv(options.predictions) : options.predictions;
  const expectedScans = options.testDir !== undefined ? await listTestScans(options.testDir) : options.expectedScans;
  const files = await writeSubmission({
    outDir: options.outDir,
    entries: rows.map((r) => ({ name: r.name, category: r.category })),
    ...(options.layout === undefined ? {} : { layout: options.layout }),
    ...(expectedScans === undefined ? {} : { expectedScans }),
  });
  const counts = ([1, 2, 3, 4] as const).map((c) => rows.filter((r) => r.category === c).length) as [
    number,
    number,
    number,
    number,
  ];
  stage.end(files, { scans: rows.length, mild: counts[0], moderate: counts[1], severe: counts[2], critical: counts[3] });
  return { files, scans: rows.length, counts };
}
