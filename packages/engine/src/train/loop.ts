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
 *
 * Control channel: at every step boundary the loop reads the commands appended to
 * `<runDir>/control.jsonl` (`ControlReader`; `control: false` turns it off). `checkpoint` writes
 * a checkpoint there and goes on; `stop` writes one, ends the run (`run-end` with `stopped`)
 * and returns. A checkpoint between two steps of an epoch is `epoch-<n>-step-<k>`: it holds the
 * RNG states, the optimiser, the epoch's loss so far and the trainer's own state
 * (`trainerState`, e.g. the epoch's data order), so a resume continues at step k of epoch n
 * with exactly the numbers an uninterrupted run would have had. Each command is answered by a
 * `control` event.
 *
 * Best epoch: with `monitor`, the loop keeps the best epoch's checkpoint as
 * `<runDir>/checkpoints/best/` (a hard-linked copy, never pruned) and says which in every
 * `epoch` event's `best`.
 *
 * Non-finite loss: a step whose headline loss (`total`, else the first term) is NaN or infinite
 * ends the run with a `NonFiniteLossError` (the `error` event names the epoch, the step and every
 * term); nothing of the weights it made is saved, so `latest.json` keeps the last good
 * checkpoint. A trainer that checks its loss before its optimiser step (the CMC step does) throws
 * the same error, which the loop says at its step.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type BestEpoch,
  type ClassReportSummary,
  EVENTS_FILE,
  EventLog,
  type MemoryUsage,
  type Numbers,
  type TrainEvent,
} from '@covsev/events';
import * as tf from '@tensorflow/tfjs';
import { wasmHeapBytes } from '../backend/heap.js';
import { formatBackendInfo, getBackendInfo } from '../backend/select.js';
import { BEST_DIR, checkpointName, checkpointsDir, saveBestCheckpoint, saveCheckpoint, snapshotWeights } from './checkpoint.js';
import { ControlReader } from './control.js';
import { canonicalJson, type JsonObject, type JsonValue } from './json.js';
import { NonFiniteLossError } from './nonFinite.js';
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

/** A step's losses with the number of samples (volumes or slices) it trained on. */
export interface StepResult {
  losses: number | Record<string, number>;
  samples?: number;
}

/** A step's loss, or its components (the first, or `total`, is the headline), or those with its sample count. */
export type StepOutput = number | Record<string, number> | StepResult;

/** Validation metrics, optionally with per-class scores (the `epoch` event's `report`). */
export interface EvaluateResult {
  metrics: Record<string, number>;
  report?: ClassReportSummary;
}

/** What a trainer keeps across steps of an epoch (e.g. the epoch's data order), saved in every checkpoint. */
export interface TrainerStateHook {
  /** The state now, as JSON (called at a checkpoint, between two steps or after an epoch). */
  save(): JsonValue;
  /** Puts back what `save` gave (called once on resume, before the first step). */
  restore(state: JsonValue): void;
}

/** The metric that decides the best epoch. */
export interface MonitorOptions {
  /** A key of the epoch's metrics, e.g. `valMacroF1` (or `loss`). */
  metric: string;
  mode: 'max' | 'min';
  /** Decides between epochs of equal `metric` (e.g. the lower validation loss); else the earlier epoch stays. */
  tieBreak?: { metric: string; mode: 'max' | 'min' };
}

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
  /**
   * Runs once on a fresh start (no checkpoint to resume), after `init` and before the `run-start`
   * event and the first step: what only a new run's weights need (pretrained weights). A resume
   * skips it: the checkpoint has the weights.
   */
  fresh?(ctx: { model: M; rngs: RngStreams }): void | Promise<void>;
  /** One optimisation step: compute the loss and gradients, call `model.optimizer.step`. */
  trainStep(ctx: StepContext<M>): StepOutput | Promise<StepOutput>;
  /**
   * Runs after each epoch's last step, before `evaluate` and the epoch's checkpoint: what the
   * model needs before it is validated and saved (e.g. `recalibrateBatchNorm`).
   */
  afterEpoch?(ctx: EpochContext<M>): void | Promise<void>;
  /** Validation after each epoch; its metrics (and report) go into the `epoch` event and the checkpoint. */
  evaluate?(ctx: EpochContext<M>): Record<string, number> | EvaluateResult | Promise<Record<string, number> | EvaluateResult>;
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
  /** Read `<runDir>/control.jsonl` at every step boundary (the control channel); default true. */
  control?: boolean;
  /**
   * The trainer's per-epoch state (its data order, views drawn ahead), stored in every
   * checkpoint and restored on resume, so a resume from a mid-epoch checkpoint is exact.
   */
  trainerState?: TrainerStateHook;
  /** The model, for people: the `run-start` event's `model` (e.g. "resnest-tiny-3d, 1 channel(s)"). */
  label?: string;
  /** What is trained: the `run-start` event's `kind`. */
  kind?: 'classifier' | 'segmentation';
  /** Samples (volumes or slices) per step, for the `step` event's `samples` when `trainStep` does not say. */
  samplesPerStep?: number;
  /** Track the best epoch by this metric and keep its checkpoint as `checkpoints/best/`. */
  monitor?: MonitorOptions;
  /** Memory use in every `step` event (`memory`); default true. */
  memory?: boolean;
}

