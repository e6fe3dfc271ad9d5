/**
 * Batch-norm training kernels for the wasm backend, each one or two fused SIMD passes over the
 * activation seen as [M, C] (channels last), on covsev's SIMD module (`simd.ts`):
 *
 * - `CovsevChannelMoments` {x} -> [mean, variance]: per-channel batch mean and biased variance in
 *   one pass (f64 sums of x - s and (x - s)^2 with s the first row). tfjs' `moments` takes four
 *   passes (mean, subtract, square, mean) in f32.
 * - `CovsevBatchNormGrad` {x, dy, mean, variance, scale?} (attr `varianceEpsilon`) ->
 *   [dx, dScale, dOffset]: the closed-form batch-norm gradient (as layers/batchNorm.ts writes it in tfjs ops;
 *   PyTorch's `batch_norm_backward` in training mode) in two passes. With S1 = sum(dy),
 *   S2 = sum(dy * (x - mean)) per channel, k = 1 / sqrt(variance + eps), g = scale:
 *   dOffset = S1, dScale = k S2, dx = dy (g k) + (x - mean) (-g k^3 S2 / M) - g k S1 / M.
 *   The composite form takes nine tfjs kernels, most of them broadcast element-wise passes.
 *
 * `BatchNorm` (layers/batchNorm.ts) uses them where {@link batchNormTrainingKernels} says they
 * run, and tfjs ops elsewhere (cpu, tfjs-node).
 */

import { type KernelConfig, type KernelFunc, type NamedAttrMap, type TensorInfo, util } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapOffset, requireSimdKernels, simdKernelsRun } from './simd.js';
import { withScratch } from './wasmScope.js';

export const CHANNEL_MOMENTS = 'CovsevChannelMoments';
export const BATCH_NORM_GRAD = 'CovsevBatchNormGrad';

function matrixOf(x: TensorInfo, kernel: string, input: string): { rows: number; ch: number } {
  if (x.dtype !== 'float32') throw new Error(`covsev ${kernel}: ${input} must be float32, got ${x.dtype}`);
  const ch = x.shape[x.shape.length - 1] ?? 0;
  const size = util.sizeFromShape(x.shape);
  if (x.shape.length < 1 || ch < 1 || size === 0) throw new Error(`covsev ${kernel}: ${input} has shape [${x.shape}]`);
  return { rows: size / ch, ch };
}

function expectChannels(t: TensorInfo | undefined, ch: number, kernel: string, input: string): void {
  if (t !== undefined && (t.dtype !== 'float32' || util.sizeFromShape(t.shape) !== ch || t.shape.length > 1)) {
    throw new Error(`covsev ${kernel}: ${input} must be float32 [${ch}], got ${t.dtype} [${t.shape}]`);
  }
}

function channelMoments(args: { inputs: { x?: TensorInfo }; backend: BackendWasm }): TensorInfo[] {
  const { x } = args.inputs;
  if (x === undefined) throw new Error(`covsev ${CHANNEL_MOMENTS}: input x is required`);
  const { rows, ch } = matrixOf(x, CHANNEL_MOMENTS, 'x');
  const simd = requireSimdKernels(args.backend, CHANNEL_MOMENTS);
  const mean = args.backend.makeOutput([ch], 'float32');
  const variance = args.backend.makeOutput([ch], 'float32');
  withScratch(args.backend, (scope) => {
    // f64 [2 ch] sums (the heap's allocations are 8-byte aligned).
    const scratch = scope.alloc([4 * ch]);
    const at = heapOffset(args.backend, scratch);
    const heap = args.backend.typedArrayFromHeap(scratch).buffer;
    const sums = new Float64Array(heap, at, 2 * ch);
    sums.fill(0);
    const xAt = heapOffset(args.backend, x);
    simd.columnMoments(xAt, xAt, rows, ch, at);
    const first = new Float32Array(heap, xAt, ch);
    const m = args.backend.typedArrayFromHeap(mean) as Float32Array;
    const v = args.backend.typedArrayFromHeap(variance) as Float32Array;
    for (let c = 0; c < ch; c++) {
      const s1 = sums[c] as number;
      m[c] = (first[c] as number) + s1 / rows;
      v[c] = Math.max(0, ((sums[ch + c] as number) - (s1 * s1) / rows) / rows);
    }
  });
  return [mean, variance];
}

