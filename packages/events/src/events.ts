/**
 * covsev's event stream: one typed discriminated union for training runs (`run-start`, `step`,
 * `epoch`, `checkpoint`, `run-end`, `error`, `control`) and pipeline stages (`stage-start`,
 * `stage-progress`, `stage-end`), written as JSON lines to `<run>/events.jsonl`, one line per
 * event, appended and handed to the OS before `emit` returns (it survives a kill -9 of the
 * writer). A dashboard reads it with `readEvents` or tails it with `followEvents`; trainers and
 * stages never know about a screen. This module imports nothing but Node's built-ins, so a
 * reader never loads TensorFlow.js (docs/formats.md, "Run folders").
 *
 * Conventions: `time` is milliseconds since the Unix epoch; `epoch` and `step` are 0-based
 * indices (show `epoch + 1` to people); `checkpoint.epoch` counts completed epochs (the
 * checkpoint folder's number); durations are milliseconds. Non-finite numbers (a NaN loss) are
 * written as null. A log can hold several runs of one run folder, each opened by a `run-start`
 * (a resume has `resumedFrom`).
 */

import { randomUUID } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readSync,
  writeSync,
} from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { JsonObject, JsonValue } from './json.js';

export const EVENTS_FILE = 'events.jsonl';
export const EVENTS_VERSION = 1;

/** Loss components or metrics by name; null stands for a non-finite value. */
export type Numbers = Record<string, number | null>;

/** A run (fresh or resumed) begins. */
export interface RunStartEvent {
  type: 'run-start';
  time: number;
  version: typeof EVENTS_VERSION;
  /** The tfjs backend in use (`tf.getBackend()`). */
  backend: string;
  /** The engine's description of it (threads, SIMD, covsev kernels), when `initBackend` chose it. */
  backendInfo?: string;
  config: JsonValue;
  /** How the process ran it (e.g. worker threads); not part of the config a resume must match. */
  runtime?: JsonValue;
  seed: number;
  epochs: number;
  stepsPerEpoch: number;
  /** The 0-based epoch this run starts at (0 unless resumed). */
  startEpoch: number;
  /** Optimiser steps already taken (0 unless resumed). */
  startStep: number;
  /** The checkpoint folder resumed from. */
  resumedFrom?: string;
  /**
   * Corrupt checkpoints (or a corrupt `latest.json`) passed over to resume from `resumedFrom`,
   * newest first: why (`reason`, naming the file at fault) and where each was moved (`movedTo`).
   */
  skippedCheckpoints?: { path: string; reason: string; movedTo: string }[];
  /** The step within `startEpoch` this run starts at (a resume from a mid-epoch checkpoint); absent when 0. */
  startStepInEpoch?: number;
  /** sha256 (hex) of the canonical JSON of `config` (keys sorted): equal configs, equal hashes. */
  configHash?: string;
  /** The trainer's description of the model, e.g. "resnest-tiny-3d, 1 channel(s)". */
  model?: string;
  /** What is trained. */
  kind?: 'classifier' | 'segmentation';
  pid: number;
}

/** Memory in use after a step, in bytes. */
export interface MemoryUsage {
  /** Resident set size of the process (`process.memoryUsage().rss`). */
  rss: number;
  /** V8's used heap (`process.memoryUsage().heapUsed`). */
  heapUsed: number;
  /** Tensors alive in TensorFlow.js (`tf.memory().numTensors`). */
  tensors?: number;
  /** The wasm backend's heap (its linear memory), where the backend is wasm. */
  wasmHeap?: number;
}

/** One optimisation step finished. */
export interface StepEvent {
  type: 'step';
  time: number;
  epoch: number;
  step: number;
  globalStep: number;
  /** Loss components (`total` first when the trainer gives several). */
  losses: Numbers;
  lr: number;
  ms: number;
  /** Samples (volumes or slices) the step trained on: `samples / ms` is the throughput. */
  samples?: number;
  /** Memory in use after the step. */
  memory?: MemoryUsage;
}

/** Per-class scores of a validation pass (rows of `confusion` = truth, columns = prediction). */
export interface ClassReportSummary {
  classNames: string[];
  perClassF1: number[];
  confusion: number[][];
}

