/**
 * Ensemble weights fitted on a validation split: a grid search over the simplex for the weights
 * whose weighted mean (combinePredictions' `'weighted-mean'`) scores the best Macro F1, the
 * challenge's metric (docs/formats.md, "Submission files"). The method itself uses the plain mean
 * (docs/method.md, "Ensemble"); this is covsev's addition, to be judged on held-out data.
 */
import { confusionMatrix, macroF1 } from '@covsev/eval';
import { argmaxRows, weightedMeanProbabilities } from './combine.js';
import {
  alignMembers,
  type EnsembleMember,
  NUM_CLASSES,
  resolveSumTolerance,
  type SeverityTruth,
  truthClassIds,
} from './tables.js';

/** Options of fitEnsembleWeights. */
export interface FitWeightsOptions {
  /** Grid step on each weight; 1 / step must be an integer (default 0.1: weights 0, 0.1, ..., 1). */
  readonly step?: number;
  /** How far a member row's probabilities may sum from 1 (default 1e-3, the table reader's). */
  readonly sumTolerance?: number;
}

/** The result of fitEnsembleWeights. */
export interface EnsembleWeightsFit {
  /** One weight per member, in the members' order, on the grid, summing to 1. */
  readonly weights: number[];
  /** Macro F1 of the weighted mean with these weights on the given scans. */
  readonly macroF1: number;
  /** Macro F1 of the plain mean (equal weights), for comparison. */
  readonly uniformMacroF1: number;
  /** Macro F1 of each member alone, in the members' order. */
  readonly memberMacroF1: number[];
  /** How many weight vectors were scored. */
  readonly candidates: number;
}

/** The most weight vectors the search scores (a finer step or more members is refused above it). */
export const MAX_WEIGHT_CANDIDATES = 200_000;

/** Number of ways to write `total` as an ordered sum of `parts` non-negative integers: C(total + parts - 1, parts - 1). */
function compositions(total: number, parts: number): number {
  let count = 1;
  for (let i = 1; i < parts; i++) count = (count * (total + i)) / i;
  return Math.round(count);
}

/** Calls `visit` with every vector of `parts` non-negative integers summing to `total`, the first entry largest first. */
function forEachComposition(total: number, parts: number, visit: (k: Int32Array) => void): void {
  const k = new Int32Array(parts);
  const fill = (index: number, left: number): void => {
    if (index === parts - 1) {
      k[index] = left;
      visit(k);
      return;
    }
    for (let v = left; v >= 0; v--) {
      k[index] = v;
      fill(index + 1, left - v);
    }
  };
  fill(0, total);
}

/**
 * Fits ensemble weights on a validation split by grid search over the simplex: every weight
 * vector with entries in {0, step, 2 step, ..., 1} summing to 1 is scored by the Macro F1 (all
 * four classes, eval's `macroF1`) of the arg-max of the weighted mean against the truth. The best
 * wins; among weight vectors within 1e-12 of the best score, the most uniform (the least squared
 * distance to equal weights) wins, then the one met first (earlier members' weights larger).
 *
 * The score is measured on the data the weights were fitted on, so it is optimistic: compare the
 * weights with the plain mean on held-out scans before using them.
 *
 * Args:
 *   members: the tables (weights, if any, are ignored), as combinePredictions.
 *   truth: category 1..4 per scan (a Map or label rows); other scans in it are ignored.
 *   options: step (default 0.1), sumTolerance (default 1e-3).
 * Returns:
 *   The weights (apply them as members' `weight` with the `'weighted-mean'` rule), the Macro F1
 *   they reach, that of equal weights and that of each member alone, and the number scored.
 * Throws:
 *   RangeError or CovsevInputError: the members' errors (see combinePredictions), truth missing
 *   for a scan or with a category not 1..4, a step that does not divide 1, or more than
 *   MAX_WEIGHT_CANDIDATES weight vectors.
 */
export function fitEnsembleWeights(
  members: readonly EnsembleMember[],
  truth: SeverityTruth,
  options: FitWeightsOptions = {},
): EnsembleWeightsFit {
  const fn = 'fitEnsembleWeights';
  const step = options.step ?? 0.1;
  const total = Math.round(1 / step);
  if (!(Number.isFinite(step) && step > 0 && step <= 1 && Math.abs(total * step - 1) < 1e-9)) {
    throw new RangeError(`${fn}: step must be in (0, 1] with 1 / step an integer (e.g. 0.1, 0.05), got ${String(step)}`);
  }
  const aligned = alignMembers(fn, members, resolveSumTolerance(fn, options.sumTolerance));
  const truthIds = truthClassIds(fn, truth, aligned.names);
  const m = aligned.probabilities.length;
  const candidates = compositions(total, m);
  if (candidates > MAX_WEIGHT_CANDIDATES) {
    throw new RangeError(
      `${fn}: ${m} members with step ${step} make ${candidates} weight vectors (at most ${MAX_WEIGHT_CANDIDATES}); use a larger step`,
    );
  }
  const score = (weights: readonly number[]): number =>
    macroF1(confusionMatrix(truthIds, argmaxRows(weightedMeanProbabilities(aligned, weights)), NUM_CLASSES));

  let best: { weights: number[]; macroF1: number; spread: number } | undefined;
  forEachComposition(total, m, (k) => {
    const weights = Array.from(k, (v) => v / total);
    const f1 = score(weights);
    let spread = 0;
    for (const w of weights) spread += (w - 1 / m) ** 2;
    if (
      best === undefined ||
      f1 > best.macroF1 + 1e-12 ||
      (Math.abs(f1 - best.macroF1) <= 1e-12 && spread < best.spread - 1e-15)
    ) {
      best = { weights, macroF1: f1, spread };
    }
  });
  const found = best as { weights: number[]; macroF1: number };
  return {
    weights: found.weights,
    macroF1: found.macroF1,
    uniformMacroF1: score(aligned.probabilities.map(() => 1)),
    memberMacroF1: aligned.probabilities.map((_, i) => score(aligned.probabilities.map((__, j) => (i === j ? 1 : 0)))),
    candidates,
  };
}
