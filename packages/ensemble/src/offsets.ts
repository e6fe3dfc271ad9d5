/**
 * Per-class decision offsets (covsev's addition, off unless called): a constant b_c added to each
 * class's log-probability before the arg-max, fitted on a validation split for Macro F1, the
 * challenge's metric (docs/formats.md, "Submission files"). It moves the borders between grades
 * of a model that under- or over-calls a class (docs/method.md, "Severity grades (Table 1)": the
 * Critical class is the smallest). The fit reports the validation Macro F1 before and after, each
 * with a bootstrap interval, and the interval of the gain, so that a gain within the noise of a
 * few dozen scans is not taken for progress.
 */
import {
  type BootstrapInterval,
  bootstrapMacroF1,
  bootstrapMetric,
  type ConfusionMatrix,
  confusionMatrix,
  macroF1,
} from '@covsev/eval';
import type { PredictionRow } from '@covsev/io';
import {
  argmax,
  checkTable,
  NUM_CLASSES,
  resolveSumTolerance,
  type SeverityTruth,
  type TableRef,
  toRows,
  truthClassIds,
} from './tables.js';

/** b_0..b_3, added to the log-probabilities of Mild..Critical. */
export type DecisionOffsets = readonly [number, number, number, number];

/** The grid each offset is searched on: min, min + step, ..., max (0 must lie in it). */
export interface OffsetGrid {
  /** Default -2. */
  readonly min?: number;
  /** Default 2. */
  readonly max?: number;
  /** Default 0.1. */
  readonly step?: number;
}

/** Options of fitDecisionOffsets. */
export interface FitOffsetsOptions {
  /** The grid of each offset (default -2..2 step 0.1). */
  readonly grid?: OffsetGrid;
  /** The most coordinate sweeps over b_1..b_3 (default 3; the search stops early when a sweep changes nothing). */
  readonly sweeps?: number;
  /** Bootstrap resamples of the intervals (default 1000). */
  readonly resamples?: number;
  /** Bootstrap confidence (default 0.95). */
  readonly confidence?: number;
  /** Bootstrap seed, an integer in 0..2^32-1 (default 0). */
  readonly seed?: number;
  /** How far a row's probabilities may sum from 1 (default 1e-3, the table reader's). */
  readonly sumTolerance?: number;
  /** Names the table in errors (default "rows"). */
  readonly table?: string;
  /** The file the rows came from, if any: errors name it. */
  readonly path?: string;
}

/** The result of fitDecisionOffsets. */
export interface DecisionOffsetsFit {
  /** The fitted offsets; b_0 = 0. */
  readonly offsets: DecisionOffsets;
  /** Macro F1 of the arg-max without offsets, with its percentile bootstrap interval. */
  readonly before: BootstrapInterval;
  /** Macro F1 with the offsets, on the same scans and the same resamples (so optimistic: fitted there). */
  readonly after: BootstrapInterval;
  /** after - before on each of the same resamples: an interval reaching 0 or below is no evidence of a gain. */
  readonly gain: BootstrapInterval;
  /** Coordinate sweeps run. */
  readonly sweeps: number;
}

const OFFSETS_FN = 'applyDecisionOffsets';

function checkOffsets(fn: string, offsets: readonly number[]): void {
  if (!Array.isArray(offsets) || offsets.length !== NUM_CLASSES) {
    throw new RangeError(`${fn}: offsets must be ${NUM_CLASSES} numbers (Mild, Moderate, Severe, Critical)`);
  }
  offsets.forEach((b, c) => {
    if (!(typeof b === 'number' && Number.isFinite(b)))
      throw new RangeError(`${fn}: offset ${c} = ${String(b)} is not a finite number`);
  });
}

/** Natural logs of row-major probabilities (log 0 = -Infinity: such a class is never chosen). */
function logs(probabilities: Float64Array): Float64Array {
  return probabilities.map((p) => Math.log(p));
}

/** Class ids of argmax_c (log p_c + b_c), ties to the lower class id. */
function decide(logProbabilities: Float64Array, offsets: readonly number[], out: Int32Array): Int32Array {
  const shifted = new Float64Array(NUM_CLASSES);
  for (let r = 0; r < out.length; r++) {
    for (let c = 0; c < NUM_CLASSES; c++) shifted[c] = (logProbabilities[r * NUM_CLASSES + c] as number) + (offsets[c] as number);
    out[r] = argmax(shifted);
  }
  return out;
}

