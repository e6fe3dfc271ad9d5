/**
 * The wasm backend's own kernels that covsev kernels replace, kept so that a covsev kernel can
 * hand the cases it does not speed up back to them, and so that they can be restored.
 */
import { getKernel, type KernelConfig, type KernelFunc } from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

const stock = new Map<string, KernelConfig>();

/** Records the stock wasm kernel `name` (once), before a covsev kernel replaces it. */
export function saveStockKernel(name: string): void {
  if (stock.has(name)) return;
  const config = getKernel(name, 'wasm');
  if (config !== undefined) stock.set(name, config);
}

export function stockKernelConfig(name: string): KernelConfig | undefined {
  return stock.get(name);
}

/** The stock wasm kernel function `name`; throws if there is none. */
export function stockKernelFunc(name: string): KernelFunc {
  const config = stock.get(name) ?? getKernel(name, 'wasm');
  if (config === undefined) throw new Error(`covsev kernels: the wasm backend has no stock '${name}' kernel`);
  return config.kernelFunc;
}
