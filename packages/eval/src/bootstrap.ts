import { unsafeUniformIntDistribution, xoroshiro128plus } from 'pure-rand';
import type { ConfusionMatrix } from './confusion.js';
import { confusionMatrix } from './confusion.js';
import { assertCount, assertSameLength } from './validate.js';

/** Options of bootstrapMacroF1 and bootstrapMetric. */
export interface BootstrapOptions {
  /** K >= 1; class ids are 0..K-1. */
  readonly numClasses: number;
  /** Number of bootstrap resamples B (integer >= 1). Default 1000. */
  readonly resamples?: number;
  /** Two-sided confidence level in (0, 1). Default 0.95. */
  readonly confidence?: number;
  /** RNG seed, an integer in 0..2^32-1 (xoroshiro128plus from pure-rand). Required: results are reproducible. */
  readonly seed: number;
}

/** A point estimate with a percentile bootstrap confidence interval. */
export interface BootstrapInterval {
  /** The metric on the full data (not the mean of the resamples). */
  readonly estimate: number;
  /** Lower bound: the (1 - confidence) / 2 quantile of the resampled metric. */
  readonly low: number;
  /** Upper bound: the (1 + confidence) / 2 quantile of the resampled metric. */
  readonly high: number;
  /** Number of resamples B used. */
  readonly resamples: number;
  /** The confidence level used. */
  readonly confidence: number;
}

/**
 * Quantile of sorted values with linear interpolation between order statistics (numpy's default
 * `method='linear'`, Hyndman-Fan type 7): h = (B - 1) q, result = v[floor h] + (h - floor h)(v[ceil h] - v[floor h]).
 *
 * Args:
 *   sorted: values in ascending order, at least one.
 *   q: the probability, in [0, 1].
 * Returns:
 *   The interpolated quantile.
 * Throws:
 *   RangeError: empty input or q outside [0, 1].
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) throw new RangeError('quantileSorted: no values');
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantileSorted: q must be in [0, 1], got ${String(q)}`);
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return lo === hi ? a : a + (h - lo) * (b - a);
}

interface Resolved {
  readonly k: number;
  readonly b: number;
  readonly confidence: number;
  readonly seed: number;
}

function resolveOptions(fn: string, options: BootstrapOptions): Resolved {
  assertCount(fn, options.numClasses);
  const b = options.resamples ?? 1000;
  if (!Number.isInteger(b) || b < 1) throw new RangeError(`${fn}: resamples must be an integer >= 1, got ${String(b)}`);
  const confidence = options.confidence ?? 0.95;
  if (!(confidence > 0 && confidence < 1)) {
    throw new RangeError(`${fn}: confidence must be in (0, 1), got ${String(confidence)}`);
  }
  const seed = options.seed;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`${fn}: seed must be an integer in 0..2^32-1, got ${String(seed)}`);
  }
  return { k: options.numClasses, b, confidence, seed };
}

/**
 * The shared resampling loop. Each resample draws n indices uniformly with replacement
 * (xoroshiro128plus seeded with `seed`, unsafeUniformIntDistribution(0, n - 1)), counts their
 * confusion cells, and applies `statistic` to the flat row-major K*K counts.
 */