/** The best epoch so far by the monitored metric, and its checkpoint. */
export interface BestEpoch {
  /** 0-based epoch index (its checkpoint holds the state after it: `epoch + 1` completed epochs). */
  epoch: number;
  /** The monitored metric, e.g. `valMacroF1`. */
  metric: string;
  value: number;
  /** The best checkpoint's folder (`<runDir>/checkpoints/best`), a copy pruning never removes. */
  path?: string;
}

/** One epoch finished and its checkpoint is written (a `checkpoint` event follows). */
export interface EpochEvent {
  type: 'epoch';
  time: number;
  epoch: number;
  /** Validation metrics (`evaluate`), and `loss`: the mean step loss of the epoch. */
  metrics: Numbers;
  lr: number;
  /** Steps and evaluation, without the checkpoint write. */
  ms: number;
  /** Estimated milliseconds to the end of the run. */
  eta: number;
  /** Per-class scores on the validation set (a classifier's `evaluate`). */
  report?: ClassReportSummary;
  /** The best epoch so far (this one or an earlier one), when the run monitors a metric. */
  best?: BestEpoch;
}

/** A checkpoint was written and `latest.json` points to it. */
export interface CheckpointEvent {
  type: 'checkpoint';
  time: number;
  /** Completed epochs: the checkpoint is `epoch-<epoch>` (or `epoch-<epoch>-step-<step>`). */
  epoch: number;
  /** A mid-epoch checkpoint: steps done of 0-based epoch `epoch` (absent at the end of an epoch). */
  step?: number;
  path: string;
}

/** The run reached its last epoch. */
export interface RunEndEvent {
  type: 'run-end';
  time: number;
  epochs: number;
  globalStep: number;
  /** Wall time of this process's part of the run. */
  ms: number;
  /** True when a `stop` command ended the run early (after a checkpoint); the next run on the folder resumes it. */
  stopped?: boolean;
}

/** The run stopped on an error. */
export interface RunErrorEvent {
  type: 'error';
  time: number;
  name: string;
  message: string;
  epoch?: number;
  step?: number;
  stack?: string;
}

/** A command of the control channel (`control.jsonl`). */
export type ControlCommand = 'stop' | 'checkpoint';
export const CONTROL_COMMANDS: readonly ControlCommand[] = ['stop', 'checkpoint'];

/** The answer of a run to a line of its control channel. */
export interface ControlEvent {
  type: 'control';
  time: number;
  /** The command line's `id` (`sendControl` returned it). */
  id: string;
  /** The command (an unknown one is answered `refused`). */
  command: ControlCommand | (string & Record<never, never>);
  status: 'done' | 'refused';
  /** Why refused, or what was done, for people. */
  message?: string;
  /** The checkpoint folder written (or found already written at that step). */
  path?: string;
}

/** The events of a training run. */
export type TrainEvent = RunStartEvent | StepEvent | EpochEvent | CheckpointEvent | RunEndEvent | RunErrorEvent | ControlEvent;
export type TrainEventType = TrainEvent['type'];

/**
 * The stages of the pipeline (`@covsev/pipeline`), in the order a scan goes through them:
 * stage 1's masks (`segment`), the classifier grid (`preprocess`), each classifier trained and
 * its predictions with test-time augmentation (`train-classifier`, `predict`: `detail.model`
 * names the classifier when there are several), the involvement baseline, the `ensemble`, and
 * the challenge's files.
 */
export const PIPELINE_STAGES = [
  'load-cohort',
  'segment',
  'preprocess',
  'train-classifier',
  'predict',
  'involvement',
  'ensemble',
  'submission',
] as const;
export type PipelineStage = (typeof PIPELINE_STAGES)[number];

/** A pipeline stage begins. */
export interface StageStartEvent {
  type: 'stage-start';
  time: number;
  stage: PipelineStage;
  /** Items (scans) the stage will go through, when known. */
  total?: number;
  /** What the stage was asked to do (folders, options). */
  detail?: JsonObject;
}

/** A pipeline stage finished one item (a scan). */
export interface StageProgressEvent {
  type: 'stage-progress';
  time: number;
  stage: PipelineStage;
  done: number;
  total: number;
  /** The item just finished (a scan name). */
  item?: string;
  /** True when the item's result came from the cache. */
  cached?: boolean;
}

