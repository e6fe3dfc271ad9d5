/**
 * Stage "predict": per-scan class probabilities from a trained classifier, in eval mode, written
 * as a prediction table (`<run>/predictions/<split>.csv`, docs/formats.md). The category of
 * each row is its most probable class.
 *
 * The method's inference by default (docs/method.md, "TTA"): each scan is seen 3 times through a
 * seeded draw of the training augmentation, the softmax outputs averaged, the network on
 * onnxruntime (`predictCmcTta` in `@covsev/cmc`). `tta: { passes: 0 }` is the plain eval-mode
 * pass; `engine: 'tfjs'` keeps the network on tfjs. The ensemble of several models
 * (`ensembleStage`) writes a table of the same format.
 *
 * With `resume`, the stage survives a crash (docs/sharding.md): after every `chunk` scans it
 * writes the rows done so far to `<out>.partial.csv` (atomically, `writePredictionCsv`); a
 * later call with the same scans reads that file, predicts only the rest, writes `out` and
 * removes the partial file. The table equals an uninterrupted run's byte for byte: the rows read
 * back print the same 9 digits.
 *
 * Each scan goes through `predictCmcTta` on its own (its views batched together, never with
 * another scan's): a batch of other sizes or partners can differ in the last float32 bit, and the
 * table's 9 digits would show it; this way sharding (`./shard.ts`) changes no byte.
 */

import { createHash } from 'node:crypto';
import { readFile, rm, stat } from 'node:fs/promises';
import { CMC_TTA_DEFAULTS, type CmcEngine, predictCmcTta } from '@covsev/cmc';
import { confusionMatrix, macroF1 } from '@covsev/eval';
import {
  CovsevInputError,
  type PredictionRow,
  readPredictionCsv,
  type Volume,
  writeFileAtomic,
  writePredictionCsv,
} from '@covsev/io';
import { classIdOf, NUM_CLASSES, predictionRow } from '../grades.js';
import { beginStage, type StageContext } from '../stage.js';
import type { CohortScan } from './loadCohort.js';
import { classifierScans, type TrainedClassifier } from './trainClassifier.js';

/** Test-time augmentation: `passes` augmented views per scan (0: the plain pass), drawn from `seed`. */
export interface PredictTta {
  readonly passes: number;
  readonly seed: number;
}

/** How the predict stage runs the classifier; the defaults are the method's (3 passes, onnxruntime). */
export interface PredictOptions {
  /** Default `{ passes: 3, seed: 0 }` (`CMC_TTA_DEFAULTS`). */
  readonly tta?: PredictTta;
  /** Default 'onnx'. */
  readonly engine?: CmcEngine;
}

export interface PredictInputs extends PredictOptions {
  readonly classifier: Pick<TrainedClassifier, 'model' | 'inChannels'>;
  readonly scans: readonly CohortScan[];
  readonly volumes: ReadonlyMap<string, Volume<Uint8Array>>;
  readonly masks?: ReadonlyMap<string, Volume<Uint8Array>>;
  /** Where the prediction table goes (`runFolder(run).predictions(split)`); absent: not written. */
  readonly out?: string;
  /**
   * Keep finished rows in `partialTablePath(out)` while running and start from it when it is
   * there (needs `out`). Beside it, `partialSettingsPath(out)` records what made the rows (TTA,
   * engine, input channels, a hash of the weights): a partial table from other settings, or
   * without that record, is refused.
   */
  readonly resume?: boolean;
  /** Scans between progress events, and between partial writes with `resume` (default 4). */
  readonly chunk?: number;
  /** Names the classifier in the stage's events (`detail.model`) when a run has several. */
  readonly model?: string;
}

/** `<out>.partial.csv`: the rows a resumable predict stage has finished. */
export function partialTablePath(out: string): string {
  return `${out}.partial.csv`;
}

/** `<out>.partial.json`: the settings the partial table's rows were made with. */
export function partialSettingsPath(out: string): string {
  return `${out}.partial.json`;
}

/** What a prediction depends on besides the scan: TTA, engine, input channels and the weights (SHA-256). */
function predictionSettings(
  classifier: PredictInputs['classifier'],
  tta: PredictTta,
  engine: CmcEngine,
): Record<string, string | number> {
  const hash = createHash('sha256');
  const model = classifier.model;
  for (const { name, variable } of [...model.parameters(), ...model.buffers()]) {
    const values = variable.dataSync() as Float32Array;
    hash.update(name).update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }
  return { passes: tta.passes, seed: tta.seed, engine, inChannels: classifier.inChannels, weights: hash.digest('hex') };
}

