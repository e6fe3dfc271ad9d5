/**
 * What the main thread and a data-parallel worker exchange (`CmcDataParallel`,
 * dataParallelWorker.ts): the start-up data and the step message. Within a step they hand over
 * through a shared control word (the engine's `WorkerPhase`, `handOver`, `awaitPhaseChange`) and
 * exchange variables flat (`flatSpans`, `readValues`, `assignValues`).
 */
import type { BackendName, ConvEngine } from '@covsev/engine';
import type { CmcNetworkConfig } from '../models/cmcNetwork.js';

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
  /** The control word (the engine's `WorkerPhase`). */
  readonly control: SharedArrayBuffer;
  /** A failed worker's error text, UTF-8, zero-terminated. */
  readonly error: SharedArrayBuffer;
}
