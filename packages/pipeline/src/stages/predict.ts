/**
 * Stage "predict": per-scan class probabilities from a trained classifier, in eval mode, written
 * as a prediction table (`<run>/predictions/<split>.csv`, docs/formats.md). The category of
 * each row is its most probable class.
 *
 * Test-time augmentation (docs/method.md, "TTA": n augmented passes, softmax averaged) and the
 * ensemble of several models join here when they are built: both produce the same table.
 */
import { predictCmc } from '@covsev/cmc';
import { confusionMatrix, macroF1 } from '@covsev/eval';
import { type PredictionRow, type Volume, writePredictionCsv } from '@covsev/io';
import { classIdOf, NUM_CLASSES, predictionRow } from '../grades.js';
import { beginStage, type StageContext } from '../stage.js';
import type { CohortScan } from './loadCohort.js';
import { classifierScans, type TrainedClassifier } from './trainClassifier.js';

export interface PredictInputs {
  readonly classifier: Pick<TrainedClassifier, 'model' | 'inChannels'>;
  readonly scans: readonly CohortScan[];
  readonly volumes: ReadonlyMap<string, Volume<Uint8Array>>;
  readonly masks?: ReadonlyMap<string, Volume<Uint8Array>>;
  /** Where the prediction table goes (`runFolder(run).predictions(split)`); absent: not written. */
  readonly out?: string;
}

/** Predicts every scan; writes the table when `out` is given. */
export async function predictScans(inputs: PredictInputs, context: StageContext = {}): Promise<PredictionRow[]> {
  const stage = beginStage(context, 'predict', inputs.scans.length, inputs.out === undefined ? undefined : { out: inputs.out });
  const scans = classifierScans(inputs.scans, inputs.volumes, inputs.masks);
  const probabilities = predictCmc(inputs.classifier.model, scans, inputs.classifier.inChannels);
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
