import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchNorm } from './batchNorm.js';
import { tensorOf, volume } from './volume.js';

beforeAll(async () => {
  await tf.setBackend('wasm');
});

describe('BatchNorm', () => {
  it('normalises a [B, F] matrix per feature in training and tracks the unbiased variance', () => {
    const bn = new BatchNorm({ channels: 2, momentum: 0.5, affine: false });
    const x = tf.tensor2d([1, 10, 3, 20, 5, 30], [3, 2]);
    const y = tensorOf(bn.apply(x, { training: true }));
    const { mean, variance } = tf.moments(y, 0);
    expect(Array.from(mean.dataSync()).map((v) => Math.abs(v) < 1e-6)).toEqual([true, true]);
    expect(variance.dataSync()[0]).toBeCloseTo(1, 3);
    expect(Array.from(bn.runningMean.dataSync())).toEqual([1.5, 10]);
    expect(bn.runningVar.dataSync()[0]).toBeCloseTo(0.5 + 0.5 * 4, 5); // unbiased var of 1, 3, 5 is 4
    expect(bn.parameters()).toEqual([]);
  });

  it('normalises with batch statistics but leaves the running ones alone when told not to update them', () => {
    const bn = new BatchNorm({ channels: 2, momentum: 0.5, affine: false });
    const x = tf.tensor2d([1, 10, 3, 20, 5, 30], [3, 2]);
    const updated = Array.from(tensorOf(bn.apply(x, { training: true })).dataSync());
    const meanAfterOne = Array.from(bn.runningMean.dataSync());
    const repeated = Array.from(tensorOf(bn.apply(x, { training: true, updateStatistics: false })).dataSync());
    expect(repeated).toEqual(updated);
    expect(Array.from(bn.runningMean.dataSync())).toEqual(meanAfterOne);
    expect(bn.numBatchesTracked.dataSync()[0]).toBe(1);
  });

  it('uses the running statistics in eval mode and refuses one value per channel in training', () => {
    const bn = new BatchNorm({ channels: 1 });
    bn.runningMean.assign(tf.tensor1d([2]));
    bn.runningVar.assign(tf.tensor1d([4 - 1e-5]));
    const x = volume(tf.fill([2, 1, 1, 1], 6) as tf.Tensor4D, 1, 2);
    expect(Array.from(tensorOf(bn.apply(x, { training: false })).dataSync())).toEqual([2, 2]);
    expect(() => bn.apply(tf.ones([1, 1]), { training: true })).toThrow(/more than 1 value per channel/);
    expect(() => bn.apply(tf.ones([2, 3]), { training: true })).toThrow(/channels last/);
  });
});
