/**
 * The dashboard's model of a run: `reduceRun(state, event)` folds the event stream of a training
 * run (`<runDir>/events.jsonl`) and of the pipeline around it (`<run>/events.jsonl`) into what the
 * panels show. Pure and total: it never mutates its input, never throws, and ignores event kinds
 * it does not know. Fields that trainers are adding (`step.samples`, `step.memory`,
 * `epoch.report`, `epoch.best`, `run-start.model|kind|configHash`, `checkpoint.step`, the
 * `control` event, `run-end.stopped`) are read through run-time checks (`fields.ts`), so logs
 * written before or after them read the same.
 */
import type { CovsevEvent } from '@covsev/events';
import { bool, type Fields, fieldsOf, matrix, num, numberArray, numbers, str, stringArray } from './fields.js';

export type RunPhase = 'waiting' | 'running' | 'finished' | 'stopped' | 'failed';
export type RunKind = 'classifier' | 'segmentation';

export interface MemorySample {
  readonly rss: number;
  readonly heapUsed: number;
  readonly tensors?: number;
  readonly wasmHeap?: number;
}

export interface ClassReport {
  readonly classNames: readonly string[];
  readonly perClassF1: readonly number[];
  readonly confusion: readonly (readonly number[])[];
}

export interface BestEpoch {
  /** 0-based epoch. */
  readonly epoch: number;
  readonly metric: string;
  readonly value: number;
  readonly path?: string;
}

export interface EpochRow {
  readonly epoch: number;
  readonly metrics: Readonly<Record<string, number | null>>;
  readonly lr: number | undefined;
  readonly ms: number | undefined;
  readonly eta: number | undefined;
  readonly time: number;
}

export interface StageRow {
  readonly stage: string;
  readonly status: 'running' | 'done';
  readonly done: number;
  readonly total: number | undefined;
  readonly item?: string;
  readonly ms?: number;
  readonly summary?: Readonly<Record<string, number | null>>;
  readonly warnings: readonly string[];
}

export interface ControlAnswer {
  readonly id: string;
  readonly command: string;
  readonly status: string;
  readonly message?: string;
  readonly path?: string;
  readonly time: number;
}

export interface RunError {
  readonly name: string;
  readonly message: string;
  readonly epoch?: number;
  readonly step?: number;
}

/** One point of the loss curve. */
export interface LossPoint {
  readonly globalStep: number;
  readonly value: number;
}

export interface RunState {
  readonly phase: RunPhase;
  readonly kind?: RunKind;
  readonly model?: string;
  readonly backend?: string;
  readonly backendInfo?: string;
  readonly inChannels?: number;
  /** A segmentation run's task (`config.card.task`: lung or lesion). */
  readonly task?: string;
  /** Whether the model's input is the slice times the lung mask (a lesion model, `config.card.input.lungMasked`). */
  readonly lungMasked?: boolean;
  readonly workers?: number;
  readonly viewWorkers?: number;
  readonly seed?: number;
  readonly configHash?: string;
  /** Training scans or the data the run was given (`config.scans`, `config.train|val`, a stage's summary). */
  readonly data?: string;
  readonly pid?: number;
  readonly resumedFrom?: string;
  /** Epochs of the run (its total). */
  readonly epochs?: number;
  readonly stepsPerEpoch?: number;
  readonly startEpoch: number;
  readonly startStep: number;
  readonly startedAt?: number;
  /** The step in progress or last done (0-based), and its epoch. */
  readonly epoch: number;
  readonly step: number;
  readonly globalStep: number;
  /** Steps taken since this process's run-start (for the rate). */
  readonly stepsThisRun: number;
  readonly losses: Readonly<Record<string, number | null>>;
  /** Exponential moving averages of each loss term (alpha `SMOOTHING`). */
  readonly smoothed: Readonly<Record<string, number>>;
  readonly lossCurve: readonly LossPoint[];
  /** The loss key drawn in the chart: `total` when present, else the first. */
  readonly curveKey?: string;
  readonly lr?: number;
  readonly stepMs?: number;
  /** Smoothed milliseconds per step. */
  readonly avgStepMs?: number;
  readonly samples?: number;
  /** Smoothed samples per second (from `samples` / `ms`): volumes for the classifier, slices for segmentation. */
  readonly volumesPerSecond?: number;
  readonly memory?: MemorySample;
  readonly epochRows: readonly EpochRow[];
  /** The validation metric of the chart and the best epoch (`valMacroF1`, `valIoU`, ...). */
  readonly metricName?: string;
  readonly best?: BestEpoch;
  readonly report?: ClassReport;
  readonly lastEpochEta?: number;
  readonly lastEpochTime?: number;
  /** Checkpoint folders by completed epochs. */
  readonly checkpoints: Readonly<Record<number, string>>;
  readonly lastCheckpoint?: { readonly epoch: number; readonly path: string; readonly step?: number };
  readonly stages: readonly StageRow[];
  readonly controls: readonly ControlAnswer[];
  readonly error?: RunError;
  readonly endedAt?: number;
  /** Time of the last event. */
  readonly lastTime?: number;
  readonly events: number;
  /** Events of kinds this app does not know (ignored). */
  readonly ignored: number;
}