export interface RunTrainingResult<M extends TrainModel> {
  model: M;
  /** Epochs run by this call (0 when the run was already complete). */
  epochsRun: number;
  globalStep: number;
  resumedFrom?: string;
  /** The last checkpoint folder written by this call. */
  lastCheckpoint?: string;
  /** True when a `stop` command ended the run before its last epoch (a later call resumes it). */
  stopped: boolean;
  /** The best epoch so far (with `monitor`), its checkpoint in `path`. */
  best?: BestEpoch;
}

/** The best epoch as kept in checkpoints (`extra.best`). */
interface BestState {
  epoch: number;
  metric: string;
  value: number;
  tie?: number;
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
  const onWarning = options.onWarning ?? ((message: string) => console.warn(`covsev: ${message}`));
  const startTime = Date.now();
  const log = EventLog.open<TrainEvent>(join(runDir, EVENTS_FILE), options.onEvent);
  const control = options.control === false ? undefined : new ControlReader(runDir, startTime, onWarning);
  const monitor = options.monitor;
  const bestPath = join(checkpointsDir(runDir), BEST_DIR);
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
      onWarning,
    });
    if (resume.resumedFrom === undefined) await options.fresh?.({ model, rngs });
    const saved = resume.checkpoint;
    const resumeStep = resume.step ?? 0;
    if (saved?.trainerState !== undefined && options.trainerState !== undefined) options.trainerState.restore(saved.trainerState);
    let best = monitor === undefined ? undefined : readBest(saved?.extra?.best, monitor);
    if (best !== undefined) await repairBest(runDir, best, bestPath);
    log.emit({
      type: 'run-start',
      version: 1,
      backend: tf.getBackend(),
      ...backendDetail(),
      config,
      configHash: createHash('sha256').update(canonicalJson(config)).digest('hex'),
      ...(options.label === undefined ? {} : { model: options.label }),
      ...(options.kind === undefined ? {} : { kind: options.kind }),
      ...(options.runtime === undefined ? {} : { runtime: options.runtime }),
      seed,
      epochs,
      stepsPerEpoch,
      startEpoch: resume.epoch,
      ...(resumeStep > 0 ? { startStepInEpoch: resumeStep } : {}),
      startStep: resume.globalStep,
      ...(resume.resumedFrom === undefined ? {} : { resumedFrom: resume.resumedFrom }),
      ...(resume.skippedCheckpoints === undefined
        ? {}
        : { skippedCheckpoints: resume.skippedCheckpoints.map(({ path, reason, movedTo }) => ({ path, reason, movedTo })) }),
      pid: process.pid,
    });
    let globalStep = resume.globalStep;
    let lastCheckpoint: string | undefined;
    /** The checkpoint of the state now, when one was written (or resumed from) since the last step. */
    let current: string | undefined = resume.resumedFrom;
    const keep = options.keepLast === undefined ? {} : { keepLast: options.keepLast };
    const schedule = options.schedule !== undefined && 'description' in options.schedule ? options.schedule.description : null;
    const bestExtra = (): JsonObject => (best === undefined ? {} : { best: { ...best } as JsonObject });
    const save = async (epochsDone: number, stepInEpoch: number, lr: number, extra: JsonObject): Promise<string> => {
      const path = await saveCheckpoint(
        runDir,
        {
          epoch: epochsDone,
          step: stepInEpoch,
          globalStep,
          seed,
          config,
          weights: snapshotWeights(model.variables),
          optimizer: model.optimizer.state(),
          rng: rngStates(rngs),
          lr,
          schedule,
          extra: { ...extra, ...bestExtra() },
          ...(options.trainerState === undefined ? {} : { trainerState: options.trainerState.save() }),
        },
        keep,
      );
      lastCheckpoint = path;
      current = path;
      return path;
    };
    /**
     * Answers the control commands appended since the last look, at the boundary before step
     * `step` of epoch `epoch` (`epoch` epochs and `step` steps done). True when told to stop.
     */
    const obey = async (epoch: number, step: number, lr: number, lossSum: number, atEnd: boolean): Promise<boolean> => {
      if (control === undefined) return false;
      let stop = false;
      for (const request of control.poll()) {
        const answer = { type: 'control' as const, id: request.id, command: request.command };
        if (stop) {
          log.emit({ ...answer, status: 'refused', message: 'the run stopped before this command' });
          continue;
        }
        if (request.command !== 'stop' && request.command !== 'checkpoint') {
          log.emit({
            ...answer,
            status: 'refused',
            message: `unknown command ${JSON.stringify(request.command)} (stop, checkpoint)`,
          });
          continue;
        }
        let path = current;
        if (path === undefined) {
          path = await save(epoch, step, lr, step > 0 ? { epochLossSum: lossSum } : {});
          log.emit({ type: 'checkpoint', epoch, ...(step > 0 ? { step } : {}), path });
        }
        const at = step > 0 ? `epoch ${epoch + 1}, step ${step}` : `the end of epoch ${epoch}`;
        if (request.command === 'stop') {
          stop = !atEnd;
          log.emit({
            ...answer,
            status: 'done',
            message: atEnd ? `the run is complete (checkpoint ${path})` : `stopped at ${at}; checkpoint ${path}`,
            path,
          });
        } else {
          log.emit({ ...answer, status: 'done', message: `checkpoint at ${at}`, path });
        }
      }
      return stop;
    };

    let stopped = false;
    let epochsRun = 0;
    const epochMs: number[] = [];
    run: for (let epoch = resume.epoch; epoch < epochs; epoch++) {
      const lr = options.schedule === undefined ? model.optimizer.lr : options.schedule(epoch);
      model.optimizer.lr = lr;
      const epochStart = performance.now();
      const firstStep = epoch === resume.epoch ? resumeStep : 0;
      const partial = firstStep > 0 ? saved?.extra?.epochLossSum : undefined;
      let lossSum = typeof partial === 'number' ? partial : 0;
      for (let step = firstStep; step < stepsPerEpoch; step++) {
        where = { epoch, step };
        if (await obey(epoch, step, lr, lossSum, false)) {
          stopped = true;
          break run;
        }
        const t0 = performance.now();
        let output: StepOutput;
        try {
          output = await options.trainStep({ model, epoch, step, globalStep, lr, rngs });
        } catch (error) {
          // A trainer that checked its loss before its optimiser step: said at this step.
          throw error instanceof NonFiniteLossError && error.place === undefined ? error.at({ epoch, step }) : error;
        }
        const { losses, samples } = stepResult(output, options.samplesPerStep);
        // A NaN or infinite headline loss stops the run before anything is saved of the weights it made.
        if (!Number.isFinite(headline(losses))) throw new NonFiniteLossError(losses, { epoch, step });
        globalStep++;
        current = undefined;
        lossSum += headline(losses);
        const ms = performance.now() - t0;
        log.emit({
          type: 'step',
          epoch,
          step,
          globalStep,
          losses: finite(losses),
          lr,
          ms,
          ...(samples === undefined ? {} : { samples }),
          ...(options.memory === false ? {} : { memory: memoryUsage() }),
        });
      }
      where = { epoch };
      const metrics: Record<string, number> = { loss: lossSum / stepsPerEpoch };
      let report: ClassReportSummary | undefined;
      await options.afterEpoch?.({ model, epoch, lr, rngs });
      if (options.evaluate !== undefined) {
        const evaluated = await options.evaluate({ model, epoch, lr, rngs });
        if (isEvaluateResult(evaluated)) {
          Object.assign(metrics, evaluated.metrics);
          report = evaluated.report;
        } else {
          Object.assign(metrics, evaluated);
        }
      }
      const ms = performance.now() - epochStart;
      epochMs.push(ms);
      const eta = (epochMs.reduce((a, b) => a + b, 0) / epochMs.length) * (epochs - epoch - 1);
      const improved = monitor !== undefined && isBetter(metrics, monitor, best);
      if (improved) best = bestOf(epoch, metrics, monitor);
      const path = await save(epoch + 1, 0, lr, { metrics: finite(metrics) as JsonObject });
      if (improved) await saveBestCheckpoint(runDir, path);
      epochsRun++;
      // Emitted once the epoch is durable, so the log never shows an epoch that a resume runs
      // again. (A crash between the save and these lines loses the two lines, not the epoch;
      // the checkpoint's state.json keeps its metrics.)
      log.emit({
        type: 'epoch',
        epoch,
        metrics: finite(metrics),
        lr,
        ms,
        eta,
        ...(report === undefined ? {} : { report }),
        ...(best === undefined ? {} : { best: bestEvent(best, bestPath) }),
      });
      log.emit({ type: 'checkpoint', epoch: epoch + 1, path });
    }
    // Commands that came during the last epoch's evaluation: the run is complete.
    if (!stopped) await obey(epochs, 0, model.optimizer.lr, 0, true);
    where = {};
    log.emit({ type: 'run-end', epochs, globalStep, ms: performance.now() - started, ...(stopped ? { stopped: true } : {}) });
    const result: RunTrainingResult<M> = { model, epochsRun, globalStep, stopped };
    if (resume.resumedFrom !== undefined) result.resumedFrom = resume.resumedFrom;
    if (lastCheckpoint !== undefined) result.lastCheckpoint = lastCheckpoint;
    if (best !== undefined) result.best = bestEvent(best, bestPath);
    return result;
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    log.emit({ type: 'error', name: e.name, message: e.message, ...where, ...(e.stack === undefined ? {} : { stack: e.stack }) });
    throw error;
  } finally {
    log.close();
  }
}

