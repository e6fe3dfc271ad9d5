import { uniformIntDistribution, xoroshiro128plus } from 'pure-rand';
import { describe, expect, it } from 'vitest';
import { bootstrapMacroF1, bootstrapMetric, quantileSorted } from './bootstrap.js';
import { accuracy, macroF1 } from './classification.js';
import { confusionMatrix } from './confusion.js';
import { quadraticWeightedKappa } from './kappa.js';

/** A seeded, mostly-right 4-grade prediction: truth uniform, pred = truth +- 1 about 30% of the time. */
function makeData(n: number, seed: number): { truth: number[]; pred: number[] } {
  let rng = xoroshiro128plus(seed);
  const draw = (lo: number, hi: number): number => {
    const [v, next] = uniformIntDistribution(lo, hi, rng);
    rng = next;
    return v;
  };
  const truth: number[] = [];
  const pred: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = draw(0, 3);
    const noise = draw(0, 9);
    truth.push(t);
    pred.push(Math.min(3, Math.max(0, noise < 2 ? t - 1 : noise < 3 ? t + 1 : t)));
  }
  return { truth, pred };
}

describe('quantileSorted', () => {
  it('interpolates linearly between order statistics (numpy linear)', () => {
    const v = [1, 2, 4, 8, 16];
    expect(quantileSorted(v, 0)).toBe(1);
    expect(quantileSorted(v, 1)).toBe(16);
    expect(quantileSorted(v, 0.5)).toBe(4);
    expect(quantileSorted(v, 0.1)).toBeCloseTo(1.4, 15); // h = 0.4
    expect(quantileSorted(v, 0.975)).toBeCloseTo(8 + 0.9 * 8, 14); // h = 3.9
    expect(quantileSorted([3], 0.025)).toBe(3);
  });

  it('rejects empty input and q outside [0, 1]', () => {
    expect(() => quantileSorted([], 0.5)).toThrow(/no values/);
    expect(() => quantileSorted([1], 1.5)).toThrow(/q must be in \[0, 1\]/);
    expect(() => quantileSorted([1], Number.NaN)).toThrow(RangeError);
  });
});

