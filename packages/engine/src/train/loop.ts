/**
 * A small generic training loop: seeded streams, resume from the last checkpoint, a
 * checkpoint after every epoch, and the event stream. The model, the step and the evaluation
 * are the trainer's; the loop only sequences them.
 *
 * Resume semantics: the loop checkpoints at the end of every epoch (weights, optimiser, RNG
 * streams, epoch and step counters). Started again on the same run folder, it restores the
 * latest checkpoint and continues at the first epoch that checkpoint lacks, so a crash costs
 * the interrupted epoch only, and (with deterministic kernels, and trainers that draw all
 * randomness from `ctx.rngs`) the resumed run ends with exactly the weights of an
 * uninterrupted one. A truncated or corrupt latest checkpoint is passed over for the newest
 * intact one (moved aside, said in `run-start.skippedCheckpoints` and `onWarning`); with none
 * intact the run stops (`resumeOrStart`).
 */
import { join } from 'node:path';
import { EVENTS_FILE, EventLog, type Numbers, type TrainEvent } from '@covsev/events';
import * as tf from '@tensorflow/tfjs';
import { formatBackendInfo, getBackendInfo } from '../backend/select.js';
import { saveCheckpoint, snapshotWeights } from './checkpoint.js';
import type { JsonObject, JsonValue } from './json.js';
import type { Optimizer } from './optimizer.js';
import { resumeOrStart } from './resume.js';
import type { LrSchedule } from './schedule.js';
import { type RngStreams, rngStates, seedEverything } from './seed.js';
import type { NamedVariables } from './variables.js';

/** What `init` builds: the weights the loop checkpoints and the optimiser that trains them. */
export interface TrainModel {
  variables: NamedVariables;
  optimizer: Optimizer;
}

export interface StepContext<M extends TrainModel> {
  model: M;
  /** 0-based epoch and step within it. */
  epoch: number;
  step: number;
  /** Steps taken before this one over the whole run. */
  globalStep: number;
  lr: number;
  /** The run's RNG streams: draw every random number of the step from these. */
  rngs: RngStreams;
}

export interface EpochContext<M extends TrainModel> {
  model: M;
  epoch: number;
  lr: number;
  rngs: RngStreams;
}

/** A step's loss, or its components (the first, or `total`, is the headline). */
export type StepOutput = number | Record<string, number>;

export interface RunTrainingOptions<M extends TrainModel> {
  /** The run folder: `events.jsonl` and `checkpoints/` live here. */
  runDir: string;
  epochs: number;
  stepsPerEpoch: number;
  seed: number;
  /** Stored in checkpoints and the `run-start` event; a resume with another config is refused. */
  config?: JsonValue;
  /**
   * How this process runs the job (worker threads and the like): recorded in the `run-start`
   * event, not compared on resume (a run may resume on a machine with other cores).
   */
  runtime?: JsonValue;
  /** Builds the model (draw initial weights from `rngs.init`); on resume its weights are then replaced. */
  init(ctx: { rngs: RngStreams; seed: number }): M | Promise<M>;
  /** One optimisation step: compute the loss and gradients, call `model.optimizer.step`. */
  trainStep(ctx: StepContext<M>): StepOutput | Promise<StepOutput>;
  /** Validation after each epoch; its metrics go into the `epoch` event and the checkpoint. */
  evaluate?(ctx: EpochContext<M>): Record<string, number> | Promise<Record<string, number>>;
  /** The learning rate per 0-based epoch (e.g. `stepSchedule`); without one the optimiser's lr stays. */
  schedule?: LrSchedule | ((epoch: number) => number);
  /** Checkpoints kept; default 3. */
  keepLast?: number;
  /** Resume even when the checkpoint's seed or config differ. */
  allowConfigChange?: boolean;
  /** Also receives every event in process (the log file is written regardless). */
  onEvent?: (event: TrainEvent) => void;
  /**
   * Told, in a sentence, what recovery did (a corrupt checkpoint skipped and moved aside);
   * default: `console.warn`. The `run-start` event's `skippedCheckpoints` says the same.
   */
  onWarning?: (message: string) => void;
}

export interface RunTrainingResult<M extends TrainModel> {
  model: M;
  /** Epochs run by this call (0 when the run was already complete). */
  epochsRun: number;
  globalStep: number;
  resumedFrom?: string;
  /** The last checkpoint folder written by this call. */
  lastCheckpoint?: string;
}

/** What `initBackend` chose (threads, SIMD, covsev kernels), when it was used. */
function backendDetail(): { backendInfo?: string } {
  const info = getBackendInfo();
  return info === undefined || info.tfjsBackend !== tf.getBackend() ? {} : { backendInfo: formatBackendInfo(info) };
}

