/**
 * Training curves of a run from its events (`events.jsonl`, `@covsev/events`): one panel per
 * quantity, stacked: the loss terms of every step (`step` events' `losses`: total, contrastive,
 * mixup, classification, or a segmenter's dice), the learned loss weights exp(-s1), exp(-s2) of
 * the joint loss (`weightContrastive`, `weightClassification`, or keys `s1`, `s2`), the learning
 * rate per step, the losses per epoch (`epoch` events: the mean step loss `loss` and `valLoss`)
 * and the validation metrics per epoch (`valMacroF1`, or a segmenter's `valIoU`, `valDice`, ...).
 * Panels without data are left out.
 *
 * A resumed run repeats steps and epochs after its checkpoint: the last event of each global step
 * and each epoch wins. Null or non-finite values (a NaN loss that stopped a run) are skipped.
 * Beyond `maxPoints` steps, consecutive steps are averaged into `maxPoints` buckets.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type CovsevEvent, type EpochEvent, EVENTS_FILE, readEventLog, type StepEvent } from '@covsev/events';
import { CovsevInputError } from '@covsev/io';
import type { TopLevelSpec } from 'vega-lite';
import { type RenderedChart, type RenderOptions, writeChartPng } from './render.js';

/** One value of one series of one panel. */
export interface CurvePoint {
  /** The global step (1-based) for per-step panels, the completed epoch (1-based) for per-epoch ones. */
  readonly x: number;
  readonly series: string;
  readonly value: number;
}

/** One panel of the training curves. */
export interface CurvePanel {
  readonly title: string;
  readonly xTitle: 'step' | 'epoch';
  readonly yTitle: string;
  readonly points: readonly CurvePoint[];
}

/** Options of `trainingCurvePanels`, `trainingCurvesSpec` and `writeTrainingCurvesPng`. */
export interface TrainingCurvesOptions extends RenderOptions {
  /** The chart's title (default `Training curves`; '' for none). */
  readonly title?: string;
  /** Where the events came from, named in errors (default `events`). */
  readonly source?: string;
  /** Most points per step series before steps are averaged in buckets (default 1000). */
  readonly maxPoints?: number;
  /** Panel width in chart units (default 560). */
  readonly width?: number;
  /** Panel height in chart units (default 150). */
  readonly panelHeight?: number;
}

/** The loss keys that are the learned weights of the joint loss, drawn in their own panel. */
const WEIGHT_KEY = /^(?:weight[A-Z]\w*|s\d+)$/;

function finite(value: number | null | undefined): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** Keeps the last event per key (a resumed run repeats what followed its checkpoint), sorted by key. */
function lastByKey<E>(events: readonly E[], key: (event: E) => number): E[] {
  const byKey = new Map<number, E>();
  for (const event of events) byKey.set(key(event), event);
  return [...byKey.entries()].sort((a, b) => a[0] - b[0]).map(([, e]) => e);
}

/** Averages consecutive points of each series into at most `maxPoints` buckets (x = the bucket's last x). */
function thin(points: CurvePoint[], maxPoints: number): CurvePoint[] {
  const bySeries = new Map<string, CurvePoint[]>();
  for (const p of points) {
    const list = bySeries.get(p.series) ?? [];
    list.push(p);
    bySeries.set(p.series, list);
  }
  const out: CurvePoint[] = [];
  for (const [series, list] of bySeries) {
    const size = Math.ceil(list.length / maxPoints);
    if (size <= 1) {
      out.push(...list);
      continue;
    }
    for (let i = 0; i < list.length; i += size) {
      const bucket = list.slice(i, i + size);
      const value = bucket.reduce((s, p) => s + p.value, 0) / bucket.length;
      out.push({ x: (bucket[bucket.length - 1] as CurvePoint).x, series, value });
    }
  }
  return out;
}

/** Legend names of the joint loss's learned weights (eq. 8: exp(-s1) weighs L_con, exp(-s2) L_mix + L_clf). */
const WEIGHT_NAMES: Readonly<Record<string, string>> = {
  weightContrastive: 'exp(-s1), on contrastive',
  weightClassification: 'exp(-s2), on mixup + classification',
};

function epochSeriesName(key: string): string {
  if (key === 'loss') return 'train (mean of steps)';
  if (key === 'valLoss') return 'validation';
  return key;
}

/**
 * The panels `writeTrainingCurvesPng` draws, as data (see the module comment). Events other than
 * `step` and `epoch` are ignored.
 *
 * Throws:
 *   CovsevInputError: naming `options.source`, when there is no finite value to draw.
 */
