/**
 * The optimisers' fused kernels on the wasm heap (covsev's SIMD kernels, `simd.ts`), each one SIMD
 * pass per parameter in the operation order of the tfjs composite it replaces:
 *
 * - `CovsevAdam` {param, grad, m, v} (attrs lr, beta1, beta2, eps, weightDecay, step) ->
 *   [param', m', v']: one Adam step (train/adam.ts, PyTorch's `torch.optim.Adam`). The composite
 *   is about twenty kernel calls and eight scalar tensors per parameter, so an optimiser step over
 *   a few hundred parameters spent more time in tfjs' per-call bookkeeping than in arithmetic.
 * - `CovsevSGD` {param, grad, momentum?} (attrs lr, momentum, dampening, weightDecay, nesterov,
 *   first) -> [param'] or, with momentum, [param', momentum']: one SGD step (train/sgd.ts,
 *   PyTorch's `torch.optim.SGD`). The composite is up to seven kernel calls and four scalar
 *   tensors per parameter, each a pass over it (a U-Net++ / ResNet-34 has 26 M values).
 */
import { type KernelConfig, type KernelFunc, type NamedAttrMap, type TensorInfo, util } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapOffset, requireSimdKernels, simdKernelsRun } from './simd.js';

export const ADAM_UPDATE = 'CovsevAdam';
export const SGD_UPDATE = 'CovsevSGD';

/** Refuses a state tensor that is not float32 of the parameter's shape, naming it. */
function expectLikeParam(kernel: string, param: TensorInfo, states: Record<string, TensorInfo>): void {
  for (const [name, t] of Object.entries(states)) {
    if (t.dtype !== 'float32' || param.dtype !== 'float32' || !util.arraysEqual(t.shape, param.shape)) {
      throw new Error(
        `covsev ${kernel}: ${name} must be float32 [${param.shape}] like param (${param.dtype}), got ${t.dtype} [${t.shape}]`,
      );
    }
  }
}

function adamUpdate(args: {
  inputs: { param?: TensorInfo; grad?: TensorInfo; m?: TensorInfo; v?: TensorInfo };
  backend: BackendWasm;
  attrs: NamedAttrMap;
}): TensorInfo[] {
  const { param, grad, m, v } = args.inputs;
  if (param === undefined || grad === undefined || m === undefined || v === undefined) {
    throw new Error(`covsev ${ADAM_UPDATE}: inputs param, grad, m and v are required`);
  }
  expectLikeParam(ADAM_UPDATE, param, { grad, m, v });
  const simd = requireSimdKernels(args.backend, ADAM_UPDATE);
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
  return simdKernelsRun(ADAM_UPDATE);
}

function sgdUpdate(args: {
  inputs: { param?: TensorInfo; grad?: TensorInfo; momentum?: TensorInfo };
  backend: BackendWasm;
  attrs: NamedAttrMap;
}): TensorInfo[] {
  const { param, grad, momentum } = args.inputs;
  if (param === undefined || grad === undefined) throw new Error(`covsev ${SGD_UPDATE}: inputs param and grad are required`);
  const { lr, momentum: mu, dampening, weightDecay, nesterov, first } = args.attrs as Record<string, number | boolean>;
  const withMomentum = (mu as number) !== 0;
  const readsMomentum = withMomentum && !first;
  if (readsMomentum && momentum === undefined)
    throw new Error(`covsev ${SGD_UPDATE}: input momentum is required after the first step`);
  expectLikeParam(SGD_UPDATE, param, readsMomentum && momentum !== undefined ? { grad, momentum } : { grad });
  const simd = requireSimdKernels(args.backend, SGD_UPDATE);
  const b = args.backend;
  const pOut = b.makeOutput(param.shape, 'float32');
  const bufOut = withMomentum ? b.makeOutput(param.shape, 'float32') : undefined;
  const at = (t: TensorInfo) => heapOffset(b, t);
  simd.sgdUpdate(
    at(param),
    at(grad),
    readsMomentum && momentum !== undefined ? at(momentum) : 0,
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
  return simdKernelsRun(SGD_UPDATE);
}
