/**
 * Combining prediction tables: the TTA passes of a model, or several models (docs/method.md,
 * "TTA" and "Ensemble": the method's submission is the mean of the TTA probabilities of plain CMC
 * and of infection-aware CMC).
 */
import type { PredictionRow } from '@covsev/io';
import {
  type AlignedMembers,
  alignMembers,
  argmax,
  type EnsembleMember,
  NUM_CLASSES,
  resolveSumTolerance,
  TIE_TOLERANCE,
  tableError,
  toRows,
} from './tables.js';

/**
 * How members are combined:
 * - `'mean'`: the average of the members' probabilities (the method's rule);
 * - `'weighted-mean'`: the average weighted by each member's `weight` (normalised to sum 1);
 * - `'vote'`: each member votes for its arg-max class; the most votes win.
 */
export type CombineRule = 'mean' | 'weighted-mean' | 'vote';

export const COMBINE_RULES: readonly CombineRule[] = ['mean', 'weighted-mean', 'vote'];

/** Options of combinePredictions. */
export interface CombineOptions {
  /** Default `'mean'`. */
  readonly rule?: CombineRule;
  /** How far a member row's probabilities may sum from 1 (default MEMBER_SUM_TOLERANCE = 1e-3, the table reader's). */
  readonly sumTolerance?: number;
}

/**
 * Probabilities averaged with weights (row-major n x 4), each row divided by its sum so that
 * members whose rows sum to 1 within the tolerance give rows summing to 1.
 */
export function weightedMeanProbabilities(aligned: AlignedMembers, weights: readonly number[]): Float64Array {
  const n = aligned.names.length;
  const out = new Float64Array(n * NUM_CLASSES);
  let total = 0;
  for (const w of weights) total += w;
  aligned.probabilities.forEach((p, m) => {
    const w = (weights[m] as number) / total;
    if (w === 0) return;
    for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) + w * (p[i] as number);
  });
  for (let r = 0; r < n; r++) {
    let sum = 0;
    for (let c = 0; c < NUM_CLASSES; c++) sum += out[r * NUM_CLASSES + c] as number;
    for (let c = 0; c < NUM_CLASSES; c++) out[r * NUM_CLASSES + c] = (out[r * NUM_CLASSES + c] as number) / sum;
  }
  return out;
}

/** Arg-max class ids of row-major n x 4 probabilities (ties: the lower class id). */
export function argmaxRows(probabilities: Float64Array): Int32Array {
  const n = probabilities.length / NUM_CLASSES;
  const ids = new Int32Array(n);
  for (let r = 0; r < n; r++) ids[r] = argmax(probabilities, r * NUM_CLASSES);
  return ids;
}

/** The members' weights for `'weighted-mean'`: each finite and >= 0, not all 0. */
function memberWeights(fn: string, members: readonly EnsembleMember[]): number[] {
  const weights = members.map((m) => {
    const w = m.weight;
    if (w === undefined) throw tableError(fn, m, `has no weight (the 'weighted-mean' rule needs one per member)`);
    if (!(typeof w === 'number' && Number.isFinite(w) && w >= 0)) {
      throw tableError(fn, m, `weight ${String(w)} is not a finite number >= 0`);
    }
    return w;
  });
  if (weights.every((w) => w === 0)) throw new RangeError(`${fn}: every member's weight is 0 (at least one must be > 0)`);
  return weights;
}

/**
 * Majority vote: per scan, each member's arg-max class (ties: lower class id) gets a vote; the
 * class with most votes wins, a tie in votes goes to the class with the larger mean probability,
 * then to the lower class id. The probabilities are the vote shares.
 */
function vote(aligned: AlignedMembers): { shares: Float64Array; winners: Int32Array } {
  const n = aligned.names.length;
  const members = aligned.probabilities.length;
  const counts = new Float64Array(n * NUM_CLASSES);
  for (const p of aligned.probabilities) {
    for (let r = 0; r < n; r++) {
      const c = argmax(p, r * NUM_CLASSES);
      counts[r * NUM_CLASSES + c] = (counts[r * NUM_CLASSES + c] as number) + 1;
    }
  }
  const mean = weightedMeanProbabilities(
    aligned,
    aligned.probabilities.map(() => 1),
  );
  const winners = new Int32Array(n);
  const shares = new Float64Array(n * NUM_CLASSES);
  for (let r = 0; r < n; r++) {
    const o = r * NUM_CLASSES;
    let best = 0;
    for (let c = 1; c < NUM_CLASSES; c++) {
      const votes = counts[o + c] as number;
      const bestVotes = counts[o + best] as number;
      if (votes > bestVotes || (votes === bestVotes && (mean[o + c] as number) > (mean[o + best] as number) + TIE_TOLERANCE))
        best = c;
    }
    winners[r] = best;
    for (let c = 0; c < NUM_CLASSES; c++) shares[o + c] = (counts[o + c] as number) / members;
  }
  return { shares, winners };
}

/**
 * Combines prediction tables of the same scans into one.
 *
 * Rules (see CombineRule): `'mean'` averages the probabilities; `'weighted-mean'` averages them
 * with the members' weights, normalised; `'vote'` takes the majority of the members' arg-max
 * classes (a tie in votes goes to the larger mean probability, then to the lower class id) and
 * gives the vote shares as probabilities. The means are divided by their row sums. Weights are
 * read by `'weighted-mean'` only.
 *
 * Args:
 *   members: at least one table; each member once, each holding the same scans.
 *   options: rule (default `'mean'`), sumTolerance (default 1e-3).
 * Returns:
 *   One row per scan in the first member's order; category = the arg-max class + 1 (ties: the
 *   lower class id), or the vote winner + 1.
 * Throws:
 *   RangeError naming the member (CovsevInputError naming the file for a member with a `path`):
 *   no members, a member given twice, an empty table, a bad scan name, a scan twice in a table,
 *   a category not 1..4, probabilities not finite, outside [0, 1] or not summing to 1 within
 *   the tolerance, scan sets that differ (up to 5 missing and 5 extra names), a missing or
 *   negative weight or all weights 0 for `'weighted-mean'`, an unknown rule.
 */
export function combinePredictions(members: readonly EnsembleMember[], options: CombineOptions = {}): PredictionRow[] {
  return combineAs('combinePredictions', members, options);
}

/** combinePredictions, with errors under the name of the function called (`fn`). */
export function combineAs(fn: string, members: readonly EnsembleMember[], options: CombineOptions): PredictionRow[] {
  const rule = options.rule ?? 'mean';
  if (!COMBINE_RULES.includes(rule))
    throw new RangeError(`${fn}: unknown rule ${JSON.stringify(rule)} (one of ${COMBINE_RULES.join(', ')})`);
  const tolerance = resolveSumTolerance(fn, options.sumTolerance);
  const aligned = alignMembers(fn, members, tolerance);
  if (rule === 'vote') {
    const { shares, winners } = vote(aligned);
    return toRows(aligned.names, shares, winners);
  }
  const weights = rule === 'weighted-mean' ? memberWeights(fn, members) : members.map(() => 1);
  const mean = weightedMeanProbabilities(aligned, weights);
  return toRows(aligned.names, mean, argmaxRows(mean));
}
