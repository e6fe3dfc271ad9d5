import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { initBackend } from './select.js';
import { requestedWasmThreads, WASM_THREADS_ENV } from './wasmThreads.js';

function values(shape: number[], seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

const xShape: [number, number, number, number] = [4, 32, 32, 16];
const wShape: [number, number, number, number] = [3, 3, 16, 32];
const xv = values(xShape, 1);
const wv = values(wShape, 2);

/** conv2d forward, and its gradients (covsev's backprop kernels on wasm) for a sum-of-squares loss. */
async function convAndGrads(): Promise<Float32Array[]> {
  const x = tf.tensor4d(xv, xShape);
  const w = tf.tensor4d(wv, wShape);
  const y = tf.conv2d(x, w, 1, 'same');
  const [dx, dw] = tf.grads((...t: tf.Tensor[]) =>
    tf
      .conv2d(t[0] as tf.Tensor4D, t[1] as tf.Tensor4D, [2, 1], 'same')
      .square()
      .sum(),
  )([x, w]);
  const out = await Promise.all([y, dx, dw].map((t) => t?.data() as Promise<Float32Array>));
  tf.dispose([x, w, y, dx, dw]);
  return out;
}

describe(WASM_THREADS_ENV, () => {
  it('parses the thread count', () => {
    expect(requestedWasmThreads({})).toBe(1);
    expect(requestedWasmThreads({ [WASM_THREADS_ENV]: ' ' })).toBe(1);
    expect(requestedWasmThreads({ [WASM_THREADS_ENV]: '2' })).toBe(2);
    for (const bad of ['0', '9', '1.5', 'two']) {
      expect(() => requestedWasmThreads({ [WASM_THREADS_ENV]: bad })).toThrow(/COVSEV_WASM_THREADS='.*' is not a thread count/);
    }
  });

  it('=2 runs the threaded build on 2 threads, with the 1-thread conv2d results and gradients', async () => {
    const one = await initBackend({ prefer: 'wasm', env: {}, log: false });
    expect(one.threads).toBe(1);
    const ref = await convAndGrads();

    const lines: string[] = [];
    const two = await initBackend({ prefer: 'wasm', env: { [WASM_THREADS_ENV]: '2' }, log: (l) => lines.push(l) });
    expect(tf.getBackend()).toBe('wasm');
    expect(two.threads).toBe(2);
    expect(getThreadsCount()).toBe(2);
    expect(lines[0]).toMatch(/^covsev engine: wasm \(SIMD, 2 threads, /);
    const got = await convAndGrads();
    for (let i = 0; i < ref.length; i++) expect(got[i], ['conv2d', 'dx', 'dw'][i]).toEqual(ref[i]);

    // and back
    const again = await initBackend({ prefer: 'wasm', env: {}, log: false });
    expect(again.threads).toBe(1);
    expect(await convAndGrads()).toEqual(ref);
  });
});
