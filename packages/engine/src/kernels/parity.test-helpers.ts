/**
 * Scaffolding shared by the kernel parity tests (covsev's wasm kernels against the cpu backend).
 * For tests only: it imports vitest, is excluded from the build (tsconfig.json) and is exported
 * from no index.ts.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disableOnnxConv, enableOnnxConv, onnxConvStatus } from './onnxConv.js';
import { registerCovsevKernels, registeredCovsevKernels } from './register.js';
import { simdKernelStatus, useSimdKernels } from './simd.js';

/** A seeded linear congruential generator of values in [-0.5, 0.5). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

/** A Float32Array of the shape's size, filled from r. */
export function randomValues(shape: readonly number[], r: () => number): Float32Array {
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, r);
}

/**
 * In the enclosing describe: register covsev's kernels and start wasm (so that they are bound to
 * it), leave cpu as the backend; go back to wasm afterwards.
 */
export function useWasmAgainstCpu(): void {
  beforeAll(async () => {
    registerCovsevKernels();
    await tf.setBackend('wasm');
    await tf.setBackend('cpu');
  });
  afterAll(() => {
    tf.setBackend('wasm');
  });
}

/** describe(title) with useWasmAgainstCpu() and a test that the named kernels are registered for wasm. */
export function describeParity(title: string, kernels: readonly string[], body: () => void): void {
  describe(title, () => {
    useWasmAgainstCpu();
    it(kernels.length === 1 ? 'is registered for wasm' : 'are registered for wasm', () => {
      expect(registeredCovsevKernels()).toEqual(expect.arrayContaining([...kernels]));
    });
    body();
  });
}

/** One test per case, named 'case i {json}'. */
export function itEachCase<C>(cases: readonly C[], test: (c: C, i: number) => void): void {
  it.each(cases.map((c, i) => [i, JSON.stringify(c), c] as const))('case %i %s', (i, _name, c) => test(c, i));
}

/**
 * The largest |got - ref| / divisor(size), size the sum of the absolute terms; by default an
 * element that no term reaches (size 0) counts its error as absolute.
 */
export function worstRelative(
  got: Float32Array,
  ref: Float32Array,
  size: Float32Array,
  divisor: (size: number) => number = (s) => (s === 0 ? 1 : s),
): number {
  let worst = 0;
  for (let j = 0; j < ref.length; j++) {
    const err = Math.abs((got[j] as number) - (ref[j] as number));
    worst = Math.max(worst, err / divisor(size[j] as number));
  }
  return worst;
}

/** Runs f on the current (wasm) backend and expects it to leave as many tensors and wasm buffers as it found. */
export function expectNoLeaks(f: () => void, message?: string): void {
  const backend = tf.backend() as BackendWasm;
  const tensors = tf.memory().numTensors;
  const buffers = backend.numDataIds();
  f();
  expect(tf.memory().numTensors, message).toBe(tensors);
  expect(backend.numDataIds(), message).toBe(buffers);
}

/**
 * Declares `body` twice: with the wasm backend's convolutions on XNNPACK (covsev's and the stock
 * kernels), and on onnxruntime (`enableOnnxConv`), which must load here.
 */
export function forEachConvEngine(body: () => void): void {
  describe('convolutions on XNNPACK', () => {
    beforeAll(() => disableOnnxConv());
    body();
  });
  describe('convolutions on onnxruntime', () => {
    beforeAll(() => {
      expect(enableOnnxConv()).toMatchObject({ enabled: true });
    });
    afterAll(() => disableOnnxConv());
    body();
    it('ran them on onnxruntime sessions', () => {
      expect(onnxConvStatus().sessions).toBeGreaterThan(0);
    });
  });
}

/**
 * Declares `body` twice: with covsev's SIMD kernels (`simd.ts`, which must load here) and with
 * them off, where the kernels that use them run their JavaScript loops or tfjs' kernels.
 */
export function forEachSimdSetting(body: () => void): void {
  describe('SIMD kernels on', () => {
    it('are loaded on the wasm backend', async () => {
      await tf.setBackend('wasm');
      expect(simdKernelStatus(tf.backend() as BackendWasm)).toEqual({ loaded: true });
      await tf.setBackend('cpu');
    });
    body();
  });
  describe('SIMD kernels off', () => {
    let was = true;
    beforeAll(() => {
      was = useSimdKernels(false);
    });
    afterAll(() => {
      useSimdKernels(was);
    });
    body();
  });
}

/** A pooling case of the pooling-gradient parity tests: input, window, strides, padding. */
export interface PoolCase {
  x: [number, number, number, number];
  f: [number, number];
  s: [number, number];
  pad: 'same' | 'valid' | number;
}

/** Pools 1-3, strides 1-3, 'same', 'valid' and numeric padding, overlapping windows. */
export const POOL_CASES: readonly PoolCase[] = [
  { x: [2, 8, 8, 3], f: [2, 2], s: [2, 2], pad: 'valid' },
  { x: [1, 9, 7, 5], f: [2, 2], s: [2, 2], pad: 'same' },
  { x: [3, 11, 10, 2], f: [3, 3], s: [2, 2], pad: 'same' },
  { x: [2, 10, 13, 4], f: [3, 3], s: [1, 1], pad: 'same' },
  { x: [1, 12, 9, 1], f: [3, 2], s: [3, 1], pad: 'valid' },
  { x: [2, 7, 7, 6], f: [3, 3], s: [2, 2], pad: 1 },
  { x: [1, 6, 5, 16], f: [1, 1], s: [2, 2], pad: 'valid' },
];

/** The pool's output shape (numeric paddings round down, as the layers ask). */
export function poolOutShape(c: PoolCase): number[] {
  return tf.backend_util.computePool2DInfo(c.x, c.f, c.s, 1, c.pad, typeof c.pad === 'number' ? 'floor' : undefined).outShape;
}

/** The gradient of sum(pool(x) * dy) with respect to x on `backend`, for tf.maxPool or tf.avgPool. */
export function poolGradient(
  backend: string,
  pool: typeof tf.maxPool,
  c: PoolCase,
  x: Float32Array,
  dy: Float32Array,
): Float32Array {
  tf.setBackend(backend);
  return tf.tidy(() => {
    const xt = tf.tensor4d(x, c.x);
    const f = (a: tf.Tensor) =>
      tf.sum(
        tf.mul(
          pool(a as tf.Tensor4D, c.f, c.s, c.pad, typeof c.pad === 'number' ? 'floor' : undefined),
          tf.tensor(dy, poolOutShape(c)),
        ),
      );
    return tf.grad(f)(xt).dataSync() as Float32Array;
  });
}