export const SMOOTHING = 0.1;
const MAX_CURVE = 4000;

export const initialRunState: RunState = {
  phase: 'waiting',
  startEpoch: 0,
  startStep: 0,
  epoch: 0,
  step: -1,
  globalStep: 0,
  stepsThisRun: 0,
  losses: {},
  smoothed: {},
  lossCurve: [],
  epochRows: [],
  checkpoints: {},
  stages: [],
  controls: [],
  events: 0,
  ignored: 0,
};

/** True once the training run has ended one way or another (finished, stopped, failed). */
export function hasEnded(state: RunState): boolean {
  return state.phase === 'finished' || state.phase === 'stopped' || state.phase === 'failed';
}

/** A metric where higher is better (everything but losses and errors). */
export function higherIsBetter(metric: string): boolean {
  return !/loss|error|dist/i.test(metric);
}

/** The validation metric to chart: the first metric that is not the epoch's mean `loss`. */
function pickMetric(metrics: Record<string, number | null>, previous: string | undefined): string | undefined {
  if (previous !== undefined && previous in metrics) return previous;
  const keys = Object.keys(metrics);
  return keys.find((k) => k !== 'loss' && /^val/.test(k)) ?? keys.find((k) => k !== 'loss') ?? previous;
}

function kindOf(value: unknown, config: Fields, losses?: Record<string, unknown>): RunKind | undefined {
  if (value === 'classifier' || value === 'segmentation') return value;
  if (losses !== undefined && 'dice' in losses) return 'segmentation';
  if ('network' in config) return 'classifier';
  return undefined;
}

function modelOf(event: Fields, config: Fields): string | undefined {
  const model = str(event.model);
  if (model !== undefined) return model;
  const network = fieldsOf(config.network);
  const backbone = network.backbone;
  if (typeof backbone === 'string') return backbone;
  const custom = fieldsOf(backbone);
  const layers = numberArray(custom.layers);
  if (layers !== undefined) return `custom ResNeSt [${layers.join(',')}] base ${num(custom.base) ?? '?'}`;
  return str(config.encoder) ?? str(config.arch) ?? str(config.model);
}

/** The data of a run's config: `scans` (the classifier), or the scans of each side (`train`, `val`: a segmentation run). */
function dataOf(config: Fields): string | undefined {
  const scans = num(config.scans);
  if (scans !== undefined) return `${scans} training scans`;
  const train = stringArray(config.train);
  const val = stringArray(config.val);
  if (train === undefined) return undefined;
  return `${train.length} training${val === undefined ? '' : ` + ${val.length} validation`} scans`;
}

