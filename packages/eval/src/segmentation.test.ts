import { describe, expect, it } from 'vitest';
import {
  binaryOverlap,
  dice,
  iou,
  miou,
  SegmentationMetricAccumulator,
  segmentationMetrics,
  segmentationMetricsFromOverlap,
} from './segmentation.js';

// I = 2, |P| = 3, |T| = 3, union 4, V = 5; background: intersection 1, union 3.
const P = Uint8Array.from([1, 1, 0, 0, 1]);
const T = Uint8Array.from([1, 0, 0, 1, 1]);

describe('binary segmentation (hand-computed)', () => {
  it('iou, dice, miou', () => {
    expect(binaryOverlap(P, T)).toEqual({ voxels: 5, intersection: 2, predCount: 3, truthCount: 3 });
    expect(iou(P, T)).toBe(0.5);
    expect(dice(P, T)).toBeCloseTo(2 / 3, 15);
    expect(miou(P, T)).toBeCloseTo((1 / 3 + 1 / 2) / 2, 15);
    const m = segmentationMetrics(P, T);
    expect(m.union).toBe(4);
    expect(m.backgroundIou).toBeCloseTo(1 / 3, 15);
  });

  it('treats any nonzero value as foreground', () => {
    expect(iou([0.5, -2, 0, 0, 7], [255, 0, 0, 1, 1])).toBe(0.5);
    expect(iou(Float32Array.from([1, 1, 0, 0, 1]), T)).toBe(0.5);
  });

  it('scores 1 when both masks are empty (documented convention), 0 when only one is', () => {
    const empty = new Uint8Array(4);
    const some = Uint8Array.from([0, 1, 0, 0]);
    expect(iou(empty, empty)).toBe(1);
    expect(dice(empty, empty)).toBe(1);
    expect(miou(empty, empty)).toBe(1);
    expect(iou(empty, some)).toBe(0);
    expect(iou(some, empty)).toBe(0);
    expect(dice(empty, some)).toBe(0);
    // Background of all-foreground masks is empty in both: background IoU 1.
    const full = Uint8Array.from([1, 1, 1]);
    expect(segmentationMetrics(full, full)).toMatchObject({ iou: 1, backgroundIou: 1, miou: 1 });
    // Disjoint masks covering everything: both IoUs 0.
    expect(miou([1, 0], [0, 1])).toBe(0);
  });

  it('rejects bad input', () => {
    expect(() => iou([1, 0], [1])).toThrow(/pred and truth differ in length \(2 vs 1\)/);
    expect(() => dice([], [])).toThrow(/no voxels/);
    expect(() => miou([1, Number.NaN], [1, 0])).toThrow(/pred\[1\] is NaN/);
    expect(() => iou([1, 0], [Number.NaN, 0])).toThrow(/truth\[0\] is NaN/);
  });
});

describe('segmentationMetricsFromOverlap', () => {
  it('matches segmentationMetrics', () => {
    expect(segmentationMetricsFromOverlap(binaryOverlap(P, T))).toEqual(segmentationMetrics(P, T));
  });

  it('rejects inconsistent counts', () => {
    expect(() => segmentationMetricsFromOverlap({ voxels: 5, intersection: 4, predCount: 3, truthCount: 4 })).toThrow(
      /inconsistent counts/,
    );
    expect(() => segmentationMetricsFromOverlap({ voxels: 3, intersection: 0, predCount: 2, truthCount: 2 })).toThrow(
      /inconsistent/,
    );
    expect(() => segmentationMetricsFromOverlap({ voxels: 3, intersection: -1, predCount: 0, truthCount: 0 })).toThrow(
      /intersection = -1/,
    );
    expect(() => segmentationMetricsFromOverlap({ voxels: 0, intersection: 0, predCount: 0, truthCount: 0 })).toThrow(
      /no voxels/,
    );
  });
});

describe('SegmentationMetricAccumulator', () => {
  // A 4 x 3 x 3 "volume", fed slice by slice.
  const pred = Uint8Array.from([
    1, 1, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1,
  ]);
  const truth = Uint8Array.from([
    1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1,
  ]);

  it('sums slices into the whole-volume scores', () => {
    const acc = new SegmentationMetricAccumulator();
    for (let z = 0; z < 4; z++) acc.update(pred.subarray(z * 9, z * 9 + 9), truth.subarray(z * 9, z * 9 + 9));
    expect(acc.count).toBe(4);
    expect(acc.aggregate()).toEqual(segmentationMetrics(pred, truth));
  });

  it('pools counts: slices with IoU 1/2 (I 1, U 2) and 1 (I 4, U 4) give 5/6, not the mean 3/4', () => {
    const acc = new SegmentationMetricAccumulator();
    acc.update([1, 1], [1, 0]).update([1, 1, 1, 1], [1, 1, 1, 1]);
    expect(acc.aggregate().iou).toBeCloseTo(5 / 6, 15);
    expect(acc.aggregate().dice).toBeCloseTo(10 / 11, 15);
  });

  it('rejects an empty aggregate, keeps counts on a bad update, and resets', () => {
    const acc = new SegmentationMetricAccumulator();
    expect(() => acc.aggregate()).toThrow(/no voxels added yet/);
    acc.update(P, T);
    expect(() => acc.update([1, Number.NaN], [0, 0])).toThrow(/NaN/);
    expect(() => acc.update([1], [0, 0])).toThrow(/differ in length/);
    expect(acc.count).toBe(1);
    expect(acc.aggregate()).toEqual(segmentationMetrics(P, T));
    expect(acc.overlap()).toEqual(binaryOverlap(P, T));
    acc.reset();
    expect(acc.count).toBe(0);
    expect(() => acc.aggregate()).toThrow(/no voxels/);
    acc.update([0, 0], [0, 0]);
    expect(acc.aggregate().iou).toBe(1);
  });
});