/**
 * Applies decision offsets: p'_c = p_c exp(b_c) / sum_k p_k exp(b_k), category = argmax_c
 * (log p_c + b_c) + 1 (ties: the lower class id). Offsets [0, 0, 0, 0] change nothing; adding the
 * same number to all four changes nothing either.
 *
 * Args:
 *   rows: a prediction table (probabilities finite, in [0, 1], summing to 1 within 1e-3).
 *   offsets: b_0..b_3, finite.
 * Returns:
 *   New rows in the same order.
 * Throws:
 *   RangeError: bad offsets or a bad row (named, see combinePredictions).
 */
export function applyDecisionOffsets(
  rows: readonly PredictionRow[],
  offsets: DecisionOffsets,
  options: { readonly sumTolerance?: number; readonly table?: string; readonly path?: string } = {},
): PredictionRow[] {
  checkOffsets(OFFSETS_FN, offsets);
  const table: TableRef = {
    name: options.table ?? 'rows',
    kind: 'table',
    ...(options.path === undefined ? {} : { path: options.path }),
  };
  const { names, probabilities } = checkTable(OFFSETS_FN, table, rows, resolveSumTolerance(OFFSETS_FN, options.sumTolerance));
  const logP = logs(probabilities);
  const ids = decide(logP, offsets, new Int32Array(names.length));
  const adjusted = new Float64Array(probabilities.length);
  for (let r = 0; r < names.length; r++) {
    const o = r * NUM_CLASSES;
    let max = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < NUM_CLASSES; c++) max = Math.max(max, (logP[o + c] as number) + (offsets[c] as number));
    let sum = 0;
    for (let c = 0; c < NUM_CLASSES; c++) {
      const v = Math.exp((logP[o + c] as number) + (offsets[c] as number) - max);
      adjusted[o + c] = v;
      sum += v;
    }
    for (let c = 0; c < NUM_CLASSES; c++) adjusted[o + c] = (adjusted[o + c] as number) / sum;
  }
  return toRows(names, adjusted, ids);
}

/** The grid values min..max (0 included), rounded to 1e-9 so that 0.1 steps give 0.3, not 0.30000000000000004. */
function gridValues(fn: string, grid: OffsetGrid): number[] {
  const min = grid.min ?? -2;
  const max = grid.max ?? 2;
  const step = grid.step ?? 0.1;
  if (![min, max, step].every(Number.isFinite) || !(step > 0) || !(min <= 0 && max >= 0)) {
    throw new RangeError(
      `${fn}: grid must have finite min <= 0 <= max and step > 0 (so that no offset is a candidate), got min ${min}, max ${max}, step ${step}`,
    );
  }
  const first = Math.ceil(min / step - 1e-9);
  const last = Math.floor(max / step + 1e-9);
  if (last - first + 1 > 100_001)
    throw new RangeError(`${fn}: the grid has ${last - first + 1} values (at most 100001); use a larger step`);
  const values: number[] = [];
  for (let i = first; i <= last; i++) values.push(Math.round(i * step * 1e9) / 1e9 + 0);
  return values;
}

/**
 * Fits per-class decision offsets for Macro F1 on a validation split: b_0 stays 0, and b_1, b_2,
 * b_3 are set in turn (coordinate search) to the grid value giving the best Macro F1 of
 * argmax_c (log p_c + b_c) against the truth, the others held; the sweep repeats up to `sweeps`
 * times, stopping when one changes nothing. Among values within 1e-12 of the best score the one
 * nearest 0 wins (then the lower), so offsets stay 0 unless they help.
 *
 * Macro F1 before (no offsets) and after comes with a percentile bootstrap interval (eval's
 * bootstrapMacroF1, seeded; the same resamples for both) and so does their difference (eval's
 * bootstrapMetric on the pairs). These are measured on the scans the offsets were fitted on, so
 * `after` is optimistic: apply the offsets to held-out scans to know whether they help.
 *
 * Args:
 *   rows: a prediction table (e.g. the validation split's combined table).
 *   truth: category 1..4 per scan (a Map or label rows); other scans in it are ignored.
 *   options: grid (default -2..2 step 0.1), sweeps (3), resamples (1000), confidence (0.95),
 *   seed (0), sumTolerance (1e-3), table / path (for errors).
 * Returns:
 *   The offsets, before / after / gain intervals and the sweeps run.
 * Throws:
 *   RangeError (CovsevInputError with a path): a bad row, truth missing for a scan, a bad grid
 *   or option.
 */