function isEvaluateResult(value: Record<string, number> | EvaluateResult): value is EvaluateResult {
  return typeof (value as { metrics?: unknown }).metrics === 'object' && (value as { metrics?: unknown }).metrics !== null;
}

function stepResult(
  output: StepOutput,
  samplesPerStep: number | undefined,
): { losses: Record<string, number>; samples?: number } {
  const structured = typeof output === 'object' && typeof (output as { losses?: unknown }).losses === 'object';
  const losses = lossRecord(structured ? (output as StepResult).losses : (output as number | Record<string, number>));
  const samples = structured ? ((output as StepResult).samples ?? samplesPerStep) : samplesPerStep;
  return samples === undefined ? { losses } : { losses, samples };
}

/** Memory in use now: process, tfjs tensors, and the wasm heap where the backend is wasm (well under 1 ms). */
function memoryUsage(): MemoryUsage {
  const { rss, heapUsed } = process.memoryUsage();
  const out: MemoryUsage = { rss, heapUsed, tensors: tf.memory().numTensors };
  const heap = tf.getBackend() === 'wasm' ? wasmHeapBytes(tf.backend()) : undefined;
  if (heap !== undefined) out.wasmHeap = heap;
  return out;
}

/** True when `metrics` beat `best` by the monitored metric (ties: `tieBreak`, else the earlier epoch stays). */
function isBetter(metrics: Record<string, number>, monitor: MonitorOptions, best: BestState | undefined): boolean {
  const value = metrics[monitor.metric];
  if (value === undefined || !Number.isFinite(value)) return false;
  if (best === undefined) return true;
  if (value !== best.value) return monitor.mode === 'max' ? value > best.value : value < best.value;
  const tie = monitor.tieBreak === undefined ? undefined : metrics[monitor.tieBreak.metric];
  if (monitor.tieBreak === undefined || tie === undefined || !Number.isFinite(tie)) return false;
  if (best.tie === undefined) return true;
  return monitor.tieBreak.mode === 'max' ? tie > best.tie : tie < best.tie;
}