/** A pipeline stage finished. */
export interface StageEndEvent {
  type: 'stage-end';
  time: number;
  stage: PipelineStage;
  ms: number;
  /** Files the stage wrote (or found up to date). */
  outputs: string[];
  /** Counts and scores worth a line in a report. */
  summary?: Numbers;
  /** What the stage accepted but a person should know (an empty label file, say). */
  warnings?: string[];
}

/** The events of pipeline stages. */
export type StageEvent = StageStartEvent | StageProgressEvent | StageEndEvent;

/** Every event covsev writes: training runs and pipeline stages share one stream format. */
export type CovsevEvent = TrainEvent | StageEvent;
export type CovsevEventType = CovsevEvent['type'];

/** An event as its writer emits it: `time` is filled in. */
export type EventInput<E extends CovsevEvent = CovsevEvent> = E extends CovsevEvent ? Omit<E, 'time'> : never;
/** A training event as a trainer emits it. */
export type TrainEventInput = EventInput<TrainEvent>;

const TRAIN_TYPES: ReadonlySet<string> = new Set<TrainEventType>([
  'run-start',
  'step',
  'epoch',
  'checkpoint',
  'run-end',
  'error',
  'control',
]);
const STAGE_TYPES: ReadonlySet<string> = new Set<StageEvent['type']>(['stage-start', 'stage-progress', 'stage-end']);

function hasType(value: unknown, types: ReadonlySet<string>): boolean {
  if (value === null || typeof value !== 'object') return false;
  const v = value as { type?: unknown; time?: unknown };
  return typeof v.type === 'string' && types.has(v.type) && typeof v.time === 'number';
}

/** True for an object shaped like a `TrainEvent` (a known `type` and a numeric `time`). */
export function isTrainEvent(value: unknown): value is TrainEvent {
  return hasType(value, TRAIN_TYPES);
}

/** True for an object shaped like a `StageEvent`. */
export function isStageEvent(value: unknown): value is StageEvent {
  return hasType(value, STAGE_TYPES);
}

/** True for any event covsev writes. */
export function isCovsevEvent(value: unknown): value is CovsevEvent {
  return isTrainEvent(value) || isStageEvent(value);
}

export const CONTROL_FILE = 'control.jsonl';

/** One line of `<runDir>/control.jsonl`: a command a front-end sends to a running trainer. */
export interface ControlLine {
  /** Unique per command (`crypto.randomUUID()`); the run's `control` event answers with it. */
  id: string;
  command: ControlCommand;
  /** When it was sent (ms since the Unix epoch): a run ignores lines older than its start. */
  time: number;
}

/**
 * Asks the trainer of `runDir` to `stop` (checkpoint, then end; the next run on the folder
 * resumes) or write a `checkpoint` now, at its next step boundary: appends one line to
 * `<runDir>/control.jsonl` (one write, O_APPEND, so several senders never interleave) and returns
 * its id. The run answers with a `control` event of that id in its events.jsonl.
 */
export async function sendControl(runDir: string, command: ControlCommand): Promise<string> {
  if (!CONTROL_COMMANDS.includes(command)) throw new RangeError(`unknown control command ${JSON.stringify(command)}`);
  const line: ControlLine = { id: randomUUID(), command, time: Date.now() };
  const handle = await open(join(runDir, CONTROL_FILE), 'a');
  try {
    await handle.write(`${JSON.stringify(line)}\n`);
  } finally {
    await handle.close();
  }
  return line.id;
}

/** What `EventLog.open` found and cut off: the half-written last line of a crashed writer. */
export interface RecoveredFragment {
  /** Bytes cut off the end of the log. */
  bytes: number;
  /** Where they were kept: `<log>.crash`, one JSON line `{time, offset, fragment}` per crash. */
  crashFile: string;
}

