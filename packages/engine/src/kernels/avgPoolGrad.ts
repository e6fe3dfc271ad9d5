/**
 * AvgPoolGrad for the wasm backend. The stock kernel gathers, for every input pixel and channel,
 * the dy of each window covering it, one scalar at a time (36 calls took 73 ms of a 16x64x64
 * CMC step, ten times their forward pools); this one scatters each window's dy / (kh * kw) onto
 * the window's input pixels in channel-inner loops over the wasm heap: covsev's SIMD kernel
 * (`simd.ts`), else the same loops in JavaScript. Same semantics as tfjs cpu: the divisor is the
 * whole window, padding counted. NHWC, float32.
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
import { heapOffset, simdKernels } from './simd.js';

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
  const { batchSize, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  if (dy.shape.some((n, i) => n !== info.outShape[i])) {
    throw new Error(`covsev AvgPoolGrad: dy has shape [${dy.shape.join(', ')}], the pool gives [${info.outShape.join(', ')}]`);
  }
  const out = args.backend.makeOutput(input.shape, 'float32');
  const scale = 1 / (info.filterHeight * info.filterWidth);
  const fh = info.effectiveFilterHeight;
  const fw = info.effectiveFilterWidth;
  const simd = simdKernels(args.backend);
  if (simd !== undefined) {
    const { strideHeight: sh, strideWidth: sw, padInfo } = info;
    const [g, d] = [dy, out].map((t) => heapOffset(args.backend, t)) as [number, number];
    simd.avgPoolGrad(g, d, batchSize, H, W, C, OH, OW, fh, fw, sh, sw, padInfo.top, padInfo.left, scale);
    return out;
  }
  // Views after the allocation: allocating may grow (and detach) the heap.
  const g = args.backend.typedArrayFromHeap(dy) as Float32Array;
  const dx = args.backend.typedArrayFromHeap(out) as Float32Array;
  dx.fill(0);
  const share = new Float32Array(C);
  for (let b = 0; b < batchSize; b++) {
    for (let yr = 0; yr < OH; yr++) {
      const r0 = yr * info.strideHeight - info.padInfo.top;
      const rLo = Math.max(0, r0);
      const rHi = Math.min(H, r0 + fh);
      for (let yc = 0; yc < OW; yc++) {
        const c0 = yc * info.strideWidth - info.padInfo.left;
        const cLo = Math.max(0, c0);
        const cHi = Math.min(W, c0 + fw);
        const dyBase = ((b * OH + yr) * OW + yc) * C;
        for (let c = 0; c < C; c++) share[c] = (g[dyBase + c] as number) * scale;
        for (let xr = rLo; xr < rHi; xr++) {
          for (let xc = cLo; xc < cHi; xc++) {
            const base = ((b * H + xr) * W + xc) * C;
            for (let c = 0; c < C; c++) dx[base + c] = (dx[base + c] as number) + (share[c] as number);
          }
        }
      }
    }
  }
  return out;
}

export const avgPoolGradConfig: KernelConfig = {
  kernelName: AvgPoolGrad,
  backendName: 'wasm',
  kernelFunc: avgPoolGrad as unknown as KernelFunc,
};
