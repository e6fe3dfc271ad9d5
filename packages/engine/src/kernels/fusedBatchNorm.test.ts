/**
 * Parity of covsev's wasm FusedBatchNorm (y = x * a + b) with the cpu backend's
 * ((x - mean) * scale / sqrt(var + eps) + offset), and of the batch-norm gradient (which runs
 * covsev's Tile) on wasm against cpu.
 *
 * Tolerance: the folded form rounds x * a and b = offset - mean * a separately, so its error is a
 * few float32 ulps of |x * a| + |mean * a| + |offset|, not of the (possibly much smaller) result:
 * |wasm - cpu| <= 1e-6 * (|x a| + |mean a| + |offset|), with means up to 10 standard deviations.
 */
import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { describeParity, expectNoLeaks, itEachCase, rng } from './parity.test-helpers.js';

interface Case {
  x: number[];
  offset: boolean;
  scale: boolean;
  shift: number;
}

const cases: Case[] = [
  { x: [2, 6, 5, 8], offset: true, scale: true, shift: 0 },
  { x: [3, 4, 7, 1], offset: false, scale: true, shift: 3 },
  { x: [40, 24], offset: true, scale: false, shift: 10 }, // batch norm over [M, C]
  { x: [2, 3, 5, 4, 6], offset: false, scale: false, shift: 1 },
];

describeParity('covsev FusedBatchNorm (wasm) against cpu', ['FusedBatchNorm'], () => {
  itEachCase(cases, (c, i) => {
    const r = rng(6000 + i);
    const channels = c.x[c.x.length - 1] as number;
    const x = Float32Array.from({ length: c.x.reduce((a, b) => a * b) }, () => r() + c.shift);
    const mean = Float32Array.from({ length: channels }, () => c.shift + 0.1 * r());
    const variance = Float32Array.from({ length: channels }, () => 0.05 + Math.abs(r()));
    const offset = Float32Array.from({ length: channels }, r);
    const scale = Float32Array.from({ length: channels }, () => 2 * r());
    const run = (backend: string) => {
      tf.setBackend(backend);
      return tf.tidy(() => {
        const y = tf.batchNorm(
          tf.tensor(x, c.x),
          tf.tensor1d(mean),
          tf.tensor1d(variance),
          c.offset ? tf.tensor1d(offset) : undefined,
          c.scale ? tf.tensor1d(scale) : undefined,
          1e-3,
        );
        return y.dataSync() as Float32Array;
      });
    };
    const ref = run('cpu');
    const got = run('wasm');
    for (let j = 0; j < ref.length; j++) {
      const ch = j % channels;
      const a = Math.abs((c.scale ? (scale[ch] as number) : 1) / Math.sqrt((variance[ch] as number) + 1e-3));
      const size =
        a * (Math.abs(x[j] as number) + Math.abs(mean[ch] as number)) + (c.offset ? Math.abs(offset[ch] as number) : 0);
      expect(Math.abs((got[j] as number) - (ref[j] as number)), `y[${j}]`).toBeLessThanOrEqual(1e-6 * size);
    }
  });

  it('the batch-norm gradient (moments, FusedBatchNorm, Tile) matches cpu', () => {
    const r = rng(6100);
    const shape = [3, 5, 4, 6];
    const x = Float32Array.from({ length: 360 }, r);
    const dy = Float32Array.from({ length: 360 }, r);
    const gamma = Float32Array.from({ length: 6 }, () => 1 + r());
    const run = (backend: string) => {
      tf.setBackend(backend);
      return tf.tidy(() => {
        // (An undefined offset breaks tfjs' tape, on every backend: pass zeros.)
        const f = (xx: tf.Tensor, g: tf.Tensor) => {
          const { mean, variance } = tf.moments(xx, [0, 1, 2]);
          return tf.sum(tf.mul(tf.batchNorm(xx, mean, variance, tf.zeros([6]), g as tf.Tensor1D, 1e-3), tf.tensor(dy, shape)));
        };
        const [gx, gg] = tf.grads(f)([tf.tensor(x, shape), tf.tensor1d(gamma)]) as [tf.Tensor, tf.Tensor];
        return [gx.dataSync() as Float32Array, gg.dataSync() as Float32Array] as const;
      });
    };
    const [refX, refG] = run('cpu');
    const [gotX, gotG] = run('wasm');
    const scaleX = Math.max(...Array.from(refX, Math.abs));
    const scaleG = Math.max(...Array.from(refG, Math.abs));
    for (let j = 0; j < refX.length; j++)
      expect(Math.abs((gotX[j] as number) - (refX[j] as number))).toBeLessThanOrEqual(1e-5 * scaleX);
    for (let j = 0; j < refG.length; j++)
      expect(Math.abs((gotG[j] as number) - (refG[j] as number))).toBeLessThanOrEqual(1e-5 * scaleG);
  });

  it('leaks nothing', () => {
    tf.setBackend('wasm');
    const x = tf.randomNormal([2, 4, 4, 8]);
    const m = tf.zeros([8]);
    const v = tf.ones([8]);
    expectNoLeaks(() => tf.batchNorm(x, m, v, m, v, 1e-3).dispose());
    tf.dispose([x, m, v]);
  });
});