function onRunStart(state: RunState, e: Fields, time: number): RunState {
  const config = fieldsOf(e.config);
  const runtime = fieldsOf(e.runtime);
  const startEpoch = num(e.startEpoch) ?? 0;
  const startStep = num(e.startStep) ?? 0;
  // A segmentation run's config carries its model card (task, architecture, input).
  const card = fieldsOf(config.card);
  const cardInput = fieldsOf(card.input);
  const kind = kindOf(e.kind, config);
  const data = dataOf(config);
  return {
    ...state,
    phase: 'running',
    ...(kind === undefined ? {} : { kind }),
    ...optional('model', modelOf(e, config)),
    ...optional('backend', str(e.backend)),
    ...optional('backendInfo', str(e.backendInfo)),
    ...optional('inChannels', num(config.inChannels) ?? num(fieldsOf(card.architecture).inChannels) ?? num(cardInput.channels)),
    ...optional('task', str(card.task)),
    ...optional('lungMasked', bool(cardInput.lungMasked)),
    ...optional('workers', num(runtime.workers) ?? num(config.workers)),
    ...optional('viewWorkers', num(runtime.viewWorkers)),
    ...optional('seed', num(e.seed)),
    ...optional('configHash', str(e.configHash)),
    ...optional('data', data ?? state.data),
    ...optional('pid', num(e.pid)),
    ...optional('resumedFrom', str(e.resumedFrom)),
    ...optional('epochs', num(e.epochs)),
    ...optional('stepsPerEpoch', num(e.stepsPerEpoch)),
    startEpoch,
    startStep,
    startedAt: time,
    epoch: startEpoch,
    step: -1,
    globalStep: startStep,
    stepsThisRun: 0,
    error: undefined,
    endedAt: undefined,
  };
}

function onStep(state: RunState, e: Fields): RunState {
  const losses = numbers(e.losses);
  const smoothed: Record<string, number> = { ...state.smoothed };
  for (const [key, value] of Object.entries(losses)) {
    if (value === null) continue;
    const before = smoothed[key];
    smoothed[key] = before === undefined ? value : before + SMOOTHING * (value - before);
  }
  const globalStep = num(e.globalStep) ?? state.globalStep + 1;
  const curveKey = state.curveKey !== undefined && state.curveKey in losses ? state.curveKey : pickCurveKey(losses);
  const curveValue = curveKey === undefined ? null : (losses[curveKey] ?? null);
  let lossCurve = state.lossCurve;
  if (curveValue !== null) {
    lossCurve = [...lossCurve, { globalStep, value: curveValue }];
    if (lossCurve.length > MAX_CURVE) lossCurve = thinCurve(lossCurve);
  }
  const ms = num(e.ms);
  const samples = num(e.samples);
  const avgStepMs = ms === undefined ? state.avgStepMs : smooth(state.avgStepMs, ms);
  const volumesPerSecond =
    samples !== undefined && ms !== undefined && ms > 0
      ? smooth(state.volumesPerSecond, (samples * 1000) / ms)
      : state.volumesPerSecond;
  const memory = memoryOf(e.memory) ?? state.memory;
  const kind = state.kind ?? ('dice' in losses ? 'segmentation' : undefined);
  return {
    ...state,
    phase: state.phase === 'waiting' ? 'running' : state.phase,
    ...(kind === undefined ? {} : { kind }),
    epoch: num(e.epoch) ?? state.epoch,
    step: num(e.step) ?? state.step + 1,
    globalStep,
    stepsThisRun: state.stepsThisRun + 1,
    losses,
    smoothed,
    lossCurve,
    ...optional('curveKey', curveKey),
    ...optional('lr', num(e.lr) ?? state.lr),
    ...optional('stepMs', ms),
    ...optional('avgStepMs', avgStepMs),
    ...optional('samples', samples ?? state.samples),
    ...optional('volumesPerSecond', volumesPerSecond),
    ...(memory === undefined ? {} : { memory }),
  };
}

function onEpoch(state: RunState, e: Fields, time: number): RunState {
  const epoch = num(e.epoch) ?? state.epoch;
  const metrics = numbers(e.metrics);
  const row: EpochRow = { epoch, metrics, lr: num(e.lr), ms: num(e.ms), eta: num(e.eta), time };
  const epochRows = [...state.epochRows.filter((r) => r.epoch !== epoch), row];
  const metricName = pickMetric(metrics, state.metricName);
  const report = reportOf(e.report) ?? state.report;
  let best = bestOf(e.best) ?? state.best;
  if (bestOf(e.best) === undefined && metricName !== undefined) {
    const value = metrics[metricName];
    if (value !== null && value !== undefined) {
      const better = higherIsBetter(metricName) ? (a: number, b: number) => a > b : (a: number, b: number) => a < b;
      if (best === undefined || best.metric !== metricName || better(value, best.value))
        best = { epoch, metric: metricName, value, ...optional('path', state.checkpoints[epoch + 1]) };
    }
  }
  return {
    ...state,
    phase: state.phase === 'waiting' ? 'running' : state.phase,
    epoch,
    epochRows,
    ...optional('metricName', metricName),
    ...(best === undefined ? {} : { best }),
    ...(report === undefined ? {} : { report }),
    ...optional('lastEpochEta', num(e.eta)),
    lastEpochTime: time,
    ...optional('lr', num(e.lr) ?? state.lr),
  };
}