function resample(
  fn: string,
  truth: ArrayLike<number>,
  pred: ArrayLike<number>,
  options: BootstrapOptions,
  statistic: (counts: Float64Array, k: number) => number,
): BootstrapInterval {
  const { k, b, confidence, seed } = resolveOptions(fn, options);
  assertSameLength(fn, truth, 'truth', pred, 'pred');
  const n = truth.length;
  if (n === 0) throw new RangeError(`${fn}: needs at least one sample`);
  confusionMatrix(truth, pred, k); // validates the class ids, with clear messages
  const fullCounts = new Float64Array(k * k);
  const cells = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const cell = (truth[i] as number) * k + (pred[i] as number);
    cells[i] = cell;
    fullCounts[cell] = (fullCounts[cell] as number) + 1;
  }
  const estimate = statistic(fullCounts, k);

  const rng = xoroshiro128plus(seed | 0);
  const counts = new Float64Array(k * k);
  const values = new Float64Array(b);
  for (let r = 0; r < b; r++) {
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const cell = cells[unsafeUniformIntDistribution(0, n - 1, rng)] as number;
      counts[cell] = (counts[cell] as number) + 1;
    }
    const v = statistic(counts, k);
    if (Number.isNaN(v)) {
      throw new RangeError(
        `${fn}: the metric is NaN on resample ${r} (undefined for that resample, e.g. kappa when it holds a single class); use more samples or a metric defined on every resample`,
      );
    }
    values[r] = v;
  }
  values.sort();
  const alpha = 1 - confidence;
  return {
    estimate,
    low: quantileSorted(values, alpha / 2),
    high: quantileSorted(values, 1 - alpha / 2),
    resamples: b,
    confidence,
  };
}

/** Macro F1 (all K classes, zero_division=0) of flat row-major counts; same arithmetic as macroF1(). */
function macroF1Flat(counts: Float64Array, k: number): number {
  let sum = 0;
  for (let c = 0; c < k; c++) {
    let rowSum = 0;
    let colSum = 0;
    for (let j = 0; j < k; j++) {
      rowSum += counts[c * k + j] as number;
      colSum += counts[j * k + c] as number;
    }
    const tp = counts[c * k + c] as number;
    sum += tp === 0 ? 0 : (2 * tp) / (rowSum + colSum);
  }
  return sum / k;
}

/**
 * Percentile bootstrap confidence interval of Macro F1 (sklearn `f1_score(average='macro',
 * labels=range(K), zero_division=0)`).
 *
 * Procedure: B times, draw n samples with replacement (pairs kept together, not stratified) and
 * compute Macro F1 over all K classes (a class missing from a resample scores F1 = 0, as in the
 * definition). low/high are the alpha/2 and 1 - alpha/2 quantiles (alpha = 1 - confidence,
 * linear interpolation, see quantileSorted) of the B values. Deterministic for a given seed.
 *
 * Args:
 *   truth: true class ids, integers in 0..K-1.
 *   pred: predicted class ids, same length.
 *   options: numClasses, resamples (default 1000), confidence (default 0.95), seed (required).
 * Returns:
 *   { estimate (Macro F1 on all data), low, high, resamples, confidence }.
 * Throws:
 *   RangeError: bad options, no samples, lengths differ, or a class id out of range.
 */
export function bootstrapMacroF1(
  truth: ArrayLike<number>,
  pred: ArrayLike<number>,
  options: BootstrapOptions,
): BootstrapInterval {
  return resample('bootstrapMacroF1', truth, pred, options, macroF1Flat);
}

/**
 * Percentile bootstrap confidence interval of any metric of the confusion matrix (e.g.
 * quadraticWeightedKappa), with the same resampling and quantiles as bootstrapMacroF1 (the same
 * seed draws the same resamples).
 *
 * Args:
 *   truth: true class ids, integers in 0..K-1.
 *   pred: predicted class ids, same length.
 *   metric: maps a K x K confusion matrix (rows = truth) to a number.
 *   options: as bootstrapMacroF1.
 * Returns:
 *   { estimate, low, high, resamples, confidence }; estimate may be NaN if the metric is NaN on the full data.
 * Throws:
 *   RangeError: as bootstrapMacroF1, or the metric gives NaN on a resample (an interval over
 *   the remaining resamples would be biased, so none is made).
 */
export function bootstrapMetric(
  truth: ArrayLike<number>,
  pred: ArrayLike<number>,
  metric: (matrix: ConfusionMatrix) => number,
  options: BootstrapOptions,
): BootstrapInterval {
  return resample('bootstrapMetric', truth, pred, options, (counts, k) => {
    const m: ConfusionMatrix = [];
    for (let t = 0; t < k; t++) m.push(Array.from(counts.subarray(t * k, t * k + k)));
    return metric(m);
  });
}
