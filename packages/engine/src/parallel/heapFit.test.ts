import { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { WasmHeapError } from '../backend/heap.js';
import { initBackend } from '../backend/select.js';
import { BatchNorm } from '../layers/batchNorm.js';
import { Conv1kk } from '../layers/conv1kk.js';
import { GlobalAvgPool3d } from '../layers/globalAvgPool3d.js';
import { ReLU } from '../layers/relu.js';
import { type Volume5, volume } from '../layers/volume.js';
import { Sequential } from '../module.js';
import { fitMicroBatch, type MicroBatchModel, trainingBytesPerVolume } from './heapFit.js';

beforeAll(async () => {
  await initBackend({ prefer: 'wasm', log: false });
});

/** A small convolutional backbone behind the `MicroBatchModel` interface. */
function tinyModel(): MicroBatchModel {
  const rng = Rng.fromSeed(7);
  const net = new Sequential([
    new Conv1kk({ inChannels: 2, outChannels: 8, kernel: 3, padding: 1, bias: false, rng }),
    new BatchNorm({ channels: 8 }),
    new ReLU(),
    new GlobalAvgPool3d(),
  ]);
  return {
    name: 'tiny',
    features: (x, ctx) => net.apply(x, ctx) as tf.Tensor,
    featureVariables: () => net.parameters().map((p) => p.variable),
  };
}

const randomVolume = (batch: number, depth: number, side: number): Volume5 =>
  volume(tf.randomNormal([batch * depth, side, side, 2], 0, 1, 'float32', 3) as tf.Tensor4D, batch, depth);

describe('fitMicroBatch', () => {
  it("sizes micro-batches to the wasm heap from a volume's peak bytes in a training pass", () => {
    const model = tinyModel();
    const view = randomVolume(2, 8, 32);
    // What the forward pass keeps for the backward pass, per volume.
    const before = tf.memory().numBytes;
    let kept = 0;
    const { value, grads } = tf.variableGrads(() => {
      const f = model.features(view, { training: true, updateStatistics: false });
      kept = (tf.memory().numBytes - before) / 2;
      return tf.sum(f) as tf.Scalar;
    }, [...model.featureVariables()]);
    tf.dispose([value, ...Object.values(grads)]);
    const perVolume = trainingBytesPerVolume(model, view);
    // The peak holds the kept activations and, beside them, the backward pass's gradients.
    expect(kept).toBeGreaterThanOrEqual(8 * 32 * 32 * 8 * 4);
    expect(perVolume).toBeGreaterThan(kept);
    // Measured once per model and shape.
    expect(trainingBytesPerVolume(model, view)).toBe(perVolume);
    const fit = fitMicroBatch(model, view);
    expect(fit).toBe(Math.floor((0.8 * (4 * 1024 ** 3 - tf.memory().numBytes)) / perVolume));
    view.tensor.dispose();
  });

  it('measures a large grid on a crop, scales by the voxels, and refuses with what would fit', () => {
    const model = tinyModel();
    const small = randomVolume(2, 16, 64);
    const perVolume = trainingBytesPerVolume(model, small);
    // 64x the voxels of the probe crop (16x64x64).
    const huge = volume(tf.zeros([2 * 64, 512, 512, 2]) as tf.Tensor4D, 2, 64);
    const tensors = tf.memory().numTensors;
    const scaled = trainingBytesPerVolume(model, huge);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(scaled / perVolume).toBeCloseTo(256, 0);
    expect(() => fitMicroBatch(model, huge)).toThrow(WasmHeapError);
    expect(() => fitMicroBatch(model, huge)).toThrow(
      /two volumes .* of 2x64x512x512 needs about .* to train tiny, .* What would fit: a grid of about 64x\d+x\d+/,
    );
    huge.tensor.dispose();
    small.tensor.dispose();
  });
});
