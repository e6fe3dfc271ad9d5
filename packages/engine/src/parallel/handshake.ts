/**
 * The hand-over within a data-parallel step between the main thread and a worker that runs the
 * forward and backward passes of its share (the head and the loss stay on the main thread): one
 * shared control word (an Int32Array of one element) moves through `WorkerPhase`, each side
 * sleeping in `Atomics.wait` for the other. A worker's error text travels in a shared byte buffer.
 * The payload layout (features, their gradients, weights) is the trainer's.
 */

/** States of a worker's control word. */
export const WorkerPhase = {
  /** Main posted the step; the worker runs its forward passes. */
  Running: 0,
  /** Worker: feature rows written, tape open, waiting for their gradients. */
  FeaturesReady: 1,
  /** Main: feature gradients written. */
  GradientsReady: 2,
  /** Worker: gradients (and whatever else the step returns) written. */
  Done: 3,
  /** Either side: the step is abandoned (the worker's error text, if it failed, is in its error buffer). */
  Failed: -1,
} as const;
export type WorkerPhaseValue = (typeof WorkerPhase)[keyof typeof WorkerPhase];

/** Bytes of a worker's error buffer (UTF-8, zero-terminated). */
export const ERROR_BYTES = 8192;

/** Sets the control word and wakes the other side. */
export function setPhase(control: Int32Array, phase: WorkerPhaseValue): void {
  Atomics.store(control, 0, phase);
  Atomics.notify(control, 0);
}

/**
 * Main thread: waits until the worker's control word leaves `from` (at most `timeoutMs`); throws,
 * naming the worker as `who`, when it gives no answer in time or when it failed (with its error text).
 */
export function awaitPhaseChange(
  control: Int32Array,
  from: WorkerPhaseValue,
  error: Uint8Array,
  timeoutMs: number,
  who: string,
): void {
  const deadline = Date.now() + timeoutMs;
  while (Atomics.load(control, 0) === from) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`${who} gave no answer in ${timeoutMs} ms`);
    Atomics.wait(control, 0, from, Math.min(left, 1000));
  }
  if (Atomics.load(control, 0) === WorkerPhase.Failed) throw new Error(`${who} failed: ${readError(error)}`);
}

/** Thrown in a worker when the main thread abandoned the step. */
export class StepAborted extends Error {
  override readonly name = 'StepAborted';
}

/**
 * Worker: publishes its feature rows (Running -> FeaturesReady) and waits for their gradients;
 * throws `StepAborted` if the main thread gave up on the step first or instead.
 */
export function handOver(control: Int32Array): void {
  if (Atomics.compareExchange(control, 0, WorkerPhase.Running, WorkerPhase.FeaturesReady) !== WorkerPhase.Running)
    throw new StepAborted();
  Atomics.notify(control, 0);
  while (Atomics.load(control, 0) === WorkerPhase.FeaturesReady) Atomics.wait(control, 0, WorkerPhase.FeaturesReady);
  if (Atomics.load(control, 0) !== WorkerPhase.GradientsReady) throw new StepAborted();
}

/** Worker: writes its error's text (truncated to the buffer) and marks the step failed. */
export function failStep(control: Int32Array, errorBuffer: Uint8Array, error: unknown): void {
  const text = new TextEncoder().encode(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
  errorBuffer.fill(0);
  errorBuffer.set(text.subarray(0, errorBuffer.byteLength - 1));
  setPhase(control, WorkerPhase.Failed);
}

/** The zero-terminated UTF-8 text of an error buffer. */
export function readError(error: Uint8Array): string {
  const end = error.indexOf(0);
  return new TextDecoder().decode(error.slice(0, end < 0 ? error.length : end));
}