/** Runs (or resumes) a training run to `epochs`; see the module comment for the semantics. */
export async function runTraining<M extends TrainModel>(options: RunTrainingOptions<M>): Promise<RunTrainingResult<M>> {
  const { runDir, epochs, stepsPerEpoch, seed } = options;
  if (!(Number.isInteger(epochs) && epochs > 0)) throw new RangeError(`epochs must be a positive integer, got ${epochs}`);
  if (!(Number.isInteger(stepsPerEpoch) && stepsPerEpoch > 0))
    throw new RangeError(`stepsPerEpoch must be a positive integer, got ${stepsPerEpoch}`);
  const config = options.config ?? null;
  const log = EventLog.open<TrainEvent>(join(runDir, EVENTS_FILE), options.onEvent);
  const started = performance.now();
  let where: { epoch?: number; step?: number } = {};
  try {
    const rngs = seedEverything(seed);
    const model = await options.init({ rngs, seed });
    const resume = await resumeOrStart({
      runDir,
      variables: model.variables,
      optimizer: model.optimizer,
      rngs,
      seed,
      config,
      allowConfigChange: options.allowConfigChange ?? false,
      onWarning: options.onWarning ?? ((message) => console.warn(`covsev: ${message}`)),
    });
    log.emit({
      type: 'run-start',
      version: 1,
      backend: tf.getBackend(),
      ...backendDetail(),
      config,
      ...(options.runtime === undefined ? {} : { runtime: options.runtime }),
      seed,
      epochs,
      stepsPerEpoch,
      startEpoch: resume.epoch,
      startStep: resume.globalStep,
      ...(resume.resumedFrom === undefined ? {} : { resumedFrom: resume.resumedFrom }),
      ...(resume.skippedCheckpoints === undefined
        ? {}
        : { skippedCheckpoints: resume.skippedCheckpoints.map(({ path, reason, movedTo }) => ({ path, reason, movedTo })) }),
      pid: process.pid,
    });
    let globalStep = resume.globalStep;
    let lastCheckpoint: string | undefined;
    const epochMs: number[] = [];
    for (let epoch = resume.epoch; epoch < epochs; epoch++) {
      const lr = options.schedule === undefined ? model.optimizer.lr : options.schedule(epoch);
      model.optimizer.lr = lr;
      const epochStart = performance.now();
      let lossSum = 0;
      for (let step = 0; step < stepsPerEpoch; step++) {
        where = { epoch, step };
        const t0 = performance.now();
        const losses = lossRecord(await options.trainStep({ model, epoch, step, globalStep, lr, rngs }));
        globalStep++;
        lossSum += headline(losses);
        log.emit({ type: 'step', epoch, step, globalStep, losses: finite(losses), lr, ms: performance.now() - t0 });
      }
      where = { epoch };
      const metrics: Record<string, number> = { loss: lossSum / stepsPerEpoch };
      if (options.evaluate !== undefined) Object.assign(metrics, await options.evaluate({ model, epoch, lr, rngs }));
      const ms = performance.now() - epochStart;
      epochMs.push(ms);
      const eta = (epochMs.reduce((a, b) => a + b, 0) / epochMs.length) * (epochs - epoch - 1);
      lastCheckpoint = await saveCheckpoint(
        runDir,
        {
          epoch: epoch + 1,
          globalStep,
          seed,
          config,
          weights: snapshotWeights(model.variables),
          optimizer: model.optimizer.state(),
          rng: rngStates(rngs),
          lr,
          schedule: options.schedule !== undefined && 'description' in options.schedule ? options.schedule.description : null,
          extra: { metrics: finite(metrics) as JsonObject },
        },
        options.keepLast === undefined ? {} : { keepLast: options.keepLast },
      );
      // Emitted once the epoch is durable, so the log never shows an epoch that a resume runs
      // again. (A crash between the save and these lines loses the two lines, not the epoch;
      // the checkpoint's state.json keeps its metrics.)
      log.emit({ type: 'epoch', epoch, metrics: finite(metrics), lr, ms, eta });
      log.emit({ type: 'checkpoint', epoch: epoch + 1, path: lastCheckpoint });
    }
    where = {};
    log.emit({ type: 'run-end', epochs, globalStep, ms: performance.now() - started });
    const result: RunTrainingResult<M> = { model, epochsRun: epochs - resume.epoch, globalStep };
    if (resume.resumedFrom !== undefined) result.resumedFrom = resume.resumedFrom;
    if (lastCheckpoint !== undefined) result.lastCheckpoint = lastCheckpoint;
    return result;
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    log.emit({ type: 'error', name: e.name, message: e.message, ...where, ...(e.stack === undefined ? {} : { stack: e.stack }) });
    throw error;
  } finally {
    log.close();
  }
}

function lossRecord(output: StepOutput): Record<string, number> {
  if (typeof output === 'number') return { loss: output };
  if (Object.keys(output).length === 0) throw new RangeError('trainStep returned no loss');
  return output;
}

/** `total` when given, else the first component. */
function headline(losses: Record<string, number>): number {
  return losses.total ?? (Object.values(losses)[0] as number);
}

function finite(values: Record<string, number>): Numbers {
  const out: Numbers = {};
  for (const [k, v] of Object.entries(values)) out[k] = Number.isFinite(v) ? v : null;
  return out;
}
