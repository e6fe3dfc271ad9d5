/**
 * Opt-in: the multi-threaded wasm build (tfjs-backend-wasm-threaded-simd) in Node, so that XNNPACK
 * convolutions and matMuls run on several cores. Off by default; COVSEV_WASM_THREADS=2 turns it on.
 *
 * tfjs 4.22 never picks that build in Node, and three things stop it when forced:
 * 1. WASM_HAS_MULTITHREAD_SUPPORT is hard-wired to false in Node (tfjs issue 3830): we set it.
 * 2. The pthread worker script comes as a blob: URL (locateFile -> URL.createObjectURL), which
 *    Node's worker_threads cannot load, and the worker then loads the main glue from a Blob of
 *    the bundled factory, which refers to the bundle's closure (require$$0, ...) and cannot run
 *    on its own. We write the worker script to a temp file, patched to load the package's
 *    stand-alone glue (wasm-out/tfjs-backend-wasm-threaded-simd.js) instead.
 * 3. backend.cc caps the XNNPACK pool at emscripten_num_logical_cores() / 2, which Node answers
 *    with os.cpus().length: on a 2-core machine, 1 thread whatever setThreadsCount says. We
 *    report 2 x the requested count from os.cpus() while the module starts, then restore it.
 * After start the pool's running workers are unref'd, else they keep the process alive at exit.
 *
 * Measured on a 2-core AVX-512 machine: conv2d x[8,64,64,32] * w[3,3,32,64] 45 -> 26 ms, matMul
 * 1024^3 70 -> 40 ms, results bit-identical to the single-threaded build.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { type BackendWasm, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { packageDir } from './packages.js';

/** The environment variable that asks for the threaded wasm build with that many threads. */
export const WASM_THREADS_ENV = 'COVSEV_WASM_THREADS';

/** The threaded build preallocates 8 pthread workers and backend.cc caps its pool at 8. */
export const MAX_WASM_THREADS = 8;

/** Threads asked for in `env` (1, the single-threaded build, when unset). */
export function requestedWasmThreads(env: Record<string, string | undefined>): number {
  const raw = env[WASM_THREADS_ENV]?.trim();
  if (raw === undefined || raw === '') return 1;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_WASM_THREADS) {
    throw new Error(`covsev engine: ${WASM_THREADS_ENV}='${raw}' is not a thread count; valid: 1 to ${MAX_WASM_THREADS}`);
  }
  return n;
}

const WORKER_LOAD = 'if(typeof e.data.urlOrBlob=="string")';
let workerFile: string | undefined;
let multithreadFlagSet = false;

/** Writes the pthread worker script to a temp file (once per process), loading the stand-alone glue. */
function writeWorkerScript(): string {
  if (workerFile !== undefined) return workerFile;
  const dir = packageDir('@tensorflow/tfjs-backend-wasm');
  if (dir === undefined) throw new Error('@tensorflow/tfjs-backend-wasm is not installed');
  const glue = join(dir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js');
  const { wasmWorkerContents } = createRequire(import.meta.url)(
    join(dir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.worker.js'),
  ) as { wasmWorkerContents: string };
  if (!wasmWorkerContents.includes(WORKER_LOAD)) {
    throw new Error(`${WASM_THREADS_ENV}: this tfjs-backend-wasm's worker script is not the one covsev knows (4.22.0)`);
  }
  const script = wasmWorkerContents
    .replace(WORKER_LOAD, `if(true){importScripts(${JSON.stringify(glue)})}else ${WORKER_LOAD}`)
    // as tfjs does for its Blob: the template literal turned the "\n" escapes into newlines
    .replace(/\n/g, '\\n');
  const tmp = mkdtempSync(join(os.tmpdir(), 'covsev-wasm-threads-'));
  const file = join(tmp, 'tfjs-backend-wasm-threaded-simd.worker.cjs');
  writeFileSync(file, script);
  process.once('exit', () => rmSync(tmp, { recursive: true, force: true }));
  workerFile = file;
  return file;
}

/** The wasm backend's thread count if it is already initialised, else undefined. */
export function initialisedWasmThreads(): number | undefined {
  const registry = (tf.engine() as unknown as { registry: Record<string, unknown> }).registry;
  const backend = registry.wasm as BackendWasm | undefined;
  if (backend === undefined) return undefined;
  return (backend.wasm as unknown as { tfjs: { getThreadsCount(): number } }).tfjs.getThreadsCount();
}

/**
 * Initialises the wasm backend with `threads` XNNPACK threads (1: the stock single-threaded SIMD
 * build), re-creating it if it was initialised with another count. Returns what tf.setBackend does.
 */
export async function setWasmBackendThreads(threads: number): Promise<boolean> {
  const have = initialisedWasmThreads();
  if (have !== undefined && have !== threads) {
    const factory = tf.findBackendFactory('wasm');
    if (factory === null) throw new Error('the wasm backend is not registered');
    tf.removeBackend('wasm');
    tf.registerBackend('wasm', factory, 2 /* WASM_PRIORITY */);
  }
  if (threads === 1) {
    if (multithreadFlagSet) {
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      setThreadsCount(-1);
      multithreadFlagSet = false;
    }
    return tf.setBackend('wasm');
  }
  const file = writeWorkerScript();
  const createObjectURL = URL.createObjectURL;
  const cpus = os.cpus;
  // tfjs's locateFile asks for a blob: URL of the worker script only; give it the file.
  URL.createObjectURL = () => file;
  os.cpus = () => {
    const list = cpus.call(os);
    const first = list[0];
    if (first === undefined) return list;
    return Array.from({ length: 2 * threads }, (_, i) => list[i] ?? first);
  };
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  multithreadFlagSet = true;
  setThreadsCount(threads);
  try {
    const ok = await tf.setBackend('wasm');
    if (ok) {
      const pthread = (tf.backend() as BackendWasm).wasm as unknown as {
        PThread?: { runningWorkers: { unref(): void }[] };
      };
      for (const w of pthread.PThread?.runningWorkers ?? []) w.unref();
    }
    return ok;
  } finally {
    URL.createObjectURL = createObjectURL;
    os.cpus = cpus;
  }
}
