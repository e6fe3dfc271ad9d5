import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { expect, it } from 'vitest';
import { describeParity, expectNoLeaks, randomValues, rng } from './parity.test-helpers.js';

describeParity('covsev Identity (wasm): a clone shares the buffer', ['Identity'], () => {
  it('gives the same values for every dtype without a new wasm buffer, and either tensor outlives the other', () => {
    tf.setBackend('wasm');
    const backend = tf.backend() as BackendWasm;
    for (const dtype of ['float32', 'int32', 'bool'] as const) {
      const x = tf.tensor([1, 0, 3, 4, 0, 6], [2, 3], dtype);
      const buffers = backend.numDataIds();
      const y = tf.clone(x);
      expect(backend.numDataIds(), dtype).toBe(buffers); // shared, not copied
      expect(y.dtype).toBe(dtype);
      expect(y.shape).toEqual([2, 3]);
      expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync()));
      x.dispose();
      expect(Array.from(y.dataSync()), `${dtype}: the clone after the original is gone`).toEqual(
        dtype === 'bool' ? [1, 0, 1, 1, 0, 1] : [1, 0, 3, 4, 0, 6],
      );
      const z = tf.clone(y);
      y.dispose();
      expect(Array.from(z.dataSync())).toHaveLength(6);
      z.dispose();
      expect(backend.numDataIds(), `${dtype}: the buffer is freed with the last tensor`).toBe(buffers - 1);
    }
    const s = tf.tensor(['a', 'bc'], [2], 'string');
    expect(tf.clone(s).arraySync()).toEqual(['a', 'bc']);
  });

  it('a variable assigned after a clone keeps the clone as it was', () => {
    tf.setBackend('wasm');
    const v = tf.variable(tf.tensor1d([1, 2, 3]));
    const kept = tf.clone(v);
    v.assign(tf.tensor1d([7, 8, 9]));
    expect(Array.from(kept.dataSync())).toEqual([1, 2, 3]);
    expect(Array.from(v.dataSync())).toEqual([7, 8, 9]);
    kept.dispose();
    v.dispose();
  });

  it('gradients that keep their inputs (every saved tensor is cloned) equal cpu, and leak nothing', () => {
    const shape = [2, 5, 6, 3];
    const values = randomValues(shape, rng(4));
    const filter = randomValues([3, 3, 3, 4], rng(5));
    const run = (name: string): Float32Array[] => {
      tf.setBackend(name);
      return tf.tidy(() => {
        const x = tf.tensor4d(values, shape as [number, number, number, number]);
        const w = tf.tensor4d(filter, [3, 3, 3, 4]);
        const f = (a: tf.Tensor4D, b: tf.Tensor4D) =>
          tf.sum(tf.mul(tf.relu(tf.conv2d(tf.sigmoid(a), b, 1, 'same')), tf.exp(tf.mul(a, 0.1).mean(3, true))));
        const [ga, gb] = tf.grads(f as (...args: tf.Tensor[]) => tf.Tensor)([x, w]);
        return [ga as tf.Tensor, gb as tf.Tensor].map((g) => Float32Array.from(g.dataSync()));
      });
    };
    const wasm = run('wasm');
    const cpu = run('cpu');
    for (let k = 0; k < 2; k++) {
      const a = wasm[k] as Float32Array;
      const b = cpu[k] as Float32Array;
      let worst = 0;
      for (let i = 0; i < a.length; i++)
        worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)) / (1 + Math.abs(b[i] as number)));
      expect(worst).toBeLessThan(1e-5);
    }
    tf.setBackend('wasm');
    const x = tf.tensor4d(values, shape as [number, number, number, number]);
    expectNoLeaks(() => {
      const g = tf.grad((a: tf.Tensor) => tf.sum(tf.square(tf.sigmoid(a))))(x);
      g.dispose();
    });
    x.dispose();
  });
});