export function trainingCurvePanels(events: readonly CovsevEvent[], options: TrainingCurvesOptions = {}): CurvePanel[] {
  const maxPoints = options.maxPoints ?? 1000;
  if (!(Number.isInteger(maxPoints) && maxPoints >= 1))
    throw new RangeError(`maxPoints must be an integer >= 1, got ${maxPoints}`);
  const steps = lastByKey(
    events.filter((e): e is StepEvent => e.type === 'step'),
    (e) => e.globalStep,
  );
  const epochs = lastByKey(
    events.filter((e): e is EpochEvent => e.type === 'epoch'),
    (e) => e.epoch,
  );
  const losses: CurvePoint[] = [];
  const weights: CurvePoint[] = [];
  const lr: CurvePoint[] = [];
  for (const step of steps) {
    for (const [key, value] of Object.entries(step.losses ?? {})) {
      if (!finite(value)) continue;
      if (WEIGHT_KEY.test(key)) weights.push({ x: step.globalStep, series: WEIGHT_NAMES[key] ?? key, value });
      else losses.push({ x: step.globalStep, series: key, value });
    }
    if (finite(step.lr)) lr.push({ x: step.globalStep, series: 'lr', value: step.lr });
  }
  const epochLosses: CurvePoint[] = [];
  const validation: CurvePoint[] = [];
  for (const epoch of epochs) {
    for (const [key, value] of Object.entries(epoch.metrics ?? {})) {
      if (!finite(value)) continue;
      const point = { x: epoch.epoch + 1, series: epochSeriesName(key), value };
      if (/loss/i.test(key)) epochLosses.push(point);
      else if (/^val/.test(key)) validation.push(point);
    }
  }
  const validationKeys = [...new Set(validation.map((p) => p.series))];
  const onlyMacroF1 = validationKeys.length === 1 && validationKeys[0] === 'valMacroF1';
  const candidates: CurvePanel[] = [
    { title: 'Loss terms per step', xTitle: 'step', yTitle: 'loss', points: thin(losses, maxPoints) },
    {
      title: 'Learned loss weights exp(-s1), exp(-s2) per step',
      xTitle: 'step',
      yTitle: 'weight',
      points: thin(weights, maxPoints),
    },
    { title: 'Learning rate per step', xTitle: 'step', yTitle: 'learning rate', points: thin(lr, maxPoints) },
    { title: 'Loss per epoch', xTitle: 'epoch', yTitle: 'loss', points: epochLosses },
    {
      title: onlyMacroF1 ? 'Validation Macro F1 per epoch' : 'Validation metrics per epoch',
      xTitle: 'epoch',
      yTitle: onlyMacroF1 ? 'Macro F1' : 'value',
      points: validation,
    },
  ];
  const panels = candidates.filter((panel) => panel.points.length > 0);
  if (panels.length === 0) {
    throw new CovsevInputError(
      options.source ?? 'events',
      `nothing to draw: no step or epoch event with a finite value (${events.length} events)`,
    );
  }
  return panels;
}

/** The Vega-Lite spec `writeTrainingCurvesPng` draws: the panels stacked, each with its own legend. */
export function trainingCurvesSpec(events: readonly CovsevEvent[], options: TrainingCurvesOptions = {}): TopLevelSpec {
  const panels = trainingCurvePanels(events, options);
  const title = options.title ?? 'Training curves';
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(title === '' ? {} : { title: { text: title, fontSize: 16, anchor: 'start', offset: 12 } }),
    vconcat: panels.map((panel) => ({
      title: { text: panel.title, fontSize: 13, anchor: 'start', frame: 'group' },
      width: options.width ?? 560,
      height: options.panelHeight ?? 150,
      data: { values: panel.points.map((p) => ({ ...p })) },
      mark: { type: 'line', point: panel.xTitle === 'epoch', strokeWidth: 1.5 },
      encoding: {
        x: {
          field: 'x',
          type: 'quantitative',
          title: panel.xTitle,
          axis: { format: 'd', tickMinStep: 1 },
          scale: { zero: false, nice: false },
        },
        y: {
          field: 'value',
          type: 'quantitative',
          title: panel.yTitle,
          // Scores in [0, 1] (Macro F1, IoU, Dice) on their whole range, so a flat curve reads as flat.
          scale:
            panel.xTitle === 'epoch' && panel.yTitle !== 'loss' && panel.points.every((p) => p.value >= 0 && p.value <= 1)
              ? { domain: [0, 1] }
              : { zero: false },
        },
        color: { field: 'series', type: 'nominal', title: null, legend: { labelLimit: 320 } },
      },
    })),
    resolve: { scale: { color: 'independent' }, legend: { color: 'independent' } },
    spacing: 24,
  } as TopLevelSpec;
}

/**
 * Draws a training run's curves (see the module comment) from its events (`readEvents` of
 * `<run>/events.jsonl`, or `readRunEvents`) and writes the PNG to `path`, atomically.
 *
 * Throws:
 *   CovsevInputError: naming `options.source`, when the events hold nothing to draw.
 */
export async function writeTrainingCurvesPng(
  path: string,
  events: readonly CovsevEvent[],
  options: TrainingCurvesOptions = {},
): Promise<RenderedChart> {
  return writeChartPng(path, trainingCurvesSpec(events, options), options);
}

/** A run's events and where they were read from. */
export interface RunEvents {
  /** The events file read. */
  readonly path: string;
  readonly events: CovsevEvent[];
  /** Whole lines that were not events (left by a crash), skipped. */
  readonly skipped: number;
}

/**
 * Reads the events of a run: `runDirOrFile` is a run folder (its `events.jsonl` is read) or an
 * events file. A missing folder or file is a CovsevInputError naming it.
 */
export async function readRunEvents(runDirOrFile: string): Promise<RunEvents> {
  const info = await stat(runDirOrFile).catch(() => undefined);
  if (info === undefined) throw new CovsevInputError(runDirOrFile, 'no such run folder or events file');
  const path = info.isDirectory() ? join(runDirOrFile, EVENTS_FILE) : runDirOrFile;
  let log: Awaited<ReturnType<typeof readEventLog>>;
  try {
    log = await readEventLog(path);
  } catch (error) {
    throw new CovsevInputError(path, `cannot read the run's events: ${(error as Error).message}`, { cause: error });
  }
  return { path, events: log.events, skipped: log.skipped };
}
