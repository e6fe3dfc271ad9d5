/**
 * `CovsevAdam` {param, grad, m, v} (attrs lr, beta1, beta2, eps, weightDecay, step) ->
 * [param', m', v']: one Adam step of one parameter (train/adam.ts, PyTorch's `torch.optim.Adam`)
 * as one SIMD pass on the wasm heap (covsev's SIMD kernels, `simd.ts`), in the operation order of
 * the tfjs composite it replaces. That composite is about twenty kernel calls and eight scalar
 * tensors per parameter, so an optimiser step over a few hundred parameters spends more time in
 * tfjs' per-call bookkeeping than in arithmetic.
 */

import * as tf from '@tensorflow/tfjs';
import { getKernel, type KernelConfig, type KernelFunc, type NamedAttrMap, type TensorInfo, util } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapOffset, simdKernels } from './simd.js';

export const ADAM_UPDATE = 'CovsevAdam';

function adamUpdate(args: {
  inputs: { param?: TensorInfo; grad?: TensorInfo; m?: TensorInfo; v?: TensorInfo };
  backend: BackendWasm;
  attrs: NamedAttrMap;
}): TensorInfo[] {
  const { param, grad, m, v } = args.inputs;
  if (param === undefined || grad === undefined || m === undefined || v === undefined) {
    throw new Error(`covsev ${ADAM_UPDATE}: inputs param, grad, m and v are required`);
  }
  for (const [name, t] of [
    ['grad', grad],
    ['m', m],
    ['v', v],
  ] as const) {
    if (t.dtype !== 'float32' || !util.arraysEqual(t.shape, param.shape) || param.dtype !== 'float32') {
      throw new Error(
        `covsev ${ADAM_UPDATE}: ${name} must be float32 [${param.shape}] like param (${param.dtype}), got ${t.dtype} [${t.shape}]`,
      );
    }
  }
  const simd = simdKernels(args.backend);
  if (simd === undefined) throw new Error(`covsev ${ADAM_UPDATE}: covsev's SIMD kernels are not loaded (see simdKernelStatus)`);
  const { lr, beta1, beta2, eps, weightDecay, step } = args.attrs as Record<string, number>;
  const b = args.backend;
  const outs = [param, m, v].map(() => b.makeOutput(param.shape, 'float32'));
  const at = (t: TensorInfo) => heapOffset(b, t);
  const [pOut, mOut, vOut] = outs as [TensorInfo, TensorInfo, TensorInfo];
  simd.adamUpdate(
    at(param),
    at(grad),
    at(m),
    at(v),
    at(pOut),
    at(mOut),
    at(vOut),
    util.sizeFromShape(param.shape),
    weightDecay as number,
    beta1 as number,
    1 - (beta1 as number),
    beta2 as number,
    1 - (beta2 as number),
    -((lr as number) / (1 - (beta1 as number) ** (step as number))),
    Math.sqrt(1 - (beta2 as number) ** (step as number)),
    eps as number,
  );
  return outs;
}

export const adamUpdateConfig: KernelConfig = {
  kernelName: ADAM_UPDATE,
  backendName: 'wasm',
  kernelFunc: adamUpdate as unknown as KernelFunc,
};

/** Whether Adam can step on the fused kernel: wasm, the kernel registered, covsev's SIMD kernels bound. */
export function adamUpdateKernel(): boolean {
  if (tf.getBackend() !== 'wasm' || getKernel(ADAM_UPDATE, 'wasm') === undefined) return false;
  return simdKernels(tf.backend() as BackendWasm) !== undefined;
}
