import { COV19_TRAIN_COUNTS } from '@covsev/io';
import { describe, expect, it } from 'vitest';
import { classCounts, largestRemainder, planCohort } from './cohort.js';
import { CATEGORY_TARGET_RANGES } from './generate.js';

describe('class balance', () => {
  it('reproduces Table 1 at N = 258 and scales it by largest remainder', () => {
    expect(classCounts(258)).toEqual([...COV19_TRAIN_COUNTS]);
    expect(classCounts(129)).toEqual([43, 31, 42, 13]);
    expect(classCounts(10)).toEqual([3, 3, 3, 1]);
  });

  it('gives every class at least one scan from N = 4, and sums to N', () => {
    for (let n = 1; n <= 60; n++) {
      const c = classCounts(n);
      expect(c.reduce((a, b) => a + b, 0)).toBe(n);
      if (n >= 4) expect(Math.min(...c)).toBeGreaterThanOrEqual(1);
    }
    expect(classCounts(4)).toEqual([1, 1, 1, 1]);
  });

  it('refuses bad weights', () => {
    expect(() => largestRemainder(3, [0, 0])).toThrow(/weights/);
    expect(() => classCounts(3, [1, 2])).toThrow(/4 values/);
  });
});

describe('planCohort', () => {
  const plan = planCohort({ scans: 20, seed: 3, slices: [10, 30], rows: 64, cols: 64 });

  it('is deterministic and depends on the seed', () => {
    expect(planCohort({ scans: 20, seed: 3, slices: [10, 30], rows: 64, cols: 64 })).toEqual(plan);
    expect(planCohort({ scans: 20, seed: 4, slices: [10, 30], rows: 64, cols: 64 })).not.toEqual(plan);
  });

  it('draws slices, targets and names as asked', () => {
    expect(plan.map((p) => p.name)).toEqual(plan.map((_, i) => `ct_scan_${i}`));
    expect(new Set(plan.map((p) => p.seed)).size).toBe(20);
    for (const p of plan) {
      expect(p.spec.slices).toBeGreaterThanOrEqual(10);
      expect(p.spec.slices).toBeLessThanOrEqual(30);
      expect(p.spec.rows).toBe(64);
      const [lo, hi] = CATEGORY_TARGET_RANGES[p.intendedCategory];
      expect(p.spec.targetInvolvement).toBeGreaterThanOrEqual(lo);
      expect(p.spec.targetInvolvement).toBeLessThanOrEqual(hi);
    }
    expect(new Set(plan.map((p) => p.spec.slices)).size).toBeGreaterThan(3);
  });

  it('keeps the class balance and splits each class train:val:test', () => {
    const byClass = [1, 2, 3, 4].map((c) => plan.filter((p) => p.intendedCategory === c).length);
    expect(byClass).toEqual(classCounts(20));
    const splits = plan.map((p) => p.split);
    // Ordered train, val, test.
    expect(splits).toEqual([...splits].sort((a, b) => ['train', 'val', 'test'].indexOf(a) - ['train', 'val', 'test'].indexOf(b)));
    expect(splits.filter((s) => s === 'train').length).toBeGreaterThanOrEqual(12);
    const all = planCohort({ scans: 8, seed: 1, splits: [1, 0, 0] });
    expect(all.every((p) => p.split === 'train')).toBe(true);
    const spacing = planCohort({ scans: 2, seed: 1, spacing: [2, 0.7, 0.7], slices: [5, 5] });
    expect(spacing[0]?.spec.spacing).toEqual([2, 0.7, 0.7]);
    expect(spacing[0]?.spec.slices).toBe(5);
  });

  it('refuses bad options', () => {
    expect(() => planCohort({ scans: 0, seed: 1 })).toThrow(/scans/);
    expect(() => planCohort({ scans: 3, seed: -2 })).toThrow(/seed/);
    expect(() => planCohort({ scans: 3, seed: 1, slices: [9, 3] })).toThrow(/slices/);
    expect(() => planCohort({ scans: 3, seed: 1, splits: [0, 0, 0] })).toThrow(/splits/);
  });
});
