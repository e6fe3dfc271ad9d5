/**
 * `CovsevSGD` {param, grad, momentum?} (attrs lr, momentum, dampening, weightDecay, nesterov,
 * first) -> [param'] or, with momentum, [param', momentum']: one SGD step of one parameter
 * (train/sgd.ts, PyTorch's `torch.optim.SGD`) as one SIMD pass on the wasm heap (covsev's SIMD
 * kernels, `simd.ts`), in the operation order of the tfjs composite it replaces (up to seven
 * kernel calls and four scalar tensors per parameter, each a pass over the parameter: a U-Net++ /
 * ResNet-34 has 26 M values).
 */

import * as tf from '@tensorflow/tfjs';
import { getKernel, type KernelConfig, type KernelFunc, type NamedAttrMap, type TensorInfo, util } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapOffset, simdKernels } from './simd.js';

export const SGD_UPDATE = 'CovsevSGD';

function sgdUpdate(args: {
  inputs: { param?: TensorInfo; grad?: TensorInfo; momentum?: TensorInfo };
  backend: BackendWasm;
  attrs: NamedAttrMap;
}): TensorInfo[] {
  const { param, grad, momentum } = args.inputs;
  if (param === undefined || grad === undefined) throw new Error(`covsev ${SGD_UPDATE}: inputs param and grad are required`);
  const { lr, momentum: mu, dampening, weightDecay, nesterov, first } = args.attrs as Record<string, number | boolean>;
  const withMomentum = (mu as number) !== 0;
  const inputs: [string, TensorInfo | undefined][] = [
    ['grad', grad],
    ['momentum', withMomentum && !first ? momentum : grad],
  ];
  for (const [name, t] of inputs) {
    if (t === undefined) throw new Error(`covsev ${SGD_UPDATE}: input momentum is required after the first step`);
    if (t.dtype !== 'float32' || param.dtype !== 'float32' || !util.arraysEqual(t.shape, param.shape)) {
      throw new Error(
        `covsev ${SGD_UPDATE}: ${name} must be float32 [${param.shape}] like param (${param.dtype}), got ${t.dtype} [${t.shape}]`,
      );
    }
  }
  const simd = simdKernels(args.backend);
  if (simd === undefined) throw new Error(`covsev ${SGD_UPDATE}: covsev's SIMD kernels are not loaded (see simdKernelStatus)`);
  const b = args.backend;
  const pOut = b.makeOutput(param.shape, 'float32');
  const bufOut = withMomentum ? b.makeOutput(param.shape, 'float32') : undefined;
  const at = (t: TensorInfo) => heapOffset(b, t);
  simd.sgdUpdate(
    at(param),
    at(grad),
    withMomentum && !first && momentum !== undefined ? at(momentum) : 0,
    at(pOut),
    bufOut === undefined ? 0 : at(bufOut),
    util.sizeFromShape(param.shape),
    weightDecay as number,
    mu as number,
    1 - (dampening as number),
    -(lr as number),
    first === true,
    nesterov === true,
  );
  return bufOut === undefined ? [pOut] : [pOut, bufOut];
}

export const sgdUpdateConfig: KernelConfig = {
  kernelName: SGD_UPDATE,
  backendName: 'wasm',
  kernelFunc: sgdUpdate as unknown as KernelFunc,
};

/** Whether SGD can step on the fused kernel: wasm, the kernel registered, covsev's SIMD kernels bound. */
export function sgdUpdateKernel(): boolean {
  if (tf.getBackend() !== 'wasm' || getKernel(SGD_UPDATE, 'wasm') === undefined) return false;
  return simdKernels(tf.backend() as BackendWasm) !== undefined;
}
