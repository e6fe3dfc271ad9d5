/**
 * Cohort planning: which scans to generate, with the class balance of Table 1 (85 Mild,
 * 62 Moderate, 85 Severe, 26 Critical) scaled to N, a target involvement inside each scan's class
 * range, a slice count, a split, a name and a seed per scan. Planning is cheap and deterministic:
 * the same options give the same plan.
 */
import { COV19_TRAIN_COUNTS } from '@covsev/io';
import { drawTarget, type ScanSpec } from './generate.js';
import { checkSeed, deriveSeed, PhantomRng } from './rng.js';
import type { Category, Spacing3 } from './types.js';

export const SPLITS = ['train', 'val', 'test'] as const;
export type Split = (typeof SPLITS)[number];

export interface CohortOptions {
  /** Number of scans (>= 1). */
  readonly scans: number;
  /** Cohort seed (non-negative integer). */
  readonly seed: number;
  /** Inclusive range of slices per scan; default [40, 80]. */
  readonly slices?: readonly [number, number];
  /** Rows and columns of every slice; default 256 x 256. */
  readonly rows?: number;
  readonly cols?: number;
  /** Voxel spacing for every scan (mm); default each patient's field of view. */
  readonly spacing?: Spacing3;
  /** Train, val, test proportions; default 70:15:15. */
  readonly splits?: readonly [number, number, number];
  /** Class weights (Mild, Moderate, Severe, Critical); default COV19_TRAIN_COUNTS. */
  readonly classWeights?: readonly number[];
  /** See ScanSpec.labelNoise. */
  readonly labelNoise?: number;
  readonly labelNoiseMargin?: number;
  /** Scan name from its index in the cohort (0-based); default `ct_scan_<i>`. */
  readonly name?: (index: number) => string;
}

export interface PlannedScan {
  readonly index: number;
  readonly name: string;
  readonly split: Split;
  /** The grade aimed at (the generated scan's measured grade is the truth). */
  readonly intendedCategory: Category;
  readonly seed: number;
  readonly spec: ScanSpec;
}

export const DEFAULT_COHORT = {
  slices: [40, 80] as const,
  rows: 256,
  cols: 256,
  splits: [70, 15, 15] as const,
};

/**
 * Splits `total` into parts proportional to `weights` by the largest-remainder method (ties to
 * the earlier part). With `atLeastOne` and total >= the number of parts, every part gets one.
 */
export function largestRemainder(total: number, weights: readonly number[], atLeastOne = false): number[] {
  if (!Number.isInteger(total) || total < 0) throw new RangeError(`total must be a non-negative integer, got ${total}`);
  if (weights.length === 0 || weights.some((w) => !(w >= 0)) || !weights.some((w) => w > 0)) {
    throw new RangeError(`weights must be non-negative with at least one positive, got [${weights.join(', ')}]`);
  }
  const sum = weights.reduce((a, b) => a + b, 0);
  const exact = weights.map((w) => (w / sum) * total);
  const parts = exact.map((x) => Math.floor(x));
  let left = total - parts.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => ({ i, rem: x - Math.floor(x) })).sort((a, b) => b.rem - a.rem || a.i - b.i);
  for (let k = 0; left > 0; k = (k + 1) % order.length, left--) {
    const i = (order[k] as { i: number }).i;
    parts[i] = (parts[i] as number) + 1;
  }
  if (atLeastOne && total >= weights.length) {
    for (let i = 0; i < parts.length; i++) {
      if (parts[i] !== 0) continue;
      let donor = 0;
      for (let j = 1; j < parts.length; j++) if ((parts[j] as number) > (parts[donor] as number)) donor = j;
      parts[donor] = (parts[donor] as number) - 1;
      parts[i] = 1;
    }
  }
  return parts;
}

/** Scans per class (Mild..Critical) for a cohort of n, in the proportions of Table 1. */
export function classCounts(n: number, weights: readonly number[] = COV19_TRAIN_COUNTS): [number, number, number, number] {
  if (weights.length !== 4)
    throw new RangeError(`class weights need 4 values (Mild, Moderate, Severe, Critical), got ${weights.length}`);
  return largestRemainder(n, weights, true) as [number, number, number, number];
}