function onCheckpoint(state: RunState, e: Fields): RunState {
  const epoch = num(e.epoch);
  const path = str(e.path);
  if (epoch === undefined || path === undefined) return state;
  const step = num(e.step);
  const best =
    state.best !== undefined && state.best.epoch + 1 === epoch && state.best.path === undefined
      ? { ...state.best, path }
      : state.best;
  return {
    ...state,
    checkpoints: { ...state.checkpoints, [epoch]: path },
    lastCheckpoint: { epoch, path, ...optional('step', step) },
    ...(best === undefined ? {} : { best }),
  };
}

function onStage(state: RunState, e: Fields, type: string): RunState {
  const stage = str(e.stage);
  if (stage === undefined) return state;
  const before = state.stages.find((s) => s.stage === stage);
  let row: StageRow;
  if (type === 'stage-start') {
    row = { stage, status: 'running', done: 0, total: num(e.total), warnings: [] };
  } else if (type === 'stage-progress') {
    row = {
      stage,
      status: 'running',
      done: num(e.done) ?? (before?.done ?? 0) + 1,
      total: num(e.total) ?? before?.total,
      ...optional('item', str(e.item)),
      warnings: before?.warnings ?? [],
    };
  } else {
    row = {
      stage,
      status: 'done',
      done: before?.total ?? before?.done ?? 0,
      total: before?.total,
      ...optional('item', before?.item),
      ...optional('ms', num(e.ms)),
      summary: numbers(e.summary),
      warnings: stringArray(e.warnings) ?? [],
    };
  }
  const stages = before === undefined ? [...state.stages, row] : state.stages.map((s) => (s.stage === stage ? row : s));
  let data = state.data;
  if (stage === 'load-cohort' && type === 'stage-end') {
    const s = numbers(e.summary);
    const parts = ['train', 'val', 'test'].filter((k) => typeof s[k] === 'number').map((k) => `${k} ${s[k]}`);
    const root = str(fieldsOf(e.detail).root);
    data = parts.length > 0 ? `${parts.join(', ')} scans` : data;
    if (root !== undefined) data = `${root}${data === undefined ? '' : ` (${data})`}`;
  }
  if (stage === 'load-cohort' && type === 'stage-start') {
    const root = str(fieldsOf(e.detail).root);
    if (root !== undefined && data === undefined) data = root;
  }
  return { ...state, stages, ...optional('data', data) };
}

function onControl(state: RunState, e: Fields, time: number): RunState {
  const command = str(e.command);
  if (command === undefined) return state;
  const answer: ControlAnswer = {
    id: str(e.id) ?? '',
    command,
    status: str(e.status) ?? 'done',
    ...optional('message', str(e.message)),
    ...optional('path', str(e.path)),
    time,
  };
  return { ...state, controls: [...state.controls.slice(-19), answer] };
}

/** Folds one event into the state. Unknown kinds and malformed events are counted and ignored. */
export function reduceRun(state: RunState, event: CovsevEvent | unknown): RunState {
  try {
    const e = fieldsOf(event);
    const type = str(e.type);
    const time = num(e.time) ?? state.lastTime ?? 0;
    const next = { ...state, events: state.events + 1, lastTime: Math.max(time, state.lastTime ?? 0) };
    switch (type) {
      case 'run-start':
        return onRunStart(next, e, time);
      case 'step':
        return onStep(next, e);
      case 'epoch':
        return onEpoch(next, e, time);
      case 'checkpoint':
        return onCheckpoint(next, e);
      case 'run-end':
        return { ...next, phase: bool(e.stopped) === true ? 'stopped' : 'finished', endedAt: time };
      case 'error':
        return {
          ...next,
          phase: 'failed',
          endedAt: time,
          error: {
            name: str(e.name) ?? 'Error',
            message: str(e.message) ?? '(no message)',
            ...optional('epoch', num(e.epoch)),
            ...optional('step', num(e.step)),
          },
        };
      case 'stage-start':
      case 'stage-progress':
      case 'stage-end':
        return onStage(next, e, type);
      case 'control':
        return onControl(next, e, time);
      default:
        return { ...state, ignored: state.ignored + 1 };
    }
  } catch {
    return { ...state, ignored: state.ignored + 1 };
  }
}

