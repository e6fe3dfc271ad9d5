import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { Sequential } from '../module.js';
import { BatchNorm, batchNormLayers, recalibrateBatchNorm } from './batchNorm.js';
import { tensorOf, volume } from './volume.js';

beforeAll(async () => {
  await tf.setBackend('wasm');
});

describe('BatchNorm', () => {
  it('recalibrates: the running statistics become the plain mean over the batches that follow (precise BN), then the momentum applies again', () => {
    const bn = new BatchNorm({ channels: 2, momentum: 0.1, affine: false });
    const first = new BatchNorm({ channels: 1, affine: false });
    const model = new Sequential([first, bn]);
    expect(batchNormLayers(model)).toEqual([first, bn]);
    // Earlier statistics, and a tracked count, that the recalibration must not blend in.
    bn.runningMean.assign(tf.tensor1d([100, -100]));
    bn.runningVar.assign(tf.tensor1d([50, 50]));
    bn.numBatchesTracked.assign(tf.scalar(7));
    // Batch means (2, 20), (6, 40), (1, 0); unbiased variances (8, 200), (8, 800), (2, 200).
    const batches = [
      [0, 10, 4, 30],
      [4, 20, 8, 60],
      [0, -10, 2, 10],
    ].map((v) => tf.tensor2d(v, [2, 2]));
    const layers = recalibrateBatchNorm(bn, batches.length, (i) => {
      tensorOf(bn.apply(batches[i] as tf.Tensor2D, { training: true })).dispose();
    });
    expect(layers).toBe(1);
    const mean = Array.from(bn.runningMean.dataSync());
    const variance = Array.from(bn.runningVar.dataSync());
    expect(mean[0]).toBeCloseTo(3, 5);
    expect(mean[1]).toBeCloseTo(20, 4);
    expect(variance[0]).toBeCloseTo(6, 5);
    expect(variance[1]).toBeCloseTo(400, 3);
    expect(bn.numBatchesTracked.dataSync()[0]).toBe(7);
    // After it, a batch enters with the momentum again: 0.9 * 3 + 0.1 * 2 on the first channel.
    tensorOf(bn.apply(batches[0] as tf.Tensor2D, { training: true })).dispose();
    expect(bn.runningMean.dataSync()[0]).toBeCloseTo(2.9, 5);
    expect(bn.numBatchesTracked.dataSync()[0]).toBe(8);
    // A model without batch norm, or no batches: nothing happens.
    expect(recalibrateBatchNorm(new Sequential([]), 3, () => {})).toBe(0);
    expect(recalibrateBatchNorm(bn, 0, () => {})).toBe(1);
    expect(bn.runningMean.dataSync()[0]).toBeCloseTo(2.9, 5);
  });

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
