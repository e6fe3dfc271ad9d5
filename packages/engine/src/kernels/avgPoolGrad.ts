/**
 * AvgPoolGrad for the wasm backend. The stock kernel gathers, for every input pixel and channel,
 * the dy of each window covering it, one scalar at a time (36 calls took 73 ms of a 16x64x64
 * CMC step, ten times their forward pools); this one scatters each window's dy / (kh * kw) onto
 * the window's input pixels, four channels at a time: covsev's SIMD kernel (`simd.ts`; where
 * those are off, the stock kernel). Same semantics as tfjs cpu: the divisor is the whole window,
 * padding counted. NHWC, float32.
 */
import {
  AvgPoolGrad,
  type AvgPoolGradAttrs,
  backend_util,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { poolWindows } from './poolWindows.js';
import { heapOffset, simdKernels } from './simd.js';
import { stockKernelFunc } from './stock.js';

function avgPoolGrad(args: {
  inputs: { dy?: TensorInfo; input?: TensorInfo };
  backend: BackendWasm;
  attrs: AvgPoolGradAttrs;
}): TensorInfo {
  const { dy, input } = args.inputs;
  if (dy === undefined || input === undefined) throw new Error('covsev AvgPoolGrad: inputs dy and input are required');
  if (dy.dtype !== 'float32') throw new Error(`covsev AvgPoolGrad: float32 only, got dy ${dy.dtype}`);
  const { filterSize, strides, pad } = args.attrs;
  const info = backend_util.computePool2DInfo(input.shape as [number, number, number, number], filterSize, strides, 1, pad);
  if (dy.shape.some((n, i) => n !== info.outShape[i])) {
    throw new Error(`covsev AvgPoolGrad: dy has shape [${dy.shape.join(', ')}], the pool gives [${info.outShape.join(', ')}]`);
  }
  const simd = simdKernels(args.backend);
  if (simd === undefined) return stockKernelFunc(AvgPoolGrad)(args as never) as TensorInfo;
  const out = args.backend.makeOutput(input.shape, 'float32');
  const [g, d] = [dy, out].map((t) => heapOffset(args.backend, t)) as [number, number];
  simd.avgPoolGrad(g, d, ...poolWindows(info), 1 / (info.filterHeight * info.filterWidth));
  return out;
}

export const avgPoolGradConfig: KernelConfig = {
  kernelName: AvgPoolGrad,
  backendName: 'wasm',
  kernelFunc: avgPoolGrad as unknown as KernelFunc,
};
