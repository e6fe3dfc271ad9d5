/**
 * The run folder: where every stage of the pipeline reads and writes its files, so that a stage
 * can be rerun, cached or shared alone (docs/formats.md, "Run folders").
 *
 *   <run>/events.jsonl                     the stages' events (`@covsev/events`)
 *   <run>/masks/                           stage 1: lung/, infection/ (NIfTI per scan), overlays/, records/
 *   <run>/cache/                           scans on the classifier grid (`PreprocessCache`)
 *   <run>/runs/cmc/                        the classifier's training run: checkpoints/, events.jsonl
 *   <run>/predictions/<split>.csv          per-scan class probabilities (prediction table): the
 *                                          classifier's, or the ensemble's when there are several
 *   <run>/runs/<model>/                    with several classifiers (`gradeCohort`): each one's run
 *   <run>/predictions/<model>/<split>.csv  and each one's table (`involvement`: the baseline's)
 *   <run>/submission/                      mild.csv, moderate.csv, severe.csv, critical.csv, predictions.csv
 */
import { join } from 'node:path';
import { EVENTS_FILE } from '@covsev/events';

/** A split of a COV19-CT-DB cohort. */
export type Split = 'train' | 'val' | 'test';
export const SPLITS: readonly Split[] = ['train', 'val', 'test'];

/** Where one named model of a run keeps its training run and its prediction tables. */
export interface ModelFolder {
  readonly run: string;
  predictions(split: Split): string;
}

export interface RunFolder {
  readonly root: string;
  readonly events: string;
  readonly masks: string;
  readonly cache: string;
  readonly classifierRun: string;
  readonly submission: string;
  predictions(split: Split): string;
  /** A named member of an ensemble (`runs/<name>`, `predictions/<name>/<split>.csv`). */
  model(name: string): ModelFolder;
}

/** A model name that is also a folder name (letters, digits, '.', '_', '-'). */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The paths of a run folder (nothing is created). */
export function runFolder(root: string): RunFolder {
  return {
    root,
    events: join(root, EVENTS_FILE),
    masks: join(root, 'masks'),
    cache: join(root, 'cache'),
    classifierRun: join(root, 'runs', 'cmc'),
    submission: join(root, 'submission'),
    predictions: (split) => join(root, 'predictions', `${split}.csv`),
    model: (name) => {
      if (!MODEL_NAME.test(name))
        throw new RangeError(`model name ${JSON.stringify(name)} cannot be a folder name (letters, digits, '.', '_', '-')`);
      return { run: join(root, 'runs', name), predictions: (split) => join(root, 'predictions', name, `${split}.csv`) };
    },
  };
}
