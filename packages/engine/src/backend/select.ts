/**
 * Picks the fastest tfjs backend that loads here: tfjs-node-gpu (CUDA), then tfjs-node
 * (libtensorflow on CPU), then wasm with covsev's kernels, then the pure-JS cpu backend.
 *
 * An explicit request (the `prefer` option, else the COVSEV_BACKEND environment variable) gets
 * that backend or an error saying why it cannot load and what can; never a silent fallback.
 * The choice is printed as one line and recorded (`getBackendInfo`) for the run's records.
 */
import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { type BackendWasm, getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import {
  disableOnnxConv,
  enableOnnxConv,
  ONNX_CONV_RUNTIME_VERSION,
  registerCovsevKernels,
  simdKernelStatus,
} from '../kernels/index.js';
import { directDependencyVersion, type NativePackage, probeNative } from './packages.js';
import { requestedWasmThreads, setWasmBackendThreads } from './wasmThreads.js';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

/** The automatic order, fastest first. */
export const BACKEND_ORDER: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

/** The environment variable that overrides the automatic choice. */
export const BACKEND_ENV = 'COVSEV_BACKEND';

export interface SkippedBackend {
  name: BackendName;
  reason: string;
}

export interface BackendInfo {
  /** covsev's name for the backend */
  name: BackendName;
  /** the tfjs backend it runs on: 'tensorflow', 'wasm' or 'cpu' */
  tfjsBackend: string;
  /** tfjs-core version in use */
  version: string;
  /** the npm package providing the backend, with its version */
  backendPackage: string;
  /** wasm: whether the SIMD build runs; null for the other backends */
  simd: boolean | null;
  /** threads the backend computes on (tensorflow: its default intra-op pool, one per core) */
  threads: number;
  /** tensorflow-gpu: whether TensorFlow sees a CUDA device; false elsewhere */
  gpu: boolean;
  /** covsev kernels registered for this backend */
  kernels: string[];
  /**
   * wasm: what runs the convolutions and their gradients, e.g. 'onnxruntime 1.30.0 (MLAS, 1
   * thread)' or 'XNNPACK'; null for the other backends.
   */
  convolutions?: string | null;
  /**
   * wasm: whether covsev's SIMD kernels (kernels/simd.ts) run on the backend's heap: 'on', or
   * 'off: <why>' (then batch norm and Adam use tfjs ops, the pooling gradients JavaScript loops);
   * null for the other backends.
   */
  simdKernels?: string | null;
  /** how the backend was chosen */
  source: 'option' | 'env' | 'auto';
  /** backends tried before this one, and why each was not used */
  skipped: SkippedBackend[];
}

export interface InitBackendOptions {
  /** Use this backend or fail; overrides COVSEV_BACKEND. */
  prefer?: BackendName;
  /** Where the one-line summary goes (default: stderr); false for silence. */
  log?: ((line: string) => void) | false;
  /**
   * Environment to read COVSEV_BACKEND from (default: process.env); also COVSEV_WASM_THREADS, the
   * opt-in threaded wasm build with that many XNNPACK threads (default 1; see wasmThreads.ts).
   */
  env?: Record<string, string | undefined>;
  /**
   * wasm: the convolutions (forward and gradients) on onnxruntime's CPU kernels or on XNNPACK;
   * overrides COVSEV_CONV. Default: onnxruntime where it loads, else XNNPACK (the line says why).
   */
  convolutions?: ConvEngine;
  /** onnxruntime's threads per convolution; overrides COVSEV_CONV_THREADS; default 1. */
  convThreads?: number;
}

/** What runs the wasm backend's convolutions. */
export type ConvEngine = 'onnxruntime' | 'xnnpack';
const CONV_ENV = 'COVSEV_CONV';
const CONV_THREADS_ENV = 'COVSEV_CONV_THREADS';

/**
 * Puts the wasm backend's convolutions on the engine asked for (option, else COVSEV_CONV, else
 * onnxruntime where it loads) and describes the result.
 *
 * Raises: an Error for an unknown engine, or when onnxruntime was asked for and cannot run.
 */
function chooseConvolutions(options: InitBackendOptions): string {
  const env = options.env ?? process.env;
  const asked = options.convolutions ?? (env[CONV_ENV]?.trim() || undefined);
  if (asked !== undefined && asked !== 'onnxruntime' && asked !== 'xnnpack')
    throw new Error(`covsev engine: convolutions '${asked}' are not an engine; valid: onnxruntime, xnnpack`);
  const threads = options.convThreads ?? Number(env[CONV_THREADS_ENV]?.trim() || 1);
  if (asked === 'xnnpack') {
    disableOnnxConv();
    return 'XNNPACK';
  }
  const status = enableOnnxConv({ threads });
  if (status.enabled) return `onnxruntime ${ONNX_CONV_RUNTIME_VERSION} (MLAS, ${threads} thread${threads === 1 ? '' : 's'})`;
  if (asked === 'onnxruntime')
    throw new Error(`covsev engine: onnxruntime convolutions were requested but cannot run: ${status.reason}`);
  return `XNNPACK (onnxruntime unavailable: ${status.reason})`;
}

let current: BackendInfo | undefined;

/** The backend chosen by the last `initBackend`, if any. */
export function getBackendInfo(): BackendInfo | undefined {
  return current;
}

function isBackendName(s: string): s is BackendName {
  return (BACKEND_ORDER as readonly string[]).includes(s);
}

function nativePackage(name: 'tensorflow-gpu' | 'tensorflow'): NativePackage {
  return name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0] ?? msg;
}