interface GradInputs {
  x?: TensorInfo;
  dy?: TensorInfo;
  mean?: TensorInfo;
  variance?: TensorInfo;
  scale?: TensorInfo;
}

function batchNormGrad(args: { inputs: GradInputs; backend: BackendWasm; attrs: NamedAttrMap }): TensorInfo[] {
  const { x, dy, mean, variance, scale } = args.inputs;
  if (x === undefined || dy === undefined || mean === undefined || variance === undefined) {
    throw new Error(`covsev ${BATCH_NORM_GRAD}: inputs x, dy, mean and variance are required`);
  }
  const { rows, ch } = matrixOf(x, BATCH_NORM_GRAD, 'x');
  if (dy.dtype !== 'float32' || !util.arraysEqual(dy.shape, x.shape)) {
    throw new Error(`covsev ${BATCH_NORM_GRAD}: dy must be float32 [${x.shape}], got ${dy.dtype} [${dy.shape}]`);
  }
  expectChannels(mean, ch, BATCH_NORM_GRAD, 'mean');
  expectChannels(variance, ch, BATCH_NORM_GRAD, 'variance');
  expectChannels(scale, ch, BATCH_NORM_GRAD, 'scale');
  const eps = Number(args.attrs.varianceEpsilon ?? 0.001);
  const simd = requireSimdKernels(args.backend, BATCH_NORM_GRAD);
  const b = args.backend;
  const dx = b.makeOutput(x.shape, 'float32');
  const dScale = b.makeOutput([ch], 'float32');
  const dOffset = b.makeOutput([ch], 'float32');
  withScratch(b, (scope) => {
    // f64 [2 ch] sums (the heap's allocations are 8-byte aligned), then the f32 [3 ch] coefficients.
    const scratch = scope.alloc([7 * ch]);
    const at = heapOffset(b, scratch);
    const heap = b.typedArrayFromHeap(scratch).buffer;
    const sums = new Float64Array(heap, at, 2 * ch);
    sums.fill(0);
    const [xAt, dyAt, meanAt] = [x, dy, mean].map((t) => heapOffset(b, t)) as [number, number, number];
    simd.columnGradMoments(dyAt, xAt, meanAt, rows, ch, at);
    const coef = new Float32Array(heap, at + 16 * ch, 3 * ch);
    const v = b.typedArrayFromHeap(variance) as Float32Array;
    const g = scale === undefined ? undefined : (b.typedArrayFromHeap(scale) as Float32Array);
    const ds = b.typedArrayFromHeap(dScale) as Float32Array;
    const doff = b.typedArrayFromHeap(dOffset) as Float32Array;
    for (let c = 0; c < ch; c++) {
      const s1 = sums[c] as number;
      const s2 = sums[ch + c] as number;
      const k = 1 / Math.sqrt((v[c] as number) + eps);
      const gk = (g === undefined ? 1 : (g[c] as number)) * k;
      const k2 = (-gk * k * k * s2) / rows;
      coef[c] = gk;
      coef[ch + c] = k2;
      coef[2 * ch + c] = (-gk * s1) / rows;
      doff[c] = s1;
      ds[c] = k * s2;
    }
    simd.normalizeGradRows(dyAt, at + 16 * ch, xAt, meanAt, at + 20 * ch, at + 24 * ch, heapOffset(b, dx), rows, ch);
  });
  return [dx, dScale, dOffset];
}

export const channelMomentsConfig: KernelConfig = {
  kernelName: CHANNEL_MOMENTS,
  backendName: 'wasm',
  kernelFunc: channelMoments as unknown as KernelFunc,
};

export const batchNormGradConfig: KernelConfig = {
  kernelName: BATCH_NORM_GRAD,
  backendName: 'wasm',
  kernelFunc: batchNormGrad as unknown as KernelFunc,
};

/**
 * Whether batch-norm training can run on the fused kernels: the active backend is wasm, both
 * kernels are registered and covsev's SIMD kernels are bound to its heap.
 */
export function batchNormTrainingKernels(): boolean {
  return simdKernelsRun(CHANNEL_MOMENTS, BATCH_NORM_GRAD);
}
