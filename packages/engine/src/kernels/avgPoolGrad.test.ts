/**
 * Parity of covsev's wasm AvgPoolGrad with the cpu backend's: pools 1-3 (and the CMC network's
 * depth pool, 3 x 1 over [B, D, H*W, C]), strides 1-3, 'same', 'valid' and numeric padding,
 * overlapping windows. Each dx element sums at most ceil(f/s)^2 terms of |dy| / (kh * kw) < 0.5,
 * so the tolerance is 1e-6 absolute.
 */
import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import {
  describeParity,
  expectNoLeaks,
  forEachSimdSetting,
  itEachCase,
  POOL_CASES,
  type PoolCase,
  poolGradient,
  poolOutShape,
  randomValues,
  rng,
} from './parity.test-helpers.js';

// The shared grid plus the CMC network's depth pool (3 x 1 over [B, D, H*W, C]).
const cases: PoolCase[] = [...POOL_CASES, { x: [2, 9, 24, 8], f: [3, 1], s: [2, 1], pad: 'valid' }];
const grad = (backend: string, c: PoolCase, x: Float32Array, dy: Float32Array) => poolGradient(backend, tf.avgPool, c, x, dy);

describeParity('covsev AvgPoolGrad (wasm) against cpu', ['AvgPoolGrad'], () => {
  forEachSimdSetting(() => {
    itEachCase(cases, (c, i) => {
      const r = rng(5000 + i);
      const x = randomValues(c.x, r);
      const dy = randomValues(poolOutShape(c), r);
      const ref = grad('cpu', c, x, dy);
      const got = grad('wasm', c, x, dy);
      expect(got.length).toBe(ref.length);
      expect(ref.some((v) => v !== 0)).toBe(true);
      for (let j = 0; j < ref.length; j++) {
        expect(Math.abs((got[j] as number) - (ref[j] as number)), `dx[${j}]`).toBeLessThanOrEqual(1e-6);
      }
    });
  });

  it('refuses a dy of the wrong shape, naming both shapes', () => {
    tf.setBackend('wasm');
    const x = tf.zeros([1, 4, 4, 2]);
    const dy = tf.zeros([1, 3, 3, 2]);
    expect(() =>
      tf.engine().runKernel('AvgPoolGrad', { dy, input: x }, { filterSize: [2, 2], strides: [2, 2], pad: 'valid' }),
    ).toThrow(/dy has shape \[1, 3, 3, 2\], the pool gives \[1, 2, 2, 2\]/);
    tf.dispose([x, dy]);
  });

  it('leaks nothing', () => {
    tf.setBackend('wasm');
    const x = tf.randomNormal([2, 8, 8, 4]);
    expectNoLeaks(() =>
      tf
        .grad((a: tf.Tensor) => tf.sum(tf.avgPool(a as tf.Tensor4D, 3, 2, 'same')))(x)
        .dispose(),
    );
    x.dispose();
  });
});
