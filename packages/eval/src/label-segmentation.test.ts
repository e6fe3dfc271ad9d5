import { describe, expect, it } from 'vitest';
import { LabelSegmentationAccumulator, labelSegmentationMetrics, perLabelDice, perLabelIou } from './label-segmentation.js';
import { miou, segmentationMetrics } from './segmentation.js';

// 0 = background, 1 = lung, 2 = infection.
const pred = [0, 0, 1, 1, 2, 2, 1, 0];
const truth = [0, 1, 1, 1, 2, 1, 2, 0];
// label 0: I 2, P 3, T 2 -> IoU 2/3, Dice 4/5
// label 1: I 2, P 3, T 4 -> IoU 2/5, Dice 4/7
// label 2: I 1, P 2, T 2 -> IoU 1/3, Dice 1/2

describe('label segmentation (hand-computed)', () => {
  it('per-label IoU and Dice, and their means', () => {
    const iou = perLabelIou(pred, truth, 3);
    expect(iou[0]).toBeCloseTo(2 / 3, 15);
    expect(iou[1]).toBeCloseTo(2 / 5, 15);
    expect(iou[2]).toBeCloseTo(1 / 3, 15);
    const dice = perLabelDice(pred, truth, 3);
    expect(dice[0]).toBeCloseTo(4 / 5, 15);
    expect(dice[1]).toBeCloseTo(4 / 7, 15);
    expect(dice[2]).toBeCloseTo(1 / 2, 15);
    const m = labelSegmentationMetrics(Uint8Array.from(pred), Uint8Array.from(truth), {
      numLabels: 3,
      labelNames: ['background', 'lung', 'infection'],
    });
    expect(m.voxels).toBe(8);
    expect(m.perLabel.map((s) => s.name)).toEqual(['background', 'lung', 'infection']);
    expect(m.perLabel[1]).toMatchObject({ label: 1, intersection: 2, predCount: 3, truthCount: 4, union: 5 });
    expect(m.meanIou).toBeCloseTo((2 / 3 + 2 / 5 + 1 / 3) / 3, 15);
    expect(m.meanDice).toBeCloseTo((4 / 5 + 4 / 7 + 1 / 2) / 3, 15);
  });

  it('agrees with the binary metrics: label 1 of {0, 1} masks, and meanIou = miou', () => {
    const p = [1, 1, 0, 0, 1, 0];
    const t = [1, 0, 0, 1, 1, 1];
    const m = labelSegmentationMetrics(p, t, { numLabels: 2 });
    const b = segmentationMetrics(p, t);
    expect(m.perLabel[1]?.iou).toBe(b.iou);
    expect(m.perLabel[1]?.dice).toBe(b.dice);
    expect(m.perLabel[0]?.iou).toBe(b.backgroundIou);
    expect(m.meanIou).toBe(miou(p, t));
  });

  it('scores a label absent from both masks as 1 and keeps it in the means (documented)', () => {
    const m = labelSegmentationMetrics([0, 1, 0], [0, 1, 1], { numLabels: 3 });
    expect(m.perLabel[2]).toMatchObject({ iou: 1, dice: 1, union: 0 });
    expect(m.meanIou).toBeCloseTo((1 / 2 + 1 / 2 + 1) / 3, 15);
  });

  it('rejects bad input', () => {
    expect(() => perLabelIou([0, 3], [0, 1], 3)).toThrow(/perLabelIou: pred\[1\] = 3 is not a label in 0\.\.2 \(numLabels = 3\)/);
    expect(() => perLabelDice([0, 1], [0, 0.5], 3)).toThrow(/truth\[1\] = 0.5/);
    expect(() => perLabelDice([0, 1], [0, Number.NaN], 3)).toThrow(/truth\[1\] = NaN/);
    expect(() => perLabelIou([0, 1], [0], 3)).toThrow(/differ in length/);
    expect(() => perLabelIou([], [], 3)).toThrow(/no voxels/);
    expect(() => perLabelIou([0], [0], 0)).toThrow(/numLabels must be an integer >= 1/);
    expect(() => labelSegmentationMetrics([0], [0], { numLabels: 2, labelNames: ['a'] })).toThrow(
      /got 1 labelNames for 2 labels/,
    );
  });
});

describe('LabelSegmentationAccumulator', () => {
  it('sums slices into the whole-volume scores', () => {
    const acc = new LabelSegmentationAccumulator({ numLabels: 3, labelNames: ['bg', 'lung', 'inf'] });
    acc
      .update(pred.slice(0, 3), truth.slice(0, 3))
      .update(pred.slice(3, 3), truth.slice(3, 3))
      .update(pred.slice(3), truth.slice(3));
    expect(acc.count).toBe(3);
    expect(acc.aggregate()).toEqual(labelSegmentationMetrics(pred, truth, { numLabels: 3, labelNames: ['bg', 'lung', 'inf'] }));
  });

  it('keeps counts on a bad update, rejects an empty aggregate, and resets', () => {
    const acc = new LabelSegmentationAccumulator({ numLabels: 3 });
    expect(() => acc.aggregate()).toThrow(/no voxels/);
    acc.update(pred, truth);
    expect(() => acc.update([0, 1, 9], [0, 1, 2])).toThrow(/LabelSegmentationAccumulator.update: pred\[2\] = 9/);
    expect(acc.aggregate()).toEqual(labelSegmentationMetrics(pred, truth, { numLabels: 3 }));
    acc.reset();
    expect(acc.count).toBe(0);
    acc.update([2], [1]);
    expect(acc.aggregate()).toEqual(labelSegmentationMetrics([2], [1], { numLabels: 3 }));
    expect(() => new LabelSegmentationAccumulator({ numLabels: -1 })).toThrow(/numLabels/);
  });
});