function checkOptions(o: CohortOptions): void {
  if (!Number.isInteger(o.scans) || o.scans < 1 || o.scans > 100000)
    throw new RangeError(`scans must be an integer in 1..100000, got ${o.scans}`);
  checkSeed(o.seed);
  const [lo, hi] = o.slices ?? DEFAULT_COHORT.slices;
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi < lo || hi > 4096) {
    throw new RangeError(`slices must be integers with 1 <= min <= max <= 4096, got ${lo}:${hi}`);
  }
  for (const [key, n] of [
    ['rows', o.rows],
    ['cols', o.cols],
  ] as const) {
    if (n !== undefined && (!Number.isInteger(n) || n < 8 || n > 4096))
      throw new RangeError(`${key} must be an integer in 8..4096, got ${n}`);
  }
  const splits = o.splits ?? DEFAULT_COHORT.splits;
  if (splits.length !== 3 || splits.some((s) => !(s >= 0)) || !splits.some((s) => s > 0)) {
    throw new RangeError(`splits must be three non-negative proportions, not all zero, got ${splits.join(':')}`);
  }
}

/** Plans a cohort. Scans are ordered train, then val, then test, classes interleaved. */
export function planCohort(options: CohortOptions): PlannedScan[] {
  checkOptions(options);
  const rng = new PhantomRng(deriveSeed(options.seed, 'cohort'));
  const counts = classCounts(options.scans, options.classWeights ?? COV19_TRAIN_COUNTS);
  const splitWeights = options.splits ?? DEFAULT_COHORT.splits;
  // Splits are dealt in class order, each scan to the split furthest below its share: the split
  // sizes are the proportional ones rounded, and every class is spread over the splits.
  const assigned: { category: Category; split: Split; order: number }[] = [];
  const weightSum = splitWeights.reduce((a, b) => a + b, 0);
  const dealt = [0, 0, 0];
  counts.forEach((count, c) => {
    for (let j = 0; j < count; j++) {
      const k = assigned.length + 1;
      let best = 0;
      let bestDeficit = Number.NEGATIVE_INFINITY;
      for (let s = 0; s < 3; s++) {
        const deficit = ((splitWeights[s] as number) / weightSum) * k - (dealt[s] as number);
        if (deficit > bestDeficit + 1e-9) {
          bestDeficit = deficit;
          best = s;
        }
      }
      dealt[best] = (dealt[best] as number) + 1;
      assigned.push({ category: (c + 1) as Category, split: SPLITS[best] as Split, order: 0 });
    }
  });
  // Interleave classes: a seeded shuffle, then a stable sort by split.
  rng.fork('order').shuffle(assigned);
  assigned.forEach((a, i) => {
    a.order = i;
  });
  assigned.sort((a, b) => SPLITS.indexOf(a.split) - SPLITS.indexOf(b.split) || a.order - b.order);
  const [lo, hi] = options.slices ?? DEFAULT_COHORT.slices;
  const rows = options.rows ?? DEFAULT_COHORT.rows;
  const cols = options.cols ?? DEFAULT_COHORT.cols;
  const name = options.name ?? ((i: number) => `ct_scan_${i}`);
  return assigned.map((a, index) => {
    const seed = deriveSeed(options.seed, 'scan', index);
    const scanRng = new PhantomRng(deriveSeed(options.seed, 'plan', index));
    const spec: ScanSpec = {
      slices: scanRng.int(lo, hi),
      rows,
      cols,
      targetInvolvement: drawTarget(scanRng, a.category),
      ...(options.spacing === undefined ? {} : { spacing: options.spacing }),
      ...(options.labelNoise === undefined ? {} : { labelNoise: options.labelNoise }),
      ...(options.labelNoiseMargin === undefined ? {} : { labelNoiseMargin: options.labelNoiseMargin }),
    };
    return { index, name: name(index), split: a.split, intendedCategory: a.category, seed, spec };
  });
}