function bestOf(epoch: number, metrics: Record<string, number>, monitor: MonitorOptions): BestState {
  const tie = monitor.tieBreak === undefined ? undefined : metrics[monitor.tieBreak.metric];
  const out: BestState = { epoch, metric: monitor.metric, value: metrics[monitor.metric] as number };
  if (tie !== undefined && Number.isFinite(tie)) out.tie = tie;
  return out;
}

function bestEvent(best: BestState, path: string): BestEpoch {
  return { epoch: best.epoch, metric: best.metric, value: best.value, path };
}

/** The best epoch a checkpoint recorded, when it was for the same metric. */
function readBest(value: JsonValue | undefined, monitor: MonitorOptions): BestState | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const { epoch, metric, value: v, tie } = value as Record<string, JsonValue>;
  if (typeof epoch !== 'number' || metric !== monitor.metric || typeof v !== 'number') return undefined;
  return typeof tie === 'number' ? { epoch, metric, value: v, tie } : { epoch, metric, value: v };
}

/**
 * After a crash between a best epoch's checkpoint and its copy, `best/` holds an older epoch:
 * copy the best epoch's checkpoint again while it is still there.
 */
async function repairBest(runDir: string, best: BestState, bestPath: string): Promise<void> {
  const epoch = await readFile(join(bestPath, 'state.json'), 'utf8').then(
    (text) => (JSON.parse(text) as { epoch?: unknown }).epoch,
    () => undefined,
  );
  if (epoch === best.epoch + 1) return;
  const source = join(checkpointsDir(runDir), checkpointName(best.epoch + 1));
  await saveBestCheckpoint(runDir, source).catch(() => undefined);
}

function lossRecord(output: number | Record<string, number>): Record<string, number> {
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
