/**
 * Runs the wasm backend's own kernels from inside a covsev kernel, and frees what they return.
 *
 * A covsev kernel is a composition of stock wasm kernels (XNNPACK conv2d, transpose, slice).
 * Calling their `kernelFunc` directly, rather than `tf.engine().runKernel`, keeps the
 * intermediates out of the engine's bookkeeping (no tensors, no tape, no profiler lines of their
 * own): each intermediate is a backend `TensorInfo` that this scope disposes when the kernel ends.
 */
import { type DataType, getKernel, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export class WasmScope {
  private readonly owned: TensorInfo[] = [];

  constructor(readonly backend: BackendWasm) {}

  /** Runs the wasm kernel `kernelName`; its output belongs to this scope. */
  run(kernelName: string, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap = {}): TensorInfo {
    const config = getKernel(kernelName, 'wasm');
    if (config === undefined) {
      throw new Error(`covsev kernels: the wasm backend has no '${kernelName}' kernel`);
    }
    const out = config.kernelFunc({ inputs, attrs, backend: this.backend });
    if (Array.isArray(out)) {
      throw new Error(`covsev kernels: '${kernelName}' returned several outputs; one was expected`);
    }
    this.owned.push(out);
    return out;
  }

  /** Allocates an uninitialised tensor on the wasm heap; it belongs to this scope. */
  alloc(shape: number[], dtype: DataType = 'float32'): TensorInfo {
    const out = this.backend.makeOutput(shape, dtype);
    this.owned.push(out);
    return out;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  /** Slices `x` from `begin` to `size`; returns `x` itself when that is the whole tensor. */
  slice(x: TensorInfo, begin: number[], size: number[]): TensorInfo {
    if (size.every((n, i) => n === x.shape[i]) && begin.every((b) => b === 0)) return x;
    return this.run('Slice', { x }, { begin, size });
  }

  /** Hands `info` to the caller: the scope will not dispose it. */
  keep(info: TensorInfo): TensorInfo {
    const i = this.owned.lastIndexOf(info);
    if (i < 0) throw new Error('covsev kernels: keep() of a tensor this scope does not own');
    this.owned.splice(i, 1);
    return info;
  }

  /** Disposes every intermediate still owned. */
  dispose(): void {
    for (const info of this.owned) this.backend.disposeData(info.dataId);
    this.owned.length = 0;
  }
}

/** Runs `body` in a fresh scope, disposing its intermediates however it ends. */
export function withWasmScope(backend: BackendWasm, body: (scope: WasmScope) => TensorInfo): TensorInfo {
  const scope = new WasmScope(backend);
  try {
    return scope.keep(body(scope));
  } finally {
    scope.dispose();
  }
}

/** Runs `body` with a scope for scratch allocations, freed however it ends. */
export function withScratch(backend: BackendWasm, body: (scope: WasmScope) => void): void {
  const scope = new WasmScope(backend);
  try {
    body(scope);
  } finally {
    scope.dispose();
  }
}
