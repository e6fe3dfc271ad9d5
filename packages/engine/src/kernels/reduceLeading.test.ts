/**
 * Parity of covsev's wasm Sum and Mean with the cpu backend's. The fast path (leading axes,
 * float32) averages n values in XNNPACK's order, then scales: tolerance 1e-5 of the sum of |x|
 * (n up to 2400 here, sqrt(n)*eps ~ 3e-6). Other reductions go to the stock kernels.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { describeParity, expectNoLeaks, itEachCase, randomValues, rng } from './parity.test-helpers.js';
import { leadingAxes, MAX_KEPT } from './reduceLeading.js';

const cases: { shape: number[]; axis: number | number[]; keepDims: boolean }[] = [
  { shape: [4, 10, 12, 5], axis: [0, 1, 2], keepDims: false }, // batch-norm statistics
  { shape: [4, 10, 12, 5], axis: [2, 0, 1], keepDims: true },
  { shape: [3, 7, 24], axis: 0, keepDims: false },
  { shape: [2400, 3], axis: [0], keepDims: true }, // batch norm over [M, C]
  { shape: [13, 17], axis: 0, keepDims: false }, // prime counts: a 1 x 13 window
  { shape: [3, MAX_KEPT + 1], axis: 0, keepDims: false }, // too wide: stock
  { shape: [4, 10, 12, 5], axis: [1, 2], keepDims: false }, // global pool: stock
  { shape: [6, 9], axis: 1, keepDims: false }, // last axis: stock
  { shape: [6, 9], axis: [0, 1], keepDims: false }, // everything: stock
];

describe('leadingAxes', () => {
  it('counts a leading run of reduced axes, else 0', () => {
    expect(leadingAxes([0, 1, 2], [2, 3, 4, 5])).toBe(3);
    expect(leadingAxes([1, 0], [2, 3, 4])).toBe(2);
    expect(leadingAxes(-3, [2, 3, 4])).toBe(1);
    expect(leadingAxes([1, 2], [2, 3, 4, 5])).toBe(0);
    expect(leadingAxes([0, 1, 2], [2, 3, 4])).toBe(0);
  });
});

describeParity('covsev Sum and Mean (wasm) against cpu', ['Sum', 'Mean'], () => {
  itEachCase(cases, (c, i) => {
    const r = rng(5000 + i);
    const x = randomValues(c.shape, r);
    for (const op of ['sum', 'mean'] as const) {
      const run = (backend: string, values: Float32Array) => {
        tf.setBackend(backend);
        return tf.tidy(() => {
          const t = tf.tensor(values, c.shape);
          const y = op === 'sum' ? tf.sum(t, c.axis, c.keepDims) : tf.mean(t, c.axis, c.keepDims);
          return { shape: y.shape, values: y.dataSync() as Float32Array };
        });
      };
      const ref = run('cpu', x);
      const size = run('cpu', x.map(Math.abs)).values;
      const got = run('wasm', x);
      expect(got.shape).toEqual(ref.shape);
      for (let j = 0; j < ref.values.length; j++) {
        const err = Math.abs((got.values[j] as number) - (ref.values[j] as number));
        expect(err, `${op}[${j}]`).toBeLessThanOrEqual(1e-5 * (size[j] as number));
      }
    }
  });

  it('sums int32 through the stock kernel', () => {
    tf.setBackend('wasm');
    const y = tf.sum(
      tf.tensor(
        [
          [1, 2],
          [3, 4],
        ],
        [2, 2],
        'int32',
      ),
      0,
    );
    expect(y.dtype).toBe('int32');
    expect(Array.from(y.dataSync())).toEqual([4, 6]);
    y.dispose();
  });

  it('leaks nothing', () => {
    tf.setBackend('wasm');
    const x = tf.randomNormal([4, 6, 6, 8]);
    expectNoLeaks(() => {
      tf.sum(x, [0, 1, 2]).dispose();
      tf.mean(x, [0, 1, 2], true).dispose();
    });
    x.dispose();
  });
});