/** Folds a batch of events. */
export function reduceEvents(state: RunState, events: readonly unknown[]): RunState {
  let s = state;
  for (const event of events) s = reduceRun(s, event);
  return s;
}

/** Estimated milliseconds to the end of the run, or undefined. */
export function etaMs(state: RunState, now: number): number | undefined {
  if (hasEnded(state) || state.epochs === undefined || state.stepsPerEpoch === undefined) return undefined;
  const stepsLeft = (state.epochs - state.epoch) * state.stepsPerEpoch - (state.step + 1);
  if (state.avgStepMs !== undefined) return Math.max(0, stepsLeft * state.avgStepMs);
  if (state.lastEpochEta !== undefined && state.lastEpochTime !== undefined)
    return Math.max(0, state.lastEpochEta - (now - state.lastEpochTime));
  return undefined;
}

/** Epochs finished (over all runs of the folder). */
export function epochsDone(state: RunState): number {
  const last = state.epochRows.at(-1);
  return last === undefined ? state.startEpoch : last.epoch + 1;
}

function pickCurveKey(losses: Record<string, number | null>): string | undefined {
  for (const key of ['total', 'joint', 'loss', 'dice']) if (key in losses) return key;
  return Object.keys(losses).find((k) => !/^weight/i.test(k));
}

function thinCurve(curve: readonly LossPoint[]): LossPoint[] {
  return curve.filter((_, i) => i % 2 === 0 || i === curve.length - 1);
}

function smooth(before: number | undefined, value: number): number {
  return before === undefined ? value : before + 0.2 * (value - before);
}

function memoryOf(value: unknown): MemorySample | undefined {
  const m = fieldsOf(value);
  const rss = num(m.rss);
  const heapUsed = num(m.heapUsed);
  if (rss === undefined && heapUsed === undefined) return undefined;
  return {
    rss: rss ?? 0,
    heapUsed: heapUsed ?? 0,
    ...optional('tensors', num(m.tensors)),
    ...optional('wasmHeap', num(m.wasmHeap)),
  };
}

function reportOf(value: unknown): ClassReport | undefined {
  const r = fieldsOf(value);
  const classNames = stringArray(r.classNames);
  const perClassF1 = numberArray(r.perClassF1);
  if (classNames === undefined || perClassF1 === undefined) return undefined;
  return { classNames, perClassF1, confusion: matrix(r.confusion) ?? [] };
}

function bestOf(value: unknown): BestEpoch | undefined {
  const b = fieldsOf(value);
  const epoch = num(b.epoch);
  const metric = str(b.metric);
  const v = num(b.value);
  if (epoch === undefined || metric === undefined || v === undefined) return undefined;
  return { epoch, metric, value: v, ...optional('path', str(b.path)) };
}

/** `{ [key]: value }` when value is defined, else `{}` (keeps absent fields absent). */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/**
 * Whether following can stop: the training run ended (a pipeline run also needs its last stage,
 * `submission`, to be done, or its writer to be gone), or the writer of a run that never ended
 * is gone (killed). `writerAlive` says whether the run-start's pid still runs.
 */
export function isRunOver(state: RunState, pipeline: boolean, writerAlive: boolean): boolean {
  if (state.phase === 'failed' || state.phase === 'stopped') return true;
  if (state.phase === 'finished') {
    if (!pipeline) return true;
    return state.stages.some((s) => s.stage === 'submission' && s.status === 'done') || !writerAlive;
  }
  return state.pid !== undefined && !writerAlive;
}

/** The phase for people: a run whose writer is gone without a run-end was stopped (killed). */
export function phaseLabel(state: RunState, writerAlive: boolean): string {
  if (state.phase === 'running' && state.pid !== undefined && !writerAlive) return 'stopped (killed: no run-end)';
  return state.phase;
}
