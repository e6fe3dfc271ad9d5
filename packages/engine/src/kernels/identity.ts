/**
 * Identity for the wasm backend without a copy. The stock kernel copies the whole buffer into a
 * new one, and tfjs runs Identity for every tensor a gradient keeps for the backward pass
 * (`Engine.saveTensorsForBackwardMode` clones them): in a CMC training step those copies were
 * 6.4 % of a gradient worker's time (`node --cpu-prof bench/engine/cmc-job.mjs train ...`).
 *
 * covsev's Identity shares the input's buffer and counts one more reference to it, as the wasm
 * backend's own Reshape does and the cpu backend's Identity does. That is safe because no wasm
 * kernel, stock or covsev's, writes into an input's buffer: every kernel writes a new output,
 * and a variable's `assign` swaps its buffer rather than overwriting it. Strings are handed to
 * the stock kernel (they do not live on the heap).
 */
import { Identity, type IdentityInputs, type KernelConfig, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { stockKernelConfig } from './stock.js';

function identity(args: { inputs: IdentityInputs; backend: BackendWasm }): TensorInfo {
  const { x } = args.inputs;
  if (x === undefined) throw new Error('covsev Identity: input x is required');
  if (x.dtype === 'string') {
    const stock = stockKernelConfig(Identity);
    if (stock === undefined) throw new Error('covsev Identity: the stock wasm Identity kernel is missing (strings)');
    return stock.kernelFunc({ inputs: { x }, backend: args.backend, attrs: {} }) as TensorInfo;
  }
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export const identityConfig: KernelConfig = {
  kernelName: Identity,
  backendName: 'wasm',
  kernelFunc: identity as unknown as KernelConfig['kernelFunc'],
};