describe('bootstrapMacroF1', () => {
  const { truth, pred } = makeData(300, 7);
  const K = 4;

  it('is deterministic for a seed and differs across seeds', () => {
    const a = bootstrapMacroF1(truth, pred, { numClasses: K, seed: 42 });
    const b = bootstrapMacroF1(truth, pred, { numClasses: K, seed: 42 });
    const c = bootstrapMacroF1(truth, pred, { numClasses: K, seed: 43 });
    expect(b).toEqual(a);
    expect([c.low, c.high]).not.toEqual([a.low, a.high]);
    expect(c.estimate).toBe(a.estimate);
  });

  it('estimates Macro F1 on all data, with an interval that contains it', () => {
    const r = bootstrapMacroF1(truth, pred, { numClasses: K, seed: 1 });
    expect(r.estimate).toBe(macroF1(confusionMatrix(truth, pred, K)));
    expect(r.resamples).toBe(1000);
    expect(r.confidence).toBe(0.95);
    expect(r.low).toBeLessThan(r.estimate);
    expect(r.high).toBeGreaterThan(r.estimate);
    // n = 300 at ~75% accuracy: the 95% interval is a few points wide, not degenerate, not huge.
    expect(r.high - r.low).toBeGreaterThan(0.03);
    expect(r.high - r.low).toBeLessThan(0.25);
  });

  it('nests a narrower confidence level inside a wider one (same seed, same resamples)', () => {
    const wide = bootstrapMacroF1(truth, pred, { numClasses: K, seed: 5, confidence: 0.95, resamples: 400 });
    const narrow = bootstrapMacroF1(truth, pred, { numClasses: K, seed: 5, confidence: 0.5, resamples: 400 });
    expect(narrow.low).toBeGreaterThan(wide.low);
    expect(narrow.high).toBeLessThan(wide.high);
    expect(narrow.low).toBeLessThanOrEqual(narrow.high);
  });

  it('shrinks with more data', () => {
    const big = makeData(3000, 7);
    const small = bootstrapMacroF1(truth, pred, { numClasses: K, seed: 3, resamples: 300 });
    const large = bootstrapMacroF1(big.truth, big.pred, { numClasses: K, seed: 3, resamples: 300 });
    expect(large.high - large.low).toBeLessThan((small.high - small.low) / 2);
  });

  it('draws indices uniformly with replacement from xoroshiro128plus(seed), as documented', () => {
    // An independent re-implementation of B = 5 resamples with pure-rand's pure API.
    const seed = 99;
    const B = 5;
    let rng = xoroshiro128plus(seed);
    const values: number[] = [];
    for (let r = 0; r < B; r++) {
      const t: number[] = [];
      const p: number[] = [];
      for (let i = 0; i < truth.length; i++) {
        const [idx, next] = uniformIntDistribution(0, truth.length - 1, rng);
        rng = next;
        t.push(truth[idx] as number);
        p.push(pred[idx] as number);
      }
      values.push(macroF1(confusionMatrix(t, p, K)));
    }
    values.sort((a, b) => a - b);
    const r = bootstrapMacroF1(truth, pred, { numClasses: K, seed, resamples: B, confidence: 0.9 });
    // h = 4 * 0.05 = 0.2 and 4 * 0.95 = 3.8
    const v = values as [number, number, number, number, number];
    expect(r.low).toBeCloseTo(v[0] + 0.2 * (v[1] - v[0]), 14);
    expect(r.high).toBeCloseTo(v[3] + 0.8 * (v[4] - v[3]), 14);
  });

  it('gives [1, 1] for perfect predictions with every class well represented', () => {
    const r = bootstrapMacroF1(truth, truth, { numClasses: K, seed: 0, resamples: 200 });
    expect(r).toEqual({ estimate: 1, low: 1, high: 1, resamples: 200, confidence: 0.95 });
  });

  it('rejects bad options and input', () => {
    const o = { numClasses: K, seed: 1 };
    expect(() => bootstrapMacroF1([], [], o)).toThrow(/at least one sample/);
    expect(() => bootstrapMacroF1([0, 1], [0], o)).toThrow(/differ in length/);
    expect(() => bootstrapMacroF1([0, 4], [0, 1], o)).toThrow(/truth\[1\] = 4/);
    expect(() => bootstrapMacroF1(truth, pred, { ...o, resamples: 0 })).toThrow(/resamples must be an integer >= 1/);
    expect(() => bootstrapMacroF1(truth, pred, { ...o, confidence: 1 })).toThrow(/confidence must be in \(0, 1\)/);
    expect(() => bootstrapMacroF1(truth, pred, { ...o, confidence: 0 })).toThrow(/confidence/);
    expect(() => bootstrapMacroF1(truth, pred, { ...o, seed: -1 })).toThrow(/seed must be an integer in 0\.\.2\^32-1/);
    expect(() => bootstrapMacroF1(truth, pred, { ...o, seed: 1.5 })).toThrow(/seed/);
    expect(() => bootstrapMacroF1(truth, pred, { ...o, numClasses: 0 })).toThrow(/numClasses/);
  });
});

describe('bootstrapMetric', () => {
  const { truth, pred } = makeData(200, 11);
  const o = { numClasses: 4, seed: 8, resamples: 300 };

  it('equals bootstrapMacroF1 for the macroF1 metric (same resamples)', () => {
    expect(bootstrapMetric(truth, pred, macroF1, o)).toEqual(bootstrapMacroF1(truth, pred, o));
  });

  it('works for other metrics (accuracy, quadratic kappa)', () => {
    const acc = bootstrapMetric(truth, pred, accuracy, o);
    expect(acc.estimate).toBe(accuracy(confusionMatrix(truth, pred, 4)));
    expect(acc.low).toBeLessThan(acc.estimate);
    expect(acc.high).toBeGreaterThan(acc.estimate);
    const qwk = bootstrapMetric(truth, pred, quadraticWeightedKappa, o);
    expect(qwk.estimate).toBe(quadraticWeightedKappa(confusionMatrix(truth, pred, 4)));
    expect(qwk.low).toBeLessThan(qwk.estimate);
    expect(qwk.high).toBeGreaterThan(qwk.estimate);
  });

  it('refuses an interval when the metric is NaN on a resample', () => {
    // One sample: every resample is that sample, kappa is 0/0.
    expect(() => bootstrapMetric([1], [1], quadraticWeightedKappa, { numClasses: 2, seed: 0, resamples: 3 })).toThrow(
      /metric is NaN on resample 0/,
    );
  });
});
