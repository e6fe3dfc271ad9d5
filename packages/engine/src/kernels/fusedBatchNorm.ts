/**
 * FusedBatchNorm for the wasm backend, per-channel statistics, with a = scale / sqrt(variance + eps)
 * computed once per channel: y = (x - mean) * a + offset in one SIMD pass (covsev's SIMD kernels,
 * `simd.ts`), or where those are off y = x * a + (offset - mean * a) in two tfjs broadcast passes
 * (multiply, add; PyTorch's CPU batch norm folds the same way, at a precision cost when the mean
 * is large against the spread). The stock kernel's scalar loop is 1.6-3x slower than even the two
 * passes on [8..32, 32..64, 32..64, 16..64]. Statistics that are not per channel (another
 * broadcast) go to the stock kernel.
 */
import {
  FusedBatchNorm,
  type FusedBatchNormAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapOffset, simdKernels } from './simd.js';
import { stockKernelFunc } from './stock.js';
import { withWasmScope } from './wasmScope.js';

interface Inputs {
  x?: TensorInfo;
  mean?: TensorInfo;
  variance?: TensorInfo;
  offset?: TensorInfo;
  scale?: TensorInfo;
}

function fusedBatchNorm(args: { inputs: Inputs; backend: BackendWasm; attrs: FusedBatchNormAttrs }): TensorInfo {
  const { x, mean, variance, offset, scale } = args.inputs;
  if (x === undefined || mean === undefined || variance === undefined) {
    throw new Error('covsev FusedBatchNorm: inputs x, mean and variance are required');
  }
  const channels = x.shape[x.shape.length - 1] ?? 0;
  const stats = [mean, variance, offset, scale].filter((t): t is TensorInfo => t !== undefined);
  const perChannel =
    x.dtype === 'float32' &&
    x.shape.length >= 1 &&
    stats.every((t) => t.dtype === 'float32' && util.sizeFromShape(t.shape) === channels && t.shape.length <= 1);
  if (!perChannel || util.sizeFromShape(x.shape) === 0) return stockKernelFunc(FusedBatchNorm)(args as never) as TensorInfo;
  const eps = args.attrs.varianceEpsilon;
  return withWasmScope(args.backend, (scope) => {
    const simd = simdKernels(scope.backend);
    const a = scope.alloc([channels]);
    const b = scope.alloc([channels]);
    const y = simd === undefined ? undefined : scope.alloc(x.shape);
    // Views after the allocations: allocating may grow (and detach) the heap.
    const view = (t: TensorInfo | undefined) =>
      t === undefined ? undefined : (scope.backend.typedArrayFromHeap(t) as Float32Array);
    const [m, v, o, g, av, bv] = [mean, variance, offset, scale, a, b].map(view);
    for (let c = 0; c < channels; c++) {
      const ac = (g === undefined ? 1 : (g[c] as number)) / Math.sqrt((v?.[c] as number) + eps);
      const oc = o === undefined ? 0 : (o[c] as number);
      (av as Float32Array)[c] = ac;
      // SIMD: y = (x - mean) * a + offset, the mean subtracted first (see simd.ts); else the fold
      // y = x * a + (offset - mean * a).
      (bv as Float32Array)[c] = y === undefined ? oc - (m?.[c] as number) * ac : oc;
    }
    if (simd !== undefined && y !== undefined) {
      const at = (t: TensorInfo) => heapOffset(scope.backend, t);
      simd.normalizeRows(at(x), at(mean), at(a), at(b), at(y), util.sizeFromShape(x.shape) / channels, channels);
      return y;
    }
    const xa = scope.run('Multiply', { a: x, b: a });
    return scope.run('Add', { a: xa, b });
  });
}

export const fusedBatchNormConfig: KernelConfig = {
  kernelName: FusedBatchNorm,
  backendName: 'wasm',
  kernelFunc: fusedBatchNorm as unknown as KernelFunc,
};
