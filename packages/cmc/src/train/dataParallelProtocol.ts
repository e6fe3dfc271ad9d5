/**
 * What the main thread and a data-parallel worker exchange (`CmcDataParallel`,
 * dataParallelWorker.ts): the start-up data, the step message, and the states of the shared
 * control word through which they hand over within a step.
 */
import type { BackendName, ConvEngine, NamedVariable } from '@covsev/engine';
import * as tf from '@tensorflow/tfjs';
import type { CmcNetworkConfig } from '../models/cmcNetwork.js';

/** States of a worker's control word (a shared Int32Array of one element). */
export const WorkerPhase = {
  /** Main posted the step; the worker runs its forward passes. */
  Running: 0,
  /** Worker: feature rows written, tape open, waiting for their gradients. */
  FeaturesReady: 1,
  /** Main: feature gradients written. */
  GradientsReady: 2,
  /** Worker: backbone gradients and running statistics written. */
  Done: 3,
  /** Either side: the step is abandoned (the worker's error text, if it failed, is in `error`). */
  Failed: -1,
} as const;

/** What a worker is started with. */
export interface WorkerSetup {
  readonly config: CmcNetworkConfig;
  /** The tfjs backend the main thread runs (the workers run the same). */
  readonly backend: BackendName;
  /** What runs the wasm convolutions on the main thread (the workers run the same, 1 thread each). */
  readonly convolutions: ConvEngine;
}

/** What the main thread posts a worker for one step. */
export interface WorkerStepMessage {
  readonly type: 'step';
  /** Backbone parameters, then backbone buffers, flat in `model.parameters()` / `buffers()` order. */
  readonly weights: Float32Array;
  readonly buffers: Float32Array;
  /** This worker's micro-batches: rows [count * depth, H, W, C] of the NDHWC input. */
  readonly inputs: readonly {
    readonly data: Float32Array;
    readonly count: number;
    readonly depth: number;
    readonly shape: readonly [number, number, number, number];
  }[];
  /**
   * false: one tape over all of `inputs`, kept open across the exchange. true: memory for one
   * micro-batch at a time: features without a tape, then each micro-batch again under its own.
   */
  readonly recompute: boolean;
  /** Feature rows out, [rows, F], in the order of `inputs`. */
  readonly features: SharedArrayBuffer;
  /** Their gradients in, same layout. */
  readonly featureGrads: SharedArrayBuffer;
  /** Backbone gradients, then backbone buffers after the step, flat. */
  readonly out: SharedArrayBuffer;
  /** The control word (`WorkerPhase`). */
  readonly control: SharedArrayBuffer;
  /** A failed worker's error text, UTF-8, zero-terminated. */
  readonly error: SharedArrayBuffer;
}

/** Each variable with the span [from, to) its values take in one flat array of all of them, from `start`. */
export function flatSpans(list: readonly NamedVariable[], start = 0): [NamedVariable, number, number][] {
  let offset = start;
  return list.map((entry) => {
    const from = offset;
    offset += entry.variable.size;
    return [entry, from, offset];
  });
}

/** The variables' values, flat and in order, written into `out` from `start` (default: a new array). */
export function readValues(list: readonly NamedVariable[], out?: Float32Array, start = 0): Float32Array {
  const flat = out ?? new Float32Array(list.reduce((n, e) => n + e.variable.size, 0));
  for (const [{ variable }, from] of flatSpans(list, start)) flat.set(variable.dataSync() as Float32Array, from);
  return flat;
}

/** Assigns flat, ordered values to the variables; refuses a length that does not match. */
export function assignValues(list: readonly NamedVariable[], values: Float32Array): void {
  const spans = flatSpans(list);
  const size = spans.at(-1)?.[2] ?? 0;
  if (size !== values.length) throw new RangeError(`${values.length} values for ${size} weights`);
  tf.tidy(() => {
    for (const [{ variable }, from, to] of spans)
      variable.assign(tf.tensor(values.subarray(from, to), variable.shape, variable.dtype));
  });
}