/** Refuses a partial table whose settings record is missing or differs from `settings` (naming the table). */
async function checkPartialSettings(partial: string, record: string, settings: Record<string, string | number>): Promise<void> {
  const text = await readFile(record, 'utf8').catch(() => undefined);
  const wanted = JSON.stringify(settings);
  if (text === undefined)
    throw new CovsevInputError(
      partial,
      `has no settings record (${record}), so its rows cannot be trusted: remove it to start over`,
    );
  if (text.trim() !== wanted) {
    const was = JSON.parse(text) as Record<string, unknown>;
    const changed = Object.keys(settings).filter((k) => was[k] !== settings[k]);
    throw new CovsevInputError(
      partial,
      `was made with other settings (${changed.join(', ')} differ${changed.includes('weights') ? '; weights: another checkpoint' : ''}): remove it to start over`,
    );
  }
}

/** The rows of a partial table, refused (naming it) when it names a scan not being predicted. */
async function readPartial(partial: string, names: ReadonlySet<string>): Promise<PredictionRow[]> {
  const info = await stat(partial).catch(() => undefined);
  if (info === undefined) return [];
  const rows = await readPredictionCsv(partial);
  const stray = rows.find((r) => !names.has(r.name));
  if (stray !== undefined)
    throw new CovsevInputError(
      partial,
      `scan "${stray.name}" is not among the scans being predicted: this partial table is from another command (remove it to start over)`,
    );
  return rows;
}

/** Predicts every scan; writes the table when `out` is given. */
export async function predictScans(inputs: PredictInputs, context: StageContext = {}): Promise<PredictionRow[]> {
  const tta = inputs.tta ?? { passes: CMC_TTA_DEFAULTS.passes, seed: CMC_TTA_DEFAULTS.seed };
  const engine = inputs.engine ?? CMC_TTA_DEFAULTS.engine;
  const stage = beginStage(context, 'predict', inputs.scans.length, {
    ...(inputs.model === undefined ? {} : { model: inputs.model }),
    ...(inputs.out === undefined ? {} : { out: inputs.out }),
    passes: tta.passes,
    seed: tta.seed,
    engine,
  });
  const scans = classifierScans(inputs.scans, inputs.volumes, inputs.masks);
  const resume = inputs.resume === true && inputs.out !== undefined;
  const partial = resume ? partialTablePath(inputs.out as string) : undefined;
  const finished = new Map<string, PredictionRow>();
  const record = resume ? partialSettingsPath(inputs.out as string) : undefined;
  const settings = resume ? predictionSettings(inputs.classifier, tta, engine) : undefined;
  if (partial !== undefined && record !== undefined && settings !== undefined) {
    const rows = await readPartial(partial, new Set(scans.map((s) => s.name)));
    if (rows.length > 0) await checkPartialSettings(partial, record, settings);
    for (const row of rows) finished.set(row.name, row);
  }
  const todo = scans.filter((s) => !finished.has(s.name));
  const chunk = inputs.chunk ?? 4;
  if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`chunk must be an integer >= 1, got ${inputs.chunk}`);
  const inOrder = () => scans.flatMap((s) => finished.get(s.name) ?? []);
  for (let start = 0; start < todo.length; start += chunk) {
    const part = todo.slice(start, start + chunk);
    for (const scan of part) {
      // One scan per call: a network batch then never mixes scans, so a scan's row is the same
      // bytes whatever else is predicted with it (sharded, resumed, or whole).
      const [probabilities] = await predictCmcTta(inputs.classifier.model, [scan], {
        inChannels: inputs.classifier.inChannels,
        passes: tta.passes,
        seed: tta.seed,
        engine,
      });
      finished.set(scan.name, predictionRow(scan.name, probabilities as number[]));
    }
    if (partial !== undefined && start + chunk < todo.length) {
      if (record !== undefined) await writeFileAtomic(record, JSON.stringify(settings));
      await writePredictionCsv(partial, inOrder());
    }
    for (const s of part) stage.progress(finished.size, s.name);
  }
  const rows = inOrder();
  if (inputs.out !== undefined) await writePredictionCsv(inputs.out, rows);
  if (partial !== undefined) await rm(partial, { force: true });
  if (record !== undefined) await rm(record, { force: true });
  stage.end(inputs.out === undefined ? [] : [inputs.out], {
    scans: rows.length,
    ...(resume ? { resumed: scans.length - todo.length, predicted: todo.length } : {}),
  });
  return rows;
}

/**
 * Macro F1 of predictions against the published grades of the labelled scans among them
 * (NaN when none is labelled).
 */
export function scorePredictions(rows: readonly PredictionRow[], scans: readonly CohortScan[]): number {
  const grade = new Map(scans.map((s) => [s.name, s.category]));
  const truth: number[] = [];
  const predicted: number[] = [];
  for (const row of rows) {
    const category = grade.get(row.name);
    if (category === undefined) continue;
    truth.push(classIdOf(category));
    predicted.push(classIdOf(row.category));
  }
  return truth.length === 0 ? Number.NaN : macroF1(confusionMatrix(truth, predicted, NUM_CLASSES));
}
