import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { volume } from '../layers/volume.js';
import { assignMicroBatches, planMicroBatches, sliceVolumes } from './microBatch.js';

describe('planMicroBatches', () => {
  it('cuts passes into near-equal micro-batches', () => {
    expect(planMicroBatches([4, 2, 2], 3)).toEqual([
      { pass: 0, start: 0, count: 2 },
      { pass: 0, start: 2, count: 2 },
      { pass: 1, start: 0, count: 2 },
      { pass: 2, start: 0, count: 2 },
    ]);
    // Never a micro-batch of one volume: batch norm could not train on it.
    expect(planMicroBatches([5, 3, 3], 2).map((m) => m.count)).toEqual([3, 2, 3, 3]);
    expect(() => planMicroBatches([4, 2, 2], 1)).toThrow(/whole number >= 2/);
    expect(() => planMicroBatches([2, 1, 1], 2)).toThrow(/pass of 1 volume/);
  });
});

describe('assignMicroBatches', () => {
  it('shares micro-batches out as contiguous runs of the plan, balanced by volumes', () => {
    const plan = planMicroBatches([4, 2, 2], 2);
    expect(assignMicroBatches(plan, 2)).toEqual([
      [plan[0], plan[1]],
      [plan[2], plan[3]],
    ]);
    // Whole passes (no cut): the views' pass to one worker, the two mixed passes to the other.
    const passes = planMicroBatches([4, 2, 2], 4);
    expect(assignMicroBatches(passes, 2)).toEqual([[passes[0]], [passes[1], passes[2]]]);
    const uneven = planMicroBatches([6, 3, 3], 3);
    const loads = assignMicroBatches(uneven, 2).map((share) => share.reduce((s, mb) => s + mb.count, 0));
    expect(loads).toEqual([6, 6]);
    expect(assignMicroBatches(plan, 5).filter((share) => share.length === 0)).toHaveLength(1);
    expect(assignMicroBatches(plan, 5).flat()).toEqual(plan);
    expect(() => assignMicroBatches(plan, 0)).toThrow(/workers/);
  });
});

describe('sliceVolumes', () => {
  it('takes whole volumes (depth rows each) out of a batch', () => {
    // 3 volumes of depth 2, one 1x1 pixel of 1 channel per slice.
    const x = volume(tf.tensor4d([1, 2, 3, 4, 5, 6], [6, 1, 1, 1]), 3, 2);
    const middle = sliceVolumes(x, 1, 2);
    expect(middle.batch).toBe(2);
    expect(middle.depth).toBe(2);
    expect(Array.from(middle.tensor.dataSync())).toEqual([3, 4, 5, 6]);
    middle.tensor.dispose();
    x.tensor.dispose();
  });
});
