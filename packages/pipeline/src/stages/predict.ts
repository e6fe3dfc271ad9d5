/**
 * Stage "predict": per-scan class probabilities from a trained classifier, in eval mode, written
 * as a prediction table (`<run>/predictions/<split>.csv`, docs/formats.md). The category of
 * each row is its most probable class.
 *
 * The method's inference by default (docs/method.md, "TTA"): each scan is seen 3 times through a
 * seeded draw of the training augmentation, the softmax outputs averaged, the network on
 * onnxruntime (`predictCmcTta` in `@covsev/cmc`). `tta: { passes: 0 }` is the plain eval-mode
 * pass; `engine: 'tfjs'` keeps the network on tfjs. The ensemble of several models will join
 * here when it is built: it produces the same table.
 */
import { CMC_TTA_DEFAULTS, type CmcEngine, predictCmcTta } from '@covsev/cmc';
import { confusionMatrix, macroF1 } from '@covsev/eval';
import { type PredictionRow, type Volume, writePredictionCsv } from '@covsev/io';
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
}

/** Predicts every scan; writes the table when `out` is given. */
export async function predictScans(inputs: PredictInputs, context: StageContext = {}): Promise<PredictionRow[]> {
  const tta = inputs.tta ?? { passes: CMC_TTA_DEFAULTS.passes, seed: CMC_TTA_DEFAULTS.seed };
  const engine = inputs.engine ?? CMC_TTA_DEFAULTS.engine;
  const stage = beginStage(context, 'predict', inputs.scans.length, {
    ...(inputs.out === undefined ? {} : { out: inputs.out }),
    passes: tta.passes,
    seed: tta.seed,
    engine,
  });
  const scans = classifierScans(inputs.scans, inputs.volumes, inputs.masks);
  const probabilities = await predictCmcTta(inputs.classifier.model, scans, {
    inChannels: inputs.classifier.inChannels,
    passes: tta.passes,
    seed: tta.seed,
    engine,
  });
  const rows = scans.map((s, i) => predictionRow(s.name, probabilities[i] as number[]));
  stage.progress(rows.length);
  if (inputs.out !== undefined) await writePredictionCsv(inputs.out, rows);
  stage.end(inputs.out === undefined ? [] : [inputs.out], { scans: rows.length });
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