/**
 * Why `name` cannot load, found without loading it; null if it looks loadable.
 * (The native backends can still fail at import, e.g. on a missing libcudart.)
 */
export function probeBackend(name: BackendName): string | null {
  if (name === 'tensorflow-gpu' || name === 'tensorflow') return probeNative(nativePackage(name)).problem;
  return null;
}

/** Imports a tfjs-node package, hiding the "already registered" noise of a second attempt. */
async function importQuietly(pkg: string): Promise<void> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].includes('is already registered')) return;
    warn(...args);
  };
  try {
    await import(pkg);
  } finally {
    console.warn = warn;
  }
}

type Loaded = Omit<BackendInfo, 'source' | 'skipped'>;

async function loadNative(name: 'tensorflow-gpu' | 'tensorflow'): Promise<Loaded> {
  const probe = probeNative(nativePackage(name));
  if (probe.problem !== null) throw new Error(probe.problem);
  try {
    await importQuietly(probe.pkg);
  } catch (e) {
    throw new Error(`${probe.pkg} failed to load: ${firstLine(e)}`);
  }
  if (tf.findBackendFactory('tensorflow') === null) {
    throw new Error(`${probe.pkg} loaded but registered no 'tensorflow' backend with covsev's tfjs-core`);
  }
  if (!(await tf.setBackend('tensorflow'))) throw new Error(`${probe.pkg}: the 'tensorflow' backend failed to initialise`);
  const gpu = name === 'tensorflow-gpu' && (tf.backend() as { isUsingGpuDevice?: boolean }).isUsingGpuDevice === true;
  return {
    name,
    tfjsBackend: 'tensorflow',
    version: tf.version_core,
    backendPackage: `${probe.pkg}@${probe.version ?? 'unknown'}`,
    simd: null,
    threads: availableParallelism(),
    gpu,
    kernels: [],
  };
}

