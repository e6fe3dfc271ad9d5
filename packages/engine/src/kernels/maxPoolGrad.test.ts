/**
 * Parity of covsev's wasm MaxPoolGrad with the cpu backend's: pools 1-3, strides 1-3, 'same',
 * 'valid' and numeric padding, overlapping windows, ties (relu-like zeros), -Infinity windows.
 * Each dx element sums at most ceil(f/s)^2 dy values, so the tolerance is 1e-6 of |dy| sums.
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

const cases = POOL_CASES;
const grad = (backend: string, c: PoolCase, x: Float32Array, dy: Float32Array) => poolGradient(backend, tf.maxPool, c, x, dy);

describeParity('covsev MaxPoolGrad (wasm) against cpu', ['MaxPoolGrad'], () => {
  forEachSimdSetting(() => {
    itEachCase(cases, (c, i) => {
      const r = rng(4000 + i);
      // Every third value is 0, as after a relu: windows with tied maxima; one -Infinity pixel.
      const x = Float32Array.from({ length: c.x.reduce((a, b) => a * b) }, (_, j) => (j % 3 === 0 ? 0 : r()));
      x[1] = Number.NEGATIVE_INFINITY;
      const dy = randomValues(poolOutShape(c), r);
      const ref = grad('cpu', c, x, dy);
      const got = grad('wasm', c, x, dy);
      expect(got.length).toBe(ref.length);
      for (let j = 0; j < ref.length; j++) {
        expect(Math.abs((got[j] as number) - (ref[j] as number)), `dx[${j}]`).toBeLessThanOrEqual(1e-6);
      }
    });
  });

  it('finds a negative maximum in a window over the padding (the stock wasm kernel does not)', () => {
    tf.setBackend('wasm');
    const dx = tf.tidy(() => {
      const x = tf.tensor4d([-4, -3, -2, -1], [1, 2, 2, 1]);
      const y = tf.maxPool(x, 3, 2, 1);
      return tf
        .engine()
        .runKernel(
          'MaxPoolGrad',
          { dy: tf.onesLike(y), input: x, output: y },
          { filterSize: [3, 3], strides: [2, 2], pad: 1 },
        ) as tf.Tensor;
    });
    expect(Array.from(dx.dataSync())).toEqual([0, 0, 0, 1]);
    dx.dispose();
  });

  it('leaks nothing', () => {
    tf.setBackend('wasm');
    const x = tf.randomNormal([2, 8, 8, 4]);
    expectNoLeaks(() =>
      tf
        .grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid')))(x)
        .dispose(),
    );
    x.dispose();
  });
});
