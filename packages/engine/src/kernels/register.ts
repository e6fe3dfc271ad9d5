/**
 * Registers covsev's kernels on the tfjs wasm backend (and can put the stock ones back).
 *
 * Importing this module imports `@tensorflow/tfjs-backend-wasm`, whose own kernels register on
 * import: ours must replace them afterwards, never be replaced by them.
 */
import { getKernel, type KernelConfig, registerKernel, unregisterKernel } from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { avgPoolGradConfig } from './avgPoolGrad.js';
import { batchNormGradConfig, channelMomentsConfig } from './batchNormTraining.js';
import { conv2DBackpropFilterConfig } from './conv2dBackpropFilter.js';
import { conv2DBackpropInputConfig } from './conv2dBackpropInput.js';
import { conv2DConfig, fusedConv2DConfig } from './conv2dForward.js';
import { fusedBatchNormConfig } from './fusedBatchNorm.js';
import { identityConfig } from './identity.js';
import { maxPoolGradConfig } from './maxPoolGrad.js';
import { adamUpdateConfig, sgdUpdateConfig } from './optimizerUpdates.js';
import { meanConfig, sumConfig } from './reduceLeading.js';
import { reluConfig, reluGradConfig } from './reluGrad.js';
import { concatConfig, splitVConfig } from './splitConcat.js';
import { saveStockKernel, stockKernelConfig } from './stock.js';
import { tileConfig } from './tile.js';

/**
 * covsev's wasm kernels. Each one's setup also sets up the stock kernel it replaces: the engine
 * sets up only the kernels registered when a backend starts, and a covsev kernel may hand cases
 * back to the stock one.
 */
export const covsevKernelConfigs: readonly KernelConfig[] = [
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  maxPoolGradConfig,
  avgPoolGradConfig,
  tileConfig,
  fusedBatchNormConfig,
  sumConfig,
  meanConfig,
  splitVConfig,
  concatConfig,
  fusedConv2DConfig,
  conv2DConfig,
  identityConfig,
  channelMomentsConfig,
  batchNormGradConfig,
  adamUpdateConfig,
  sgdUpdateConfig,
  reluConfig,
  reluGradConfig,
].map((config) => ({
  ...config,
  setupFunc: (backend: object) => {
    stockKernelConfig(config.kernelName)?.setupFunc?.(backend);
    config.setupFunc?.(backend);
  },
}));

/** Names of the kernels covsev registers for the wasm backend. */
export const COVSEV_KERNEL_NAMES: readonly string[] = covsevKernelConfigs.map((c) => c.kernelName);

/**
 * Registers covsev's kernels (all, or those named) for the 'wasm' backend, replacing the stock
 * kernel of the same name where there is one. Idempotent. Call it before the wasm backend
 * trains (`initBackend` does).
 *
 * Returns: the names of the kernels registered.
 * Raises: an Error for a name that is not a covsev kernel.
 */
export function registerCovsevKernels(names: readonly string[] = COVSEV_KERNEL_NAMES): string[] {
  for (const name of names) {
    if (!COVSEV_KERNEL_NAMES.includes(name)) {
      throw new Error(`covsev kernels: no kernel '${name}'; covsev's are ${COVSEV_KERNEL_NAMES.join(', ')}`);
    }
  }
  for (const config of covsevKernelConfigs.filter((c) => names.includes(c.kernelName))) {
    const current = getKernel(config.kernelName, config.backendName);
    if (current === config) continue;
    if (current !== undefined) {
      saveStockKernel(config.kernelName);
      unregisterKernel(config.kernelName, config.backendName);
    }
    registerKernel(config);
  }
  return registeredCovsevKernels();
}

/** Names of covsev's kernels currently registered for 'wasm'. */
export function registeredCovsevKernels(): string[] {
  return covsevKernelConfigs.filter((c) => getKernel(c.kernelName, c.backendName) === c).map((c) => c.kernelName);
}

/**
 * Removes covsev's kernels from 'wasm' and restores the stock ones they replaced (for benchmarks
 * and tests that compare the two).
 */
export function unregisterCovsevKernels(): void {
  for (const config of covsevKernelConfigs) {
    if (getKernel(config.kernelName, config.backendName) !== config) continue;
    unregisterKernel(config.kernelName, config.backendName);
    const original = stockKernelConfig(config.kernelName);
    if (original !== undefined) registerKernel(original);
  }
}