async function loadWasm(threads: number): Promise<Loaded> {
  const kernels = registerCovsevKernels();
  let ok: boolean;
  try {
    ok = await setWasmBackendThreads(threads);
  } catch (e) {
    throw new Error(`the wasm backend failed to initialise: ${firstLine(e)}`);
  }
  if (!ok) throw new Error('the wasm backend failed to initialise (see the error above)');
  const simd = simdKernelStatus(tf.backend() as BackendWasm);
  return {
    name: 'wasm',
    tfjsBackend: 'wasm',
    version: tf.version_core,
    backendPackage: `@tensorflow/tfjs-backend-wasm@${directDependencyVersion('@tensorflow/tfjs-backend-wasm')}`,
    simd: (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true,
    threads: getThreadsCount(),
    gpu: false,
    kernels,
    simdKernels: simd.loaded ? 'on' : `off: ${simd.reason}`,
  };
}

async function loadCpu(): Promise<Loaded> {
  if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend failed to initialise');
  return {
    name: 'cpu',
    tfjsBackend: 'cpu',
    version: tf.version_core,
    backendPackage: `@tensorflow/tfjs-backend-cpu@${tf.version_core}`,
    simd: null,
    threads: 1,
    gpu: false,
    kernels: [],
  };
}

function load(name: BackendName, wasmThreads: number): Promise<Loaded> {
  switch (name) {
    case 'tensorflow-gpu':
    case 'tensorflow':
      return loadNative(name);
    case 'wasm':
      return loadWasm(wasmThreads);
    case 'cpu':
      return loadCpu();
  }
}

/** The one line printed at start, e.g. "covsev engine: wasm (SIMD, 1 thread, covsev kernels: ...)". */
export function formatBackendInfo(info: BackendInfo): string {
  const parts: string[] = [];
  if (info.name === 'tensorflow-gpu') parts.push(info.gpu ? 'CUDA device' : 'no CUDA device visible: running on CPU');
  if (info.simd !== null) parts.push(info.simd ? 'SIMD' : 'no SIMD');
  parts.push(`${info.threads} thread${info.threads === 1 ? '' : 's'}`);
  if (info.kernels.length > 0) parts.push(`covsev kernels: ${info.kernels.join(', ')}`);
  if (info.simdKernels) parts.push(`SIMD kernels ${info.simdKernels}`);
  if (info.convolutions) parts.push(`convolutions: ${info.convolutions}`);
  if (info.source !== 'auto') parts.push(`from ${info.source === 'env' ? BACKEND_ENV : 'option'}`);
  const skipped =
    info.skipped.length > 0 ? `; skipped ${info.skipped.map((s) => s.name).join(', ')} (see getBackendInfo().skipped)` : '';
  return `covsev engine: ${info.name} (${parts.join(', ')})${skipped}`;
}

function requested(options: InitBackendOptions): { name: BackendName | null; source: BackendInfo['source'] } {
  if (options.prefer !== undefined) {
    if (!isBackendName(options.prefer)) {
      throw new Error(`covsev engine: unknown backend '${String(options.prefer)}'; valid: ${BACKEND_ORDER.join(', ')}`);
    }
    return { name: options.prefer, source: 'option' };
  }
  const fromEnv = (options.env ?? process.env)[BACKEND_ENV]?.trim();
  if (fromEnv === undefined || fromEnv === '' || fromEnv === 'auto') return { name: null, source: 'auto' };
  if (!isBackendName(fromEnv)) {
    throw new Error(`covsev engine: ${BACKEND_ENV}='${fromEnv}' is not a backend; valid: ${BACKEND_ORDER.join(', ')}, auto`);
  }
  return { name: fromEnv, source: 'env' };
}

/**
 * Selects and initialises the tfjs backend, registers covsev's kernels where it is wasm, prints
 * one line and records the choice. Calling it again with the same request returns the recorded
 * choice.
 *
 * Raises: an Error when an explicitly requested backend cannot load, saying why and which
 * backends can; an Error for an unknown backend name.
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  const { name, source } = requested(options);
  const wasmThreads = requestedWasmThreads(options.env ?? process.env);
  if (current !== undefined && current.source === source && (name === null || current.name === name)) {
    const sameThreads = current.name !== 'wasm' || current.threads === wasmThreads;
    if (tf.getBackend() === current.tfjsBackend && sameThreads) {
      if (current.name === 'wasm') current = { ...current, convolutions: chooseConvolutions(options) };
      return current;
    }
  }
  let info: BackendInfo | undefined;
  if (name !== null) {
    try {
      info = { ...(await load(name, wasmThreads)), source, skipped: [] };
    } catch (e) {
      const available = BACKEND_ORDER.filter((b) => b !== name && probeBackend(b) === null);
      const via = source === 'env' ? `${BACKEND_ENV}=${name}` : `prefer: '${name}'`;
      throw new Error(
        `covsev engine: backend '${name}' was requested (${via}) but cannot load: ${firstLine(e)}. ` +
          `Available here: ${available.join(', ')}.`,
      );
    }
  } else {
    const skipped: SkippedBackend[] = [];
    for (const candidate of BACKEND_ORDER) {
      try {
        info = { ...(await load(candidate, wasmThreads)), source, skipped };
        break;
      } catch (e) {
        skipped.push({ name: candidate, reason: firstLine(e) });
      }
    }
    if (info === undefined) {
      throw new Error(`covsev engine: no backend loads: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
    }
  }
  info = { ...info, convolutions: info.name === 'wasm' ? chooseConvolutions(options) : null };
  current = info;
  const log = options.log ?? ((line: string) => console.error(line));
  if (log !== false) log(formatBackendInfo(info));
  return info;
}
