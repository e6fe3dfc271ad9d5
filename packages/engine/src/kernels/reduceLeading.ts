/**
 * Sum and Mean for the wasm backend, fast when the reduced axes lead ([0, 1, 2] of an NHWC
 * activation, axis 0 of [M, C]: batch-norm statistics, their gradients, bias gradients). The
 * stock kernels first transpose the reduced axes to the end; here x is viewed as a one-pixel
 * average pool: [1, a, b, C] with a*b = N reduced positions, one XNNPACK average pooling of
 * window [a, b] (4-15x faster on [8..32, 32..64, 32..64, 16..64] and [16384, 64]), times N for
 * the Sum. XNNPACK's pooling keeps a per-channel buffer on the stack: above 4096 kept values it
 * faults (16384 did), so wider reductions, other axes and other dtypes go to the stock kernels.
 *
 * (A matMul by a row of ones is 20x faster in a benchmark that reuses its input, and 2-3x slower
 * than the stock kernel on fresh tensors: XNNPACK packs the matMul's right operand on each new
 * tensor.)
 */
import {
  type KernelConfig,
  type KernelFunc,
  Mean,
  type MeanAttrs,
  Sum,
  type SumAttrs,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { stockKernelFunc } from './stock.js';
import { withWasmScope } from './wasmScope.js';

/** The most values the pooled reduction keeps (XNNPACK's stack buffer; see above). */
export const MAX_KEPT = 4096;

/** The number of leading axes reduced, when `axis` is exactly [0, k) with 0 < k < rank; else 0. */
export function leadingAxes(axis: number | number[], shape: readonly number[]): number {
  const axes = [...new Set(util.parseAxisParam(axis, shape as number[]))].sort((a, b) => a - b);
  if (axes.length === 0 || axes.length >= shape.length) return 0;
  return axes.every((a, i) => a === i) ? axes.length : 0;
}

/** Splits n into a * b with a the largest divisor <= sqrt(n). */
function squarish(n: number): [number, number] {
  let a = Math.floor(Math.sqrt(n));
  while (n % a !== 0) a--;
  return [a, n / a];
}

function makeReduce(kernelName: typeof Sum | typeof Mean): KernelFunc {
  const reduce = (args: { inputs: { x?: TensorInfo }; backend: BackendWasm; attrs: SumAttrs | MeanAttrs }): TensorInfo => {
    const { x } = args.inputs;
    const k = x === undefined || x.dtype !== 'float32' ? 0 : leadingAxes(args.attrs.axis, x.shape);
    const n = x === undefined ? 0 : util.sizeFromShape(x.shape.slice(0, k));
    const rest = x === undefined ? [] : x.shape.slice(k);
    const q = util.sizeFromShape(rest);
    if (x === undefined || k === 0 || n === 0 || q === 0 || q > MAX_KEPT) {
      return stockKernelFunc(kernelName)(args as never) as TensorInfo;
    }
    const outShape = args.attrs.keepDims ? [...new Array<number>(k).fill(1), ...rest] : rest;
    return withWasmScope(args.backend, (scope) => {
      const [a, b] = squarish(n);
      const pooled = scope.run(
        'AvgPool',
        { x: scope.reshape(x, [1, a, b, q]) },
        { filterSize: [a, b], strides: [1, 1], pad: 'valid' },
      );
      if (kernelName === Mean) return scope.reshape(pooled, outShape);
      const out = scope.alloc(outShape);
      const src = scope.backend.typedArrayFromHeap(pooled) as Float32Array;
      const dst = scope.backend.typedArrayFromHeap(out) as Float32Array;
      for (let i = 0; i < q; i++) dst[i] = (src[i] as number) * n;
      return out;
    });
  };
  return reduce as unknown as KernelFunc;
}

export const sumConfig: KernelConfig = { kernelName: Sum, backendName: 'wasm', kernelFunc: makeReduce(Sum) };
export const meanConfig: KernelConfig = { kernelName: Mean, backendName: 'wasm', kernelFunc: makeReduce(Mean) };
