/**
 * Data-parallel CMC gradients on worker threads: each worker holds a replica of the backbone in
 * its own tfjs instance (its own single-threaded wasm heap) and runs its share of a step's
 * micro-batches; the main thread keeps the model, the head, the losses and the optimiser.
 *
 * A step (all synchronous on the main thread, which sleeps in `Atomics.wait` while workers run):
 *   1. the main thread posts every worker the backbone's weights and running statistics and its
 *      micro-batches' input volumes;
 *   2. each worker runs its micro-batches forward under one tape, writes their feature rows into
 *      shared memory and waits, its tape open;
 *   3. the main thread takes the joint loss on all the rows (the contrastive loss and mixup couple
 *      the batch) and writes back each row's feature gradient (`headGradients`);
 *   4. each worker finishes its backward pass from those rows and writes its backbone gradients
 *      and running statistics into shared memory; the main thread adds the gradients up and
 *      averages the running statistics.
 * The gradients are those of `cmcGradients` with the same micro-batches (each a batch-norm
 * batch), without its second forward pass: a worker's tape stays open across the exchange.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import {
  assignMicroBatches,
  assignValues,
  awaitPhaseChange,
  type BackendName,
  chainRunningStatistics,
  ERROR_BYTES,
  fitMicroBatch,
  flatSpans,
  getBackendInfo,
  type MicroBatch,
  type NamedVariable,
  planMicroBatches,
  readValues,
  type StatisticUpdate,
  setPhase,
  statisticUpdates,
  type Volume5,
  WorkerPhase,
  type WorkerPhaseValue,
} from '@covsev/engine';
import * as tf from '@tensorflow/tfjs';
import { type CmcNetwork, isBackbone } from '../models/cmcNetwork.js';
import { backbonePasses, type CmcBatch, mapPasses } from './batch.js';
import type { WorkerSetup, WorkerStepMessage } from './dataParallelProtocol.js';
import { type CmcGradientOptions, type CmcGradients, headGradients, resolveMicroBatch } from './gradients.js';
import type { GradientWorkers } from './gradientWorkers.js';
import { stepMixup } from './objective.js';

export interface DataParallelOptions {
  /** Worker threads; default: the machine's available parallelism. At least 1. */
  readonly workers?: number;
  /** Longest wait for a worker's part of a step before giving up; default 30 minutes. */
  readonly timeoutMs?: number;
}

/** One worker's part of a step, on the main thread's side. */
interface Job {
  readonly share: readonly MicroBatch[];
  readonly rows: number;
  readonly control: Int32Array;
  readonly features: Float32Array;
  readonly featureGrads: Float32Array;
  readonly out: Float32Array;
  readonly error: Uint8Array;
}

export class CmcDataParallel implements GradientWorkers {
  private closed = false;
  /** How each backbone buffer is updated per micro-batch (to chain the workers' parts). */
  private readonly rules: ReadonlyMap<string, StatisticUpdate>;

  private constructor(
    private readonly model: CmcNetwork,
    private readonly workers: readonly Worker[],
    private readonly timeoutMs: number,
  ) {
    this.rules = statisticUpdates(model);
  }