/** An append-only JSON-lines writer. */
export class EventLog<E extends CovsevEvent = CovsevEvent> {
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    fd: number,
    private readonly listeners: ((event: E) => void)[],
    /** Set when opening cut off a half-written last line (a crash of the last writer). */
    readonly recovered: RecoveredFragment | undefined,
  ) {
    this.fd = fd;
  }

  /**
   * Opens `path` for appending (creating folders). A half-written last line (a writer killed
   * mid-write) is the crash it was: it is cut off the log, which keeps whole lines only, and
   * kept aside in `<path>.crash` (`recovered` says so). A last line that is a whole event
   * missing only its newline gets the newline instead. One writer at a time per log.
   */
  static open<E extends CovsevEvent = CovsevEvent>(path: string, listener?: (event: E) => void): EventLog<E> {
    mkdirSync(dirname(path), { recursive: true });
    const fd = openSync(path, 'a+');
    let recovered: RecoveredFragment | undefined;
    try {
      const size = fstatSync(fd).size;
      const lineEnd = size === 0 ? 0 : afterLastNewline(fd, size);
      if (lineEnd < size) {
        const tail = Buffer.alloc(size - lineEnd);
        readSync(fd, tail, 0, tail.length, lineEnd);
        const fragment = tail.toString('utf8');
        if (parseLine(fragment) !== undefined) {
          writeSync(fd, '\n');
        } else {
          const crashFile = `${path}.crash`;
          appendFileSync(crashFile, `${JSON.stringify({ time: Date.now(), offset: lineEnd, fragment })}\n`);
          ftruncateSync(fd, lineEnd);
          fsyncSync(fd);
          recovered = { bytes: tail.length, crashFile };
        }
      }
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    return new EventLog<E>(path, fd, listener === undefined ? [] : [listener], recovered);
  }

  /** Writes one event as one line (a single write call) and returns it with its time. */
  emit(input: EventInput<E>): E {
    if (this.fd === undefined) throw new Error(`event log ${this.path} is closed`);
    const event = { ...input, time: Date.now() } as unknown as E;
    writeSync(this.fd, `${JSON.stringify(event)}\n`);
    for (const listener of this.listeners) listener(event);
    return event;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * Events from JSON-lines text. Complete lines that are not events (left by a crash) are
 * skipped and counted; the text after the last newline comes back as `rest` unless it is
 * itself a complete event (`final`), as at the end of a finished file.
 */
export function parseEventLines(text: string, final = false): { events: CovsevEvent[]; rest: string; skipped: number } {
  const lines = text.split('\n');
  let rest = lines.pop() as string;
  const events: CovsevEvent[] = [];
  let skipped = 0;
  for (const line of lines) {
    const e = parseLine(line);
    if (e !== undefined) events.push(e);
    else if (line.trim() !== '') skipped++;
  }
  if (final && rest.trim() !== '') {
    const e = parseLine(rest);
    if (e !== undefined) {
      events.push(e);
      rest = '';
    }
  }
  return { events, rest, skipped };
}

/** Every event in a log file, tolerating a half-written last line and lines mangled by a crash. */
export async function readEvents(path: string): Promise<CovsevEvent[]> {
  return (await readEventLog(path)).events;
}

/**
 * A log file's events, with what a crash left: `skipped` counts whole lines that are not events
 * (mangled, or a fragment an older writer left in place), `fragment` is an unfinished last line
 * (a writer killed mid-write, or one still writing; '' when the file ends with a newline).
 */
export async function readEventLog(path: string): Promise<{ events: CovsevEvent[]; skipped: number; fragment: string }> {
  const { events, rest, skipped } = parseEventLines(await readFile(path, 'utf8'), true);
  return { events, skipped, fragment: rest };
}

export interface FollowOptions {
  /** Polling interval; default 200 ms. */
  intervalMs?: number;
  /** Start at the beginning of the file (default) or only report what is appended from now. */
  fromStart?: boolean;
  /** Called when reading fails or `onEvent` throws; default: print to stderr. */
  onError?: (error: unknown) => void;
  /** Called with each line skipped: a whole line that is not an event, or a fragment a reopened log cut off. */
  onSkipped?: (line: string) => void;
}

export interface EventFollower {
  /** Reads whatever was appended since the last read, now; resolves once delivered. */
  poll(): Promise<void>;
  /** Stops following. */
  close(): void;
  /** Lines skipped so far (see `FollowOptions.onSkipped`). */
  readonly skipped: number;
}

/**
 * Tails a growing log: calls `onEvent` for each complete line as it appears. The file may not
 * exist yet; a half-written last line waits for its newline; a file that shrank below what was
 * delivered (replaced) is read again from the start. A crash fragment that a reopened
 * `EventLog` cut off is skipped (and counted) whenever this follower saw it: the follower only
 * ever consumes whole lines, and reads the unfinished last line afresh from the file each time,
 * so whatever replaced the fragment is read as written. Whole lines that are not events are
 * skipped and counted too; every complete event before and after them is delivered.
 */
export function followEvents(path: string, onEvent: (event: CovsevEvent) => void, options: FollowOptions = {}): EventFollower {
  const intervalMs = options.intervalMs ?? 200;
  const onError = options.onError ?? ((error: unknown) => console.error(`followEvents ${path}:`, error));
  let lineStart = -1; // byte offset of the first line not yet consumed; unknown until the first read when !fromStart
  let tail = Buffer.alloc(0); // the unfinished last line seen by the last read
  let skipped = 0;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<void> = Promise.resolve();

  const skip = (line: string): void => {
    skipped++;
    options.onSkipped?.(line);
  };

  const deliver = (lines: Buffer): void => {
    for (const line of lines.toString('utf8').split('\n')) {
      if (closed) return;
      if (line.trim() === '') continue;
      const event = parseLine(line);
      if (event === undefined) {
        skip(line);
        continue;
      }
      try {
        onEvent(event);
      } catch (error) {
        onError(error);
      }
    }
  };

  const readOnce = async (): Promise<void> => {
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        if (lineStart < 0) lineStart = 0;
        return;
      }
      throw error;
    }
    try {
      const { size } = await handle.stat();
      if (lineStart < 0) lineStart = options.fromStart === false ? size : 0;
      if (size < lineStart) {
        lineStart = 0; // replaced by a shorter file
        tail = Buffer.alloc(0);
      }
      let carry = Buffer.alloc(0);
      let checked = tail.length === 0;
      let at = lineStart;
      while (at < size && !closed) {
        const buf = Buffer.alloc(Math.min(size - at, 1 << 20));
        const { bytesRead } = await handle.read(buf, 0, buf.length, at);
        if (bytesRead === 0) break;
        at += bytesRead;
        carry = carry.length === 0 ? buf.subarray(0, bytesRead) : Buffer.concat([carry, buf.subarray(0, bytesRead)]);
        if (!checked) {
          // The unfinished line seen last time no longer starts here: a reopened writer cut it off.
          const n = Math.min(tail.length, carry.length);
          if (!carry.subarray(0, n).equals(tail.subarray(0, n))) skip(tail.toString('utf8'));
          checked = true;
        }
        const nl = carry.lastIndexOf(0x0a);
        if (nl < 0) continue;
        deliver(carry.subarray(0, nl + 1));
        lineStart += nl + 1;
        carry = carry.subarray(nl + 1);
      }
      if (!checked && size === lineStart) skip(tail.toString('utf8')); // cut off, nothing written since
      tail = Buffer.from(carry);
    } finally {
      await handle.close();
    }
  };

  const poll = (): Promise<void> => {
    chain = chain.then(() => (closed ? undefined : readOnce())).catch(onError);
    return chain;
  };
  const tick = (): void => {
    if (closed) return;
    void poll().then(() => {
      if (!closed) timer = setTimeout(tick, intervalMs);
    });
  };
  tick();
  return {
    poll,
    close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
    },
    get skipped() {
      return skipped;
    },
  };
}

/** The offset just after the file's last newline (0 when it has none). */
function afterLastNewline(fd: number, size: number): number {
  const chunk = Buffer.alloc(Math.min(size, 1 << 16));
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - chunk.length);
    const n = readSync(fd, chunk, 0, end - start, start);
    const i = chunk.subarray(0, n).lastIndexOf(0x0a);
    if (i >= 0) return start + i + 1;
    end = start;
  }
  return 0;
}

function parseLine(line: string): CovsevEvent | undefined {
  if (line.trim() === '') return undefined;
  try {
    const value = JSON.parse(line) as unknown;
    return isCovsevEvent(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
