/**
 * MaxPoolGrad for the wasm backend. The stock kernel visits every input pixel and, for each
 * window covering it, searches that window's maximum again (about 40 M inputs/s); this one finds
 * each window's maximum once and adds its dy there (same semantics as tfjs cpu: the first strict
 * maximum in row-major window order wins ties; windows of only -Infinity/NaN pass no gradient),
 * written as a channel-inner loop over the wasm heap: covsev's SIMD kernel (`simd.ts`), else the
 * same loop in JavaScript. NHWC, float32.
 */
import {
  backend_util,
  type KernelConfig,
  type KernelFunc,
  MaxPoolGrad,
  type MaxPoolGradAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { poolWindows } from './poolWindows.js';
import { heapOffset, simdKernels } from './simd.js';
import { withScratch } from './wasmScope.js';

function maxPoolGrad(args: {
  inputs: { dy?: TensorInfo; input?: TensorInfo; output?: TensorInfo };
  backend: BackendWasm;
  attrs: MaxPoolGradAttrs;
}): TensorInfo {
  const { dy, input } = args.inputs;
  if (dy === undefined || input === undefined) throw new Error('covsev MaxPoolGrad: inputs dy and input are required');
  if (input.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error(`covsev MaxPoolGrad: float32 only, got input ${input.dtype} and dy ${dy.dtype}`);
  }
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs;
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const { batchSize, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  if (dy.shape.some((n, i) => n !== info.outShape[i])) {
    throw new Error(`covsev MaxPoolGrad: dy has shape [${dy.shape.join(', ')}], the pool gives [${info.outShape.join(', ')}]`);
  }
  const out = args.backend.makeOutput(input.shape, 'float32');
  const simd = simdKernels(args.backend);
  if (simd !== undefined) {
    withScratch(args.backend, (scope) => {
      const scratch = scope.alloc([2 * C]);
      const at = (t: TensorInfo) => heapOffset(args.backend, t);
      simd.maxPoolGrad(at(input), at(dy), at(out), ...poolWindows(info), at(scratch));
    });
    return out;
  }
  // Views after the allocation: allocating may grow (and detach) the heap.
  const x = args.backend.typedArrayFromHeap(input) as Float32Array;
  const g = args.backend.typedArrayFromHeap(dy) as Float32Array;
  const dx = args.backend.typedArrayFromHeap(out) as Float32Array;
  dx.fill(0);
  const best = new Float32Array(C);
  const at = new Int32Array(C);
  const fh = info.effectiveFilterHeight;
  const fw = info.effectiveFilterWidth;
  for (let b = 0; b < batchSize; b++) {
    for (let yr = 0; yr < OH; yr++) {
      const r0 = yr * info.strideHeight - info.padInfo.top;
      const rLo = Math.max(0, r0);
      const rHi = Math.min(H, r0 + fh);
      for (let yc = 0; yc < OW; yc++) {
        const c0 = yc * info.strideWidth - info.padInfo.left;
        const cLo = Math.max(0, c0);
        const cHi = Math.min(W, c0 + fw);
        best.fill(Number.NEGATIVE_INFINITY);
        at.fill(-1);
        for (let xr = rLo; xr < rHi; xr++) {
          for (let xc = cLo; xc < cHi; xc++) {
            const base = ((b * H + xr) * W + xc) * C;
            for (let c = 0; c < C; c++) {
              const v = x[base + c] as number;
              if (v > (best[c] as number)) {
                best[c] = v;
                at[c] = base + c;
              }
            }
          }
        }
        const dyBase = ((b * OH + yr) * OW + yc) * C;
        for (let c = 0; c < C; c++) {
          const i = at[c] as number;
          if (i >= 0) dx[i] = (dx[i] as number) + (g[dyBase + c] as number);
        }
      }
    }
  }
  return out;
}

export const maxPoolGradConfig: KernelConfig = {
  kernelName: MaxPoolGrad,
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as unknown as KernelFunc,
};
