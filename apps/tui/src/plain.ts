/**
 * Plain mode (not a TTY, or `--plain`): one line per event worth a line, no Ink. Training: the
 * run's start, a step every `every` steps, each epoch, checkpoints, control answers and the end;
 * the pipeline's stage events. Following ends when the run does (at once for a finished run).
 */
import { type CovsevEvent, followEvents } from '@covsev/events';
import { fmt, formatDuration, sampleUnit } from './format.js';
import { processAlive, type RunPaths } from './run-folder.js';
import { fieldsOf, num, numbers, str, stringArray } from './state/fields.js';
import { initialRunState, isRunOver, type RunState, reduceRun } from './state/run-state.js';

function losses(values: Record<string, number | null>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k} ${fmt(v)}`)
    .join(', ');
}

/** The plain line for `event` (folded into `state` already), or undefined when it gets none. */
export function plainLine(event: unknown, state: RunState, every: number): string | undefined {
  const e = fieldsOf(event);
  const epochs = state.epochs === undefined ? '' : `/${state.epochs}`;
  switch (str(e.type)) {
    case 'run-start': {
      const resumed = str(e.resumedFrom) === undefined ? '' : `, resumed from ${str(e.resumedFrom)}`;
      return `run-start: ${state.model ?? 'model ?'} (${state.kind ?? 'training'}), backend ${state.backend ?? '?'}, ${state.epochs ?? '?'} epochs x ${state.stepsPerEpoch ?? '?'} steps, seed ${state.seed ?? '?'}${resumed}`;
    }
    case 'step': {
      const globalStep = num(e.globalStep) ?? 0;
      if (every <= 0 || globalStep % every !== 0) return undefined;
      const unit = state.kind === 'segmentation' ? sampleUnit(state.kind) : 'vol';
      const rate = state.volumesPerSecond === undefined ? '' : `, ${fmt(state.volumesPerSecond, 3)} ${unit}/s`;
      return `epoch ${state.epoch + 1}${epochs} step ${state.step + 1}/${state.stepsPerEpoch ?? '?'}: ${losses(numbers(e.losses))}, lr ${fmt(num(e.lr))}${rate}`;
    }
    case 'epoch': {
      const epoch = (num(e.epoch) ?? 0) + 1;
      const best = state.best !== undefined && state.best.epoch + 1 === epoch ? ' (best)' : '';
      const eta = num(e.eta);
      return `epoch ${epoch}${epochs}: ${losses(numbers(e.metrics))}${best}, ${formatDuration(num(e.ms) ?? Number.NaN)}${eta === undefined || eta === 0 ? '' : `, ETA ${formatDuration(eta)}`}`;
    }
    case 'checkpoint':
      return `checkpoint: epoch ${num(e.epoch) ?? '?'} -> ${str(e.path) ?? '?'}`;
    case 'control':
      return `control ${str(e.command) ?? '?'}: ${str(e.status) ?? '?'}${str(e.message) === undefined ? '' : ` (${str(e.message)})`}${str(e.path) === undefined ? '' : ` -> ${str(e.path)}`}`;
    case 'run-end': {
      const how = e.stopped === true ? 'stopped' : 'finished';
      const best =
        state.best === undefined ? '' : `; best ${state.best.metric} ${fmt(state.best.value)} at epoch ${state.best.epoch + 1}`;
      return `run ${how}: ${num(e.epochs) ?? '?'} epochs, ${num(e.globalStep) ?? '?'} steps in ${formatDuration(num(e.ms) ?? Number.NaN)}${best}`;
    }
    case 'error':
      return `run failed: ${str(e.name) ?? 'Error'}: ${str(e.message) ?? ''}`;
    case 'stage-start': {
      const total = num(e.total);
      return `stage ${str(e.stage)}: started${total === undefined ? '' : ` (${total} items)`}`;
    }
    case 'stage-progress': {
      const done = num(e.done) ?? 0;
      const total = num(e.total) ?? 0;
      const item = str(e.item);
      // train-classifier's progress is its resume line: always worth printing.
      if (str(e.stage) !== 'train-classifier' && done !== total && (every <= 0 || done % every !== 0)) return undefined;
      return `stage ${str(e.stage)}: ${done}/${total}${item === undefined ? '' : ` ${item}`}${e.cached === true ? ' (cache)' : ''}`;
    }
    case 'stage-end': {
      const summary = losses(numbers(e.summary));
      const warnings = (stringArray(e.warnings) ?? []).map((w) => `; warning: ${w}`).join('');
      return `stage ${str(e.stage)}: done in ${formatDuration(num(e.ms) ?? Number.NaN)}${summary === '' ? '' : ` (${summary})`}${warnings}`;
    }
    default:
      return undefined;
  }
}

/** Folds events and prints their lines: the plain renderer over a recorded or live stream. */
export function plainPrinter(
  every: number,
  print: (line: string) => void,
): { push(event: CovsevEvent): void; state(): RunState } {
  let state = initialRunState;
  return {
    push(event) {
      state = reduceRun(state, event);
      const line = plainLine(event, state, every);
      if (line !== undefined) print(line);
    },
    state: () => state,
  };
}

export interface PlainFollowOptions {
  readonly every: number;
  readonly print: (line: string) => void;
  readonly intervalMs?: number;
  /** Resolves when an outside end comes (the training child exited); following ends after a last read, and only then. */
  readonly until?: Promise<unknown>;
  readonly alive?: (pid: number | undefined) => boolean;
  /**
   * Lines from outside the logs (the training child's notes), with the time they came: each round
   * takes them before reading the logs and prints them in time order among the events' lines.
   */
  readonly notes?: () => readonly TimedLine[];
}

export interface TimedLine {
  readonly time: number;
  readonly line: string;
}

/** Follows a run's logs, printing plain lines, until the run is over; resolves to the final state. */
export async function followPlain(paths: RunPaths, options: PlainFollowOptions): Promise<RunState> {
  const printer = plainPrinter(options.every, options.print);
  const intervalMs = options.intervalMs ?? 200;
  const onError = (error: unknown) => options.print(`follow: ${error instanceof Error ? error.message : String(error)}`);
  const logs = [paths.stageLog, paths.trainLog].filter((p): p is string => p !== undefined);
  // Both logs are read each round and their events put in time order (with the notes taken
  // before the read: what they report was written before they came) before printing.
  let batch: CovsevEvent[] = [];
  const flush = (notes: readonly TimedLine[]): void => {
    const items: (CovsevEvent | TimedLine)[] = [...batch, ...notes];
    batch = [];
    // Stable: among equal times, events before notes.
    items.sort((a, b) => a.time - b.time);
    for (const item of items) {
      if ('line' in item) options.print(item.line);
      else printer.push(item);
    }
  };
  const takeNotes = (): readonly TimedLine[] => options.notes?.() ?? [];
  const followers = logs.map((log) => followEvents(log, (e) => batch.push(e), { intervalMs, onError }));
  const alive = options.alive ?? processAlive;
  let outside = false;
  void options.until?.then(
    () => (outside = true),
    () => (outside = true),
  );
  try {
    for (;;) {
      let notes = takeNotes();
      for (const f of followers) await f.poll();
      flush(notes);
      const state = printer.state();
      // With an outside end (a training child), only that ends the following: the log may hold a
      // finished earlier run that this one resumes.
      const over = options.until === undefined ? isRunOver(state, paths.stageLog !== undefined, alive(state.pid)) : outside;
      if (over) {
        notes = takeNotes();
        for (const f of followers) await f.poll();
        flush(notes);
        return printer.state();
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  } finally {
    for (const f of followers) f.close();
  }
}