  /** Starts the workers (each loads tfjs and builds the backbone); resolves when all are ready. */
  static async start(model: CmcNetwork, options: DataParallelOptions = {}): Promise<CmcDataParallel> {
    const count = options.workers ?? availableParallelism();
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`workers must be a whole number >= 1, got ${count}`);
    const backend = getBackendInfo()?.name ?? (tf.getBackend() as BackendName);
    const convolutions = getBackendInfo()?.convolutions?.startsWith('onnxruntime') ? 'onnxruntime' : 'xnnpack';
    const setup: WorkerSetup = { config: model.config, backend, convolutions };
    // The compiled worker, from src/train (tests) and dist/train alike.
    const url = new URL('../../dist/train/dataParallelWorker.js', import.meta.url);
    const workers = Array.from({ length: count }, () => new Worker(url, { workerData: setup }));
    try {
      await Promise.all(
        workers.map(
          (w, i) =>
            new Promise<void>((resolve, reject) => {
              w.once('message', (m: { type: string; error?: string }) =>
                m.type === 'ready' ? resolve() : reject(new Error(`data-parallel worker ${i} failed to start: ${m.error}`)),
              );
              w.once('error', (e) => reject(new Error(`data-parallel worker ${i} failed to start: ${e.message}`, { cause: e })));
              w.once('exit', (code) => reject(new Error(`data-parallel worker ${i} exited with code ${code} while starting`)));
            }),
        ),
      );
    } catch (error) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw error;
    }
    for (const w of workers) w.removeAllListeners();
    return new CmcDataParallel(model, workers, options.timeoutMs ?? 30 * 60 * 1000);
  }

  get workerCount(): number {
    return this.workers.length;
  }

  /**
   * The step's gradients and running statistics, as `cmcGradients` leaves them on this thread, for
   * any number of workers: the same micro-batches (`resolveMicroBatch`: 'auto' and 'off' keep whole
   * passes where they fit, a number cuts them), shared out as contiguous runs of the plan. A
   * worker's share runs on one tape, or each micro-batch on its own tape (a second forward pass,
   * one micro-batch's memory) where the share does not fit the heap or `microBatch` is a number.
   */
  gradients(batch: CmcBatch, options: CmcGradientOptions): CmcGradients {
    if (this.closed) throw new Error('CmcDataParallel is closed');
    const n = batch.labels.length;
    const microBatch = resolveMicroBatch(this.model, batch, options.microBatch);
    const auto = options.microBatch === undefined || options.microBatch === 'auto';
    const fit = auto ? fitMicroBatch(this.model, batch.views[0]) : Number.POSITIVE_INFINITY;
    const sizes = stepMixup(options) === undefined ? [2 * n] : [2 * n, n, n];
    const plan = planMicroBatches(sizes, microBatch);
    const shares = assignMicroBatches(plan, this.workers.length);
    const recompute = (share: readonly MicroBatch[]): boolean =>
      share.length > 1 && (typeof options.microBatch === 'number' || share.reduce((s, mb) => s + mb.count, 0) > fit);
    const params = this.model.parameters().filter((p) => isBackbone(p.name));
    const buffers = this.model.buffers().filter((b) => isBackbone(b.name));
    const featureSize = this.model.backbone.outChannels;
    const weights = readValues(params);
    const bufferValues = readValues(buffers);
    const depth = batch.views[0].depth;

    const passData = tf
      .tidy(() => backbonePasses(batch, stepMixup(options)).map((p: Volume5) => p.tensor))
      .map((t) => {
        const data = t.dataSync() as Float32Array;
        const shape = t.shape;
        t.dispose();
        return { data, shape };
      });
    const jobs = shares.map((share, w): Job => {
      const rows = share.reduce((s, mb) => s + mb.count, 0);
      const job: Job = {
        share,
        rows,
        control: new Int32Array(new SharedArrayBuffer(4)),
        features: new Float32Array(new SharedArrayBuffer(4 * rows * featureSize)),
        featureGrads: new Float32Array(new SharedArrayBuffer(4 * rows * featureSize)),
        out: new Float32Array(new SharedArrayBuffer(4 * (weights.length + bufferValues.length))),
        error: new Uint8Array(new SharedArrayBuffer(ERROR_BYTES)),
      };
      if (rows === 0) return job;
      const inputs = share.map((mb) => {
        const { data, shape } = passData[mb.pass] as { data: Float32Array; shape: number[] };
        const volumeSize = (data.length / (shape[0] as number)) * depth;
        return {
          data: data.slice(mb.start * volumeSize, (mb.start + mb.count) * volumeSize),
          count: mb.count,
          depth,
          shape: [mb.count * depth, shape[1], shape[2], shape[3]] as [number, number, number, number],
        };
      });
      const message: WorkerStepMessage = {
        type: 'step',
        recompute: recompute(share),
        weights,
        buffers: bufferValues,
        inputs,
        features: job.features.buffer as SharedArrayBuffer,
        featureGrads: job.featureGrads.buffer as SharedArrayBuffer,
        out: job.out.buffer as SharedArrayBuffer,
        control: job.control.buffer as SharedArrayBuffer,
        error: job.error.buffer as SharedArrayBuffer,
      };
      (this.workers[w] as Worker).postMessage(
        message,
        inputs.map((x) => x.data.buffer as ArrayBuffer),
      );
      return job;
    });
    const active = jobs.filter((j) => j.rows > 0);
    try {
      return this.exchange(active, jobs, { sizes, featureSize, weights, bufferValues, params, buffers, batch, options });
    } catch (error) {
      // Workers still inside the step give up on it (compare-and-swap: none waits on a dead step).
      for (const job of active) setPhase(job.control, WorkerPhase.Failed);
      throw error;
    }
  }

  private exchange(
    active: readonly Job[],
    jobs: readonly Job[],
    step: {
      sizes: readonly number[];
      featureSize: number;
      weights: Float32Array;
      bufferValues: Float32Array;
      params: readonly NamedVariable[];
      buffers: readonly NamedVariable[];
      batch: CmcBatch;
      options: CmcGradientOptions;
    },
  ): CmcGradients {
    const { sizes, featureSize, weights, bufferValues, params, buffers, batch, options } = step;
    // 2-3: every worker's feature rows, the joint loss, each row's gradient back.
    for (const job of active) this.await(job, WorkerPhase.Running, jobs.indexOf(job));
    const features = sizes.map((size) => new Float32Array(size * featureSize));
    for (const job of active) {
      let row = 0;
      for (const mb of job.share) {
        const rows = job.features.subarray(row * featureSize, (row + mb.count) * featureSize);
        (features[mb.pass] as Float32Array).set(rows, mb.start * featureSize);
        row += mb.count;
      }
    }
    const featureTensors = mapPasses(sizes, (size, i) => tf.tensor2d(features[i] as Float32Array, [size, featureSize]));
    let head: ReturnType<typeof headGradients>;
    try {
      head = headGradients(this.model, featureTensors, batch.labels, options);
    } finally {
      for (const t of featureTensors) t.dispose();
    }
    const featureGrads = head.featureGrads.map((g) => {
      const data = g.dataSync() as Float32Array;
      g.dispose();
      return data;
    });
    for (const job of active) {
      let row = 0;
      for (const mb of job.share) {
        const src = (featureGrads[mb.pass] as Float32Array).subarray(mb.start * featureSize, (mb.start + mb.count) * featureSize);
        job.featureGrads.set(src, row * featureSize);
        row += mb.count;
      }
      setPhase(job.control, WorkerPhase.GradientsReady);
    }

    // 4: backbone gradients summed, running statistics chained in plan order.
    const gradSum = new Float32Array(weights.length);
    const parts: { values: Float32Array; updates: number }[] = [];
    for (const job of active) {
      this.await(job, WorkerPhase.GradientsReady, jobs.indexOf(job));
      for (let i = 0; i < gradSum.length; i++) gradSum[i] = (gradSum[i] as number) + (job.out[i] as number);
      parts.push({ values: job.out.subarray(weights.length), updates: job.share.length });
    }
    const grads: Record<string, tf.Tensor> = { ...head.grads };
    for (const [{ name, variable }, from, to] of flatSpans(params))
      grads[name] = tf.tensor(gradSum.subarray(from, to), variable.shape);
    assignValues(buffers, chainRunningStatistics(buffers, this.rules, bufferValues, parts));
    return { grads, total: head.total, terms: head.terms };
  }

  /** Waits until the worker's control word leaves `from`; throws its error if it failed. */
  private await(job: Job, from: WorkerPhaseValue, index: number): void {
    awaitPhaseChange(job.control, from, job.error, this.timeoutMs, `data-parallel worker ${index}`);
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
