import { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerCovsevKernels, unregisterCovsevKernels } from '../kernels/register.js';
import { Conv1kk, hwioToOihw } from './conv1kk.js';
import { initValues } from './init.js';
import { tensorOf, volume } from './volume.js';

beforeAll(async () => {
  await tf.setBackend('wasm');
});

describe('Conv1kk', () => {
  it('initialises like PyTorch: weight and bias in U(-1/sqrt(fan_in), 1/sqrt(fan_in)), reproducibly from the seed', () => {
    const make = () => new Conv1kk({ inChannels: 8, outChannels: 16, kernel: 3, groups: 2, rng: Rng.fromSeed(5) });
    const a = make();
    const w = a.weight.dataSync();
    const bound = Math.fround(1 / Math.sqrt((8 / 2) * 9));
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.9 * bound);
    expect(Math.max(...(a.bias?.dataSync() ?? []).map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(make().weight.dataSync()).toEqual(w);
    const normal = initValues({ kind: 'kaimingNormal', mode: 'fanOut' }, 20000, { fanIn: 1, fanOut: 50 }, Rng.fromSeed(1));
    const std = Math.sqrt(normal.reduce((s, v) => s + v * v, 0) / normal.length);
    expect(std).toBeCloseTo(Math.sqrt(2 / 50), 2);
  });

  it('split and block-diagonal groups agree, the fused relu equals relu(conv), and the torch layout round-trips', () => {
    const rng = Rng.fromSeed(9);
    const x = volume(tf.randomNormal([2 * 3, 7, 7, 6], 0, 1, 'float32', 4) as tf.Tensor4D, 2, 3);
    const split = new Conv1kk({ inChannels: 6, outChannels: 9, kernel: 3, padding: 1, stride: 2, groups: 3, rng });
    const dense = new Conv1kk({
      inChannels: 6,
      outChannels: 9,
      kernel: 3,
      padding: 1,
      stride: 2,
      groups: 3,
      groupMode: 'blockDiagonal',
      rng,
    });
    dense.weight.assign(split.weight);
    dense.bias?.assign(split.bias as tf.Variable<tf.Rank.R1>);
    const ys = tensorOf(split.apply(x, { training: false }));
    expect(ys.shape).toEqual([6, 4, 4, 9]);
    const yd = tensorOf(dense.apply(x, { training: false }));
    expect(tf.max(tf.abs(tf.sub(ys, yd))).dataSync()[0]).toBeLessThan(1e-5);

    const relu = new Conv1kk({
      inChannels: 6,
      outChannels: 9,
      kernel: 3,
      padding: 1,
      stride: 2,
      groups: 3,
      activation: 'relu',
      rng,
    });
    relu.weight.assign(split.weight);
    relu.bias?.assign(split.bias as tf.Variable<tf.Rank.R1>);
    const yr = tensorOf(relu.apply(x, { training: false }));
    expect(tf.max(tf.abs(tf.sub(yr, tf.relu(ys)))).dataSync()[0]).toBeLessThan(1e-6);

    const torch = split.torchWeight();
    expect(torch).toHaveLength(9 * 2 * 3 * 3);
    dense.setTorchWeight(torch);
    expect(dense.weight.dataSync()).toEqual(split.weight.dataSync());
    expect(hwioToOihw([1, 2, 3, 4], [1, 1, 2, 2])).toEqual(Float32Array.from([1, 3, 2, 4]));
  });

  it('without bias or activation, trains its weight without the input gradient the image does not need', async () => {
    registerCovsevKernels(); // the stock wasm backend has no Conv2DBackpropFilter
    try {
      const rng = Rng.fromSeed(3);
      const x = tf.randomNormal([2, 9, 9, 2], 0, 1, 'float32', 7) as tf.Tensor4D;
      const kernelsOfStep = async (conv: Conv1kk) => {
        const profile = await tf.profile(() => {
          const { grads } = tf.variableGrads(() => tf.sum(tf.square(tensorOf(conv.apply(x, { training: true })))));
          tf.dispose(grads);
        });
        return profile.kernels.map((k) => k.name);
      };
      const plain = await kernelsOfStep(new Conv1kk({ inChannels: 2, outChannels: 4, kernel: 3, padding: 1, bias: false, rng }));
      expect(plain).toContain('Conv2DBackpropFilter');
      expect(plain).not.toContain('Conv2DBackpropInput');
      // With a bias the fused op runs, and its gradient computes dx with dW.
      const fused = await kernelsOfStep(new Conv1kk({ inChannels: 2, outChannels: 4, kernel: 3, padding: 1, rng }));
      expect(fused).toContain('Conv2DBackpropFilter');
      expect(fused).toContain('Conv2DBackpropInput');
      x.dispose();
    } finally {
      unregisterCovsevKernels();
    }
  });

  it('rejects bad settings and inputs with clear messages', () => {
    const rng = Rng.fromSeed(1);
    expect(() => new Conv1kk({ inChannels: 6, outChannels: 4, kernel: 3, groups: 4, rng })).toThrow(/divide by groups/);
    const conv = new Conv1kk({ inChannels: 2, outChannels: 4, kernel: 5, rng });
    expect(() => conv.apply(tf.zeros([1, 8, 8, 3]), { training: false })).toThrow(/3 channels/);
    expect(() => conv.apply(tf.zeros([1, 3, 3, 2]), { training: false })).toThrow(/too small/);
    expect(() => conv.apply(tf.zeros([4, 2]), { training: false })).toThrow(/Volume5 or a \[N, H, W, C\]/);
  });
});
