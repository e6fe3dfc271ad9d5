/**
 * covsev's event stream: one typed discriminated union for training runs (`run-start`, `step`,
 * `epoch`, `checkpoint`, `run-end`, `error`) and pipeline stages (`stage-start`,
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
import { closeSync, fstatSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
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
  pid: number;
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
}

/** A checkpoint was written and `latest.json` points to it. */
export interface CheckpointEvent {
  type: 'checkpoint';
  time: number;
  /** Completed epochs: the checkpoint is `epoch-<epoch>`. */
  epoch: number;
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

/** The events of a training run. */
export type TrainEvent = RunStartEvent | StepEvent | EpochEvent | CheckpointEvent | RunEndEvent | RunErrorEvent;
export type TrainEventType = TrainEvent['type'];

/**
 * The stages of the pipeline (`@covsev/pipeline`), in the order a scan goes through them. The
 * stages still to come (segmentation masks, test-time augmentation, the ensemble) join this list
 * when they are built.
 */
export const PIPELINE_STAGES = ['load-cohort', 'preprocess', 'train-classifier', 'predict', 'submission'] as const;
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

/** An append-only JSON-lines writer. */
export class EventLog<E extends CovsevEvent = CovsevEvent> {
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    fd: number,
    private readonly listeners: ((event: E) => void)[],
  ) {
    this.fd = fd;
  }

  /**
   * Opens `path` for appending (creating folders). If a crash left a half-written last line,
   * a newline is added first so the next event starts on a line of its own.
   */
  static open<E extends CovsevEvent = CovsevEvent>(path: string, listener?: (event: E) => void): EventLog<E> {
    mkdirSync(dirname(path), { recursive: true });
    const fd = openSync(path, 'a+');
    const size = fstatSync(fd).size;
    if (size > 0) {
      const last = Buffer.alloc(1);
      readSync(fd, last, 0, 1, size - 1);
      if (last[0] !== 0x0a) writeSync(fd, '\n');
    }
    return new EventLog<E>(path, fd, listener === undefined ? [] : [listener]);
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
  return parseEventLines(await readFile(path, 'utf8'), true).events;
}

export interface FollowOptions {
  /** Polling interval; default 200 ms. */
  intervalMs?: number;
  /** Start at the beginning of the file (default) or only report what is appended from now. */
  fromStart?: boolean;
  /** Called when reading fails or `onEvent` throws; default: print to stderr. */
  onError?: (error: unknown) => void;
}

export interface EventFollower {
  /** Reads whatever was appended since the last read, now; resolves once delivered. */
  poll(): Promise<void>;
  /** Stops following. */
  close(): void;
}

/**
 * Tails a growing log: calls `onEvent` for each complete line as it appears. The file may not
 * exist yet; a half-written last line waits for its newline; a file that shrank (replaced) is
 * read again from the start.
 */
export function followEvents(path: string, onEvent: (event: CovsevEvent) => void, options: FollowOptions = {}): EventFollower {
  const intervalMs = options.intervalMs ?? 200;
  const onError = options.onError ?? ((error: unknown) => console.error(`followEvents ${path}:`, error));
  let offset = -1; // unknown until the first read when !fromStart
  let pending = '';
  let decoder = new StringDecoder('utf8');
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<void> = Promise.resolve();

  const readOnce = async (): Promise<void> => {
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        if (offset < 0) offset = 0;
        return;
      }
      throw error;
    }
    try {
      const { size } = await handle.stat();
      if (offset < 0) offset = options.fromStart === false ? size : 0;
      if (size < offset) {
        offset = 0;
        pending = '';
        decoder = new StringDecoder('utf8');
      }
      while (offset < size && !closed) {
        const buf = Buffer.alloc(Math.min(size - offset, 1 << 20));
        const { bytesRead } = await handle.read(buf, 0, buf.length, offset);
        if (bytesRead === 0) break;
        offset += bytesRead;
        pending += decoder.write(buf.subarray(0, bytesRead));
      }
    } finally {
      await handle.close();
    }
    const { events, rest } = parseEventLines(pending);
    pending = rest;
    for (const event of events) {
      if (closed) return;
      try {
        onEvent(event);
      } catch (error) {
        onError(error);
      }
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
  };
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
