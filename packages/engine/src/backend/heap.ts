/**
 * The wasm backend's heap is capped at 4 GiB. When a computation needs more, the wasm module
 * aborts ("Aborted()", "memory access out of bounds", "Cannot enlarge memory"), which says
 * nothing about why and leaves the backend unusable in this process. `explainHeapExhaustion`
 * turns such an error into a {@link WasmHeapError} that says what ran out and what to change.
 */
export class WasmHeapError extends Error {
  override readonly name = 'WasmHeapError';
}

const ABORT_PATTERNS = [/Aborted\(\)/, /memory access out of bounds/i, /Cannot enlarge memory/i, /Out of memory/i];

/** True when `error` looks like the wasm module running out of memory. */
export function isWasmHeapExhaustion(error: unknown): boolean {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return ABORT_PATTERNS.some((p) => p.test(message));
}

/**
 * Rethrows a wasm heap exhaustion as a WasmHeapError naming `what` (e.g. "a CMC training step of
 * 2 scans of 2x32x128x128") and the ways out (`ways`, default the CMC step's); any other error is
 * returned unchanged for the caller to rethrow.
 */
export function explainHeapExhaustion(
  error: unknown,
  what: string,
  ways = "micro-batches with gradient accumulation (the CMC step's microBatch: 'auto', which sizes them to the heap) or fewer scans per step, a smaller input grid or a narrower network",
): unknown {
  if (!isWasmHeapExhaustion(error)) return error;
  return new WasmHeapError(
    `${what} needs more memory than the wasm backend's 4 GiB heap. Use ${ways}, or a native backend (tfjs-node / tfjs-node-gpu). The wasm backend cannot continue in this process: restart it.`,
    { cause: error },
  );
}

/**
 * The wasm backend's current heap size in bytes (its linear memory, which grows on demand up to
 * 4 GiB), or undefined when the backend in use is not wasm. Cheap: reads one property.
 */
export function wasmHeapBytes(backend: unknown): number | undefined {
  const wasm = (backend as { wasm?: { HEAPU8?: Uint8Array } } | undefined)?.wasm;
  const heap = wasm?.HEAPU8;
  return heap === undefined ? undefined : heap.buffer.byteLength;
}
