/**
 * Sharded prediction (docs/sharding.md): a fixed part of the scans per job of an array job
 * (Slurm, a Kubernetes Indexed Job), each part's prediction table written beside the final one,
 * then merged into the table an unsharded run writes. A scan's TTA draws depend on the seed and
 * its name alone (`ttaRng` in `@covsev/cmc`), so a scan's row does not depend on its part.
 */
import { stat } from 'node:fs/promises';
import { CovsevInputError, compareScanNames, type PredictionRow, readPredictionCsv, writePredictionCsv } from '@covsev/io';

/** Which part of how many: `partId` 0-based, `0 <= partId < numParts`. */
export interface ShardSpec {
  readonly numParts: number;
  readonly partId: number;
}

function checkSpec({ numParts, partId }: ShardSpec): void {
  if (!Number.isSafeInteger(numParts) || numParts < 1)
    throw new RangeError(`numParts must be an integer >= 1, got ${numParts} (partId ${partId})`);
  if (!Number.isSafeInteger(partId) || partId < 0 || partId >= numParts)
    throw new RangeError(`partId must be an integer in 0..${numParts - 1}, got partId ${partId} with numParts ${numParts}`);
}

/**
 * The scans of part `partId` of `numParts`: the names in natural order, cut into `numParts`
 * contiguous blocks whose sizes differ by at most one (the first `length % numParts` blocks
 * take one more). Every name lands in exactly one part; the same names give the same parts
 * whatever order they come in. A part may be empty (more parts than scans).
 */
export function shardOf(names: readonly string[], spec: ShardSpec): string[] {
  checkSpec(spec);
  const sorted = [...names].sort(compareScanNames);
  const base = Math.floor(sorted.length / spec.numParts);
  const extra = sorted.length % spec.numParts;
  const start = spec.partId * base + Math.min(spec.partId, extra);
  return sorted.slice(start, start + base + (spec.partId < extra ? 1 : 0));
}

/** Where the part came from, and `numParts` when the environment gives it. */
export interface EnvShard {
  readonly partId: number;
  /** Slurm gives it (SLURM_ARRAY_TASK_COUNT); a Kubernetes Indexed Job does not (`--num-parts`). */
  readonly numParts?: number;
  readonly source: 'slurm' | 'kubernetes';
}

function envInteger(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text.trim() === '') return undefined;
  if (!/^\d+$/.test(text.trim())) throw new RangeError(`${name} must be a non-negative integer, got "${text}"`);
  return Number(text.trim());
}

/**
 * The part an array job's task is: Slurm's SLURM_ARRAY_TASK_ID (minus SLURM_ARRAY_TASK_MIN when
 * set, so `--array=1-4` is parts 0..3) of SLURM_ARRAY_TASK_COUNT, or Kubernetes'
 * JOB_COMPLETION_INDEX (the count is not in the environment: it comes from the caller's
 * option). Undefined when neither is set. A value that is not an integer, or a part outside
 * the count, is a RangeError naming the variable.
 */
export function shardFromEnv(env: NodeJS.ProcessEnv = process.env): EnvShard | undefined {
  const id = envInteger(env, 'SLURM_ARRAY_TASK_ID');
  if (id !== undefined) {
    const min = envInteger(env, 'SLURM_ARRAY_TASK_MIN') ?? 0;
    const count = envInteger(env, 'SLURM_ARRAY_TASK_COUNT');
    const partId = id - min;
    if (partId < 0) throw new RangeError(`SLURM_ARRAY_TASK_ID ${id} is below SLURM_ARRAY_TASK_MIN ${min}`);
    if (count !== undefined && partId >= count)
      throw new RangeError(
        `SLURM_ARRAY_TASK_ID ${id} (minus SLURM_ARRAY_TASK_MIN ${min}) is part ${partId}, outside SLURM_ARRAY_TASK_COUNT ${count} (use a contiguous --array, step 1)`,
      );
    return { partId, ...(count === undefined ? {} : { numParts: count }), source: 'slurm' };
  }
  const index = envInteger(env, 'JOB_COMPLETION_INDEX');
  if (index !== undefined) return { partId: index, source: 'kubernetes' };
  return undefined;
}

/** `<out without .csv>.part-<K>-of-<N>.csv`: where part K of N of the table `out` is written. */
export function partTablePath(out: string, partId: number, numParts: number): string {
  checkSpec({ numParts, partId });
  const stem = out.toLowerCase().endsWith('.csv') ? out.slice(0, -'.csv'.length) : out;
  return `${stem}.part-${partId}-of-${numParts}.csv`;
}

export interface MergeOptions {
  readonly numParts: number;
  /** Every scan that must be predicted (e.g. the test folder's): a missing or unknown scan is refused. */
  readonly expectedScans?: readonly string[];
  /** What `expectedScans` came from (a folder), named in the error; default `out`. */
  readonly expectedFrom?: string;
}

/**
 * Merges the part tables of `out` (`partTablePath(out, k, numParts)`, k = 0..numParts-1) into
 * `out`, rows in natural scan order (the order of an unsharded run's table), written with
 * `writePredictionCsv` (atomic; the 9-digit probabilities read back print the same). Refuses,
 * as a CovsevInputError naming the file: a missing part, a bad part table, a scan in two parts,
 * and with `expectedScans` a scan no part predicts or one not expected. Nothing is written then.
 */
export async function mergePredictionParts(out: string, options: MergeOptions): Promise<PredictionRow[]> {
  const { numParts } = options;
  checkSpec({ numParts, partId: 0 });
  const owner = new Map<string, string>();
  const rows: PredictionRow[] = [];
  for (let k = 0; k < numParts; k++) {
    const file = partTablePath(out, k, numParts);
    const info = await stat(file).catch(() => undefined);
    if (info === undefined || !info.isFile())
      throw new CovsevInputError(file, `part ${k} of ${numParts} is missing (has its job run and finished?)`);
    for (const row of await readPredictionCsv(file)) {
      const first = owner.get(row.name);
      if (first !== undefined) throw new CovsevInputError(file, `scan "${row.name}" is also predicted in ${first}`);
      owner.set(row.name, file);
      rows.push(row);
    }
  }
  if (options.expectedScans !== undefined) {
    const where = options.expectedFrom ?? out;
    const expected = new Set(options.expectedScans);
    const list = (names: string[]) => `${names.slice(0, 5).join(', ')}${names.length > 5 ? ', ...' : ''}`;
    const missing = [...expected].filter((n) => !owner.has(n)).sort(compareScanNames);
    if (missing.length > 0)
      throw new CovsevInputError(
        where,
        `${missing.length} scan(s) have no prediction in the ${numParts} parts: ${list(missing)}`,
      );
    const unknown = [...owner.keys()].filter((n) => !expected.has(n)).sort(compareScanNames);
    if (unknown.length > 0)
      throw new CovsevInputError(
        owner.get(unknown[0] as string) as string,
        `${unknown.length} predicted scan(s) are not in ${where}: ${list(unknown)}`,
      );
  }
  rows.sort((a, b) => compareScanNames(a.name, b.name));
  await writePredictionCsv(out, rows);
  return rows;
}
