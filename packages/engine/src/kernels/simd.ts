/**
 * covsev's SIMD kernels: a small wasm module (`wasm/covsev-simd.wasm`, compiled from
 * `assembly/simd.ts` by `scripts/build-simd.mjs` in `pnpm build`) that imports the tfjs wasm
 * backend's own memory, so it reads and writes tensors where they lie on the heap. Its loops are
 * fused passes in 128-bit SIMD that tfjs would run as several kernels; broadcast element-wise
 * kernels on tfjs wasm are not XNNPACK's and run at about 4 ns an element, these at memory
 * speed (`node bench/engine/kernels.mjs --others`).
 *
 * Pointers are byte offsets on the heap (`typedArrayFromHeap(t).byteOffset`); matrices are
 * [rows, ch] row-major, a channels-last tensor seen as [M, C].
 */
import { readFileSync } from 'node:fs';
import { backend as activeBackend, getBackend, getKernel } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { PoolWindows } from './poolWindows.js';

export interface SimdKernels {
  /** y = (x - m) * a + b, m, a and b per channel. */
  normalizeRows(x: number, m: number, a: number, b: number, y: number, rows: number, ch: number): void;
  /** z = g * a + (x - m) * b + d, a, m, b and d per channel. */
  normalizeGradRows(g: number, a: number, x: number, m: number, b: number, d: number, z: number, rows: number, ch: number): void;
  /** out (f64 [2 ch], 8-byte aligned) += per-channel sums of x - s and of (x - s)^2, in f64. */
  columnMoments(x: number, s: number, rows: number, ch: number, out: number): void;
  /** out (f64 [2 ch], 8-byte aligned) += per-channel sums of g and of g * (x - m), in f64. */
  columnGradMoments(g: number, x: number, m: number, rows: number, ch: number, out: number): void;
  /** dx (NHWC, overwritten) = the average pool's gradient of dy, scale = 1 / window size. */
  avgPoolGrad(dy: number, dx: number, ...windows: [...PoolWindows, scale: number]): void;
  /** dx (NHWC, overwritten) = the max pool's gradient of dy, at each window's first strict maximum; scratch: 2 ch words. */
  maxPoolGrad(x: number, dy: number, dx: number, ...windows: [...PoolWindows, scratch: number]): void;
  /** Copies `rows` runs of `bytes` bytes, src rows srcStride bytes apart, dst rows dstStride apart. */
  copyRows(src: number, srcStride: number, dst: number, dstStride: number, rows: number, bytes: number): void;
  reluGrad(dy: number, y: number, dx: number, n: number): void;
  /** One Adam step over n values into pOut, mOut, vOut (see assembly/simd.ts for the order of operations). */
  adamUpdate(
    p: number,
    g: number,
    m: number,
    v: number,
    pOut: number,
    mOut: number,
    vOut: number,
    n: number,
    wd: number,
    b1: number,
    oneMinusB1: number,
    b2: number,
    oneMinusB2: number,
    negStep: number,
    c2: number,
    eps: number,
  ): void;
  /** One SGD step over n values into pOut (and bufOut with momentum); see assembly/simd.ts. */
  sgdUpdate(
    p: number,
    g: number,
    buf: number,
    pOut: number,
    bufOut: number,
    n: number,
    wd: number,
    mu: number,
    oneMinusDampening: number,
    negLr: number,
    first: boolean,
    nesterov: boolean,
  ): void;
}

/** Where the compiled module lies: `wasm/` at the package root (from `src/kernels/` and `dist/kernels/` alike). */
export const SIMD_KERNELS_FILE = new URL('../../wasm/covsev-simd.wasm', import.meta.url);

// The WebAssembly global, typed here: the project's lib (ES2023, @types/node 20) does not declare it.
interface WasmMemory {
  readonly buffer: ArrayBufferLike;
}
interface WasmModule {
  readonly kind?: never;
}
interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => WasmModule;
  readonly Instance: new (module: WasmModule, imports: object) => { readonly exports: Record<string, unknown> };
  readonly Memory: abstract new (...args: never[]) => WasmMemory;
}
const WebAssembly = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const EXPORTS: readonly (keyof SimdKernels)[] = [
  'normalizeRows',
  'normalizeGradRows',
  'columnMoments',
  'columnGradMoments',
  'avgPoolGrad',
  'maxPoolGrad',
  'copyRows',
  'reluGrad',
  'adamUpdate',
  'sgdUpdate',
];