export function fitDecisionOffsets(
  rows: readonly PredictionRow[],
  truth: SeverityTruth,
  options: FitOffsetsOptions = {},
): DecisionOffsetsFit {
  const fn = 'fitDecisionOffsets';
  const values = gridValues(fn, options.grid ?? {});
  const maxSweeps = options.sweeps ?? 3;
  if (!(Number.isInteger(maxSweeps) && maxSweeps >= 1))
    throw new RangeError(`${fn}: sweeps must be an integer >= 1, got ${String(maxSweeps)}`);
  const seed = options.seed ?? 0;
  if (!(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) {
    throw new RangeError(`${fn}: seed must be an integer in 0..2^32-1, got ${String(seed)}`);
  }
  const resamples = options.resamples ?? 1000;
  if (!(Number.isInteger(resamples) && resamples >= 1))
    throw new RangeError(`${fn}: resamples must be an integer >= 1, got ${String(resamples)}`);
  const confidence = options.confidence ?? 0.95;
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`${fn}: confidence must be in (0, 1), got ${String(confidence)}`);
  const table: TableRef = {
    name: options.table ?? 'rows',
    kind: 'table',
    ...(options.path === undefined ? {} : { path: options.path }),
  };
  const { names, probabilities } = checkTable(fn, table, rows, resolveSumTolerance(fn, options.sumTolerance));
  const truthIds = truthClassIds(fn, truth, names);
  const logP = logs(probabilities);
  const predicted = new Int32Array(names.length);
  const score = (b: readonly number[]): number => {
    decide(logP, b, predicted);
    return macroF1(confusionMatrix(truthIds, predicted, NUM_CLASSES));
  };

  const offsets = [0, 0, 0, 0];
  let sweeps = 0;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    sweeps++;
    let changed = false;
    for (let c = 1; c < NUM_CLASSES; c++) {
      const current = offsets[c] as number;
      let bestValue = current;
      let bestScore = score(offsets);
      for (const v of values) {
        offsets[c] = v;
        const s = score(offsets);
        const nearer = Math.abs(v) < Math.abs(bestValue) || (Math.abs(v) === Math.abs(bestValue) && v < bestValue);
        if (s > bestScore + 1e-12 || (Math.abs(s - bestScore) <= 1e-12 && nearer)) {
          bestValue = v;
          bestScore = s;
        }
      }
      offsets[c] = bestValue;
      if (bestValue !== current) changed = true;
    }
    if (!changed) break;
  }

  const before = Int32Array.from(decide(logP, [0, 0, 0, 0], new Int32Array(names.length)));
  const after = Int32Array.from(decide(logP, offsets, new Int32Array(names.length)));
  const bootstrap = { numClasses: NUM_CLASSES, seed, resamples, confidence };
  // The pair (before, after) of each scan as one id b * 4 + a, so that one resampling scores both.
  const pairs = before.map((b, i) => b * NUM_CLASSES + (after[i] as number));
  const gain = bootstrapMetric(truthIds, pairs, (m) => macroF1(collapse(m, 'after')) - macroF1(collapse(m, 'before')), {
    ...bootstrap,
    numClasses: NUM_CLASSES * NUM_CLASSES,
  });
  return {
    offsets: offsets as unknown as DecisionOffsets,
    before: bootstrapMacroF1(truthIds, before, bootstrap),
    after: bootstrapMacroF1(truthIds, after, bootstrap),
    gain,
    sweeps,
  };
}

/** The 4 x 4 confusion matrix of `before` or `after` from the 16 x 16 one of truth against pair ids. */
function collapse(m: ConfusionMatrix, which: 'before' | 'after'): ConfusionMatrix {
  const out: ConfusionMatrix = Array.from({ length: NUM_CLASSES }, () => new Array<number>(NUM_CLASSES).fill(0));
  for (let t = 0; t < NUM_CLASSES; t++) {
    const row = m[t] as number[];
    const into = out[t] as number[];
    for (let j = 0; j < NUM_CLASSES * NUM_CLASSES; j++) {
      const c = which === 'before' ? Math.floor(j / NUM_CLASSES) : j % NUM_CLASSES;
      into[c] = (into[c] as number) + (row[j] as number);
    }
  }
  return out;
}