let compiled: WasmModule | undefined;
let compileError: string | undefined;
let enabled = true;
const instances = new WeakMap<WasmMemory, SimdKernels>();
const refusals = new WeakMap<object, string>();

function compile(): WasmModule | undefined {
  if (compiled !== undefined || compileError !== undefined) return compiled;
  try {
    compiled = new WebAssembly.Module(readFileSync(SIMD_KERNELS_FILE));
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    compileError = `${SIMD_KERNELS_FILE.pathname} did not load (${why}); run pnpm build`;
  }
  return compiled;
}

function heapMemory(backend: BackendWasm): WasmMemory | undefined {
  // The single-threaded build exports its memory (asm.memory); the threaded build's glue creates
  // a shared one (wasmMemory).
  const module = backend.wasm as unknown as { asm?: { memory?: unknown }; wasmMemory?: unknown };
  const memory = module.asm?.memory ?? module.wasmMemory;
  return memory instanceof WebAssembly.Memory ? memory : undefined;
}

/**
 * The SIMD kernels bound to this wasm backend's heap, or undefined where they cannot run (see
 * {@link simdKernelStatus} for why): switched off, the module not built, or a heap it cannot
 * import (the threaded wasm build's shared memory).
 */
export function simdKernels(backend: BackendWasm): SimdKernels | undefined {
  if (!enabled) return undefined;
  const memory = heapMemory(backend);
  if (memory === undefined) {
    refusals.set(backend, "the wasm backend's heap memory is not reachable");
    return undefined;
  }
  const bound = instances.get(memory);
  if (bound !== undefined) return bound;
  if (refusals.has(memory)) return undefined;
  const module = compile();
  if (module === undefined) return undefined;
  if (typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer) {
    refusals.set(memory, 'the threaded wasm build shares its memory, which the module does not import');
    return undefined;
  }
  try {
    const { exports } = new WebAssembly.Instance(module, { env: { memory } });
    const missing = EXPORTS.filter((name) => typeof exports[name] !== 'function');
    if (missing.length > 0) throw new Error(`exports lack ${missing.join(', ')}`);
    const kernels = exports as unknown as SimdKernels;
    instances.set(memory, kernels);
    return kernels;
  } catch (e) {
    refusals.set(memory, `instantiating ${SIMD_KERNELS_FILE.pathname} failed: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }
}

/** Whether the SIMD kernels run on this backend, and if not, why (for the start line). */
export function simdKernelStatus(backend: BackendWasm): { readonly loaded: boolean; readonly reason?: string } {
  if (simdKernels(backend) !== undefined) return { loaded: true };
  if (!enabled) return { loaded: false, reason: 'switched off (useSimdKernels(false))' };
  const memory = heapMemory(backend);
  const reason = compileError ?? (memory && refusals.get(memory)) ?? refusals.get(backend) ?? 'unknown';
  return { loaded: false, reason };
}

/**
 * Switches the SIMD kernels on (default) or off; off, the kernels that use them fall back to
 * tfjs' own (for comparisons). Returns the previous setting.
 */
export function useSimdKernels(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

/** The heap offset of a tensor's buffer. */
export function heapOffset(backend: BackendWasm, info: Parameters<BackendWasm['typedArrayFromHeap']>[0]): number {
  return backend.typedArrayFromHeap(info).byteOffset;
}

/** The SIMD kernels for `kernel` to run on; an Error naming the kernel where they are not loaded. */
export function requireSimdKernels(backend: BackendWasm, kernel: string): SimdKernels {
  const simd = simdKernels(backend);
  if (simd === undefined) throw new Error(`covsev ${kernel}: covsev's SIMD kernels are not loaded (see simdKernelStatus)`);
  return simd;
}

/**
 * Whether the named kernels, which need the SIMD kernels, can run now: the active backend is wasm,
 * they are registered for it and the SIMD kernels are bound to its heap. Layers and optimisers ask
 * before choosing them over tfjs ops.
 */
export function simdKernelsRun(...kernels: string[]): boolean {
  if (getBackend() !== 'wasm' || kernels.some((k) => getKernel(k, 'wasm') === undefined)) return false;
  return simdKernels(activeBackend() as BackendWasm) !== undefined;
}
