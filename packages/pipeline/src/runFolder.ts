/**
 * The run folder: where every stage of the pipeline reads and writes its files, so that a stage
 * can be rerun, cached or shared alone (docs/formats.md, "Run folders").
 *
 *   <run>/events.jsonl            the stages' events (`@covsev/events`)
 *   <run>/cache/                  scans on the classifier grid (`PreprocessCache`)
 *   <run>/runs/cmc/               the classifier's training run: checkpoints/, events.jsonl
 *   <run>/predictions/<split>.csv per-scan class probabilities (prediction table)
 *   <run>/submission/             mild.csv, moderate.csv, severe.csv, critical.csv
 *
 * The stages still to come write beside these: stage 1's lung and infection masks as NIfTI per
 * scan (`masks/`), the test-time-augmentation passes and the ensemble's combined table
 * (`predictions/`), each under a name of its own when it is built.
 */
import { join } from 'node:path';
import { EVENTS_FILE } from '@covsev/events';

/** A split of a COV19-CT-DB cohort. */
export type Split = 'train' | 'val' | 'test';
export const SPLITS: readonly Split[] = ['train', 'val', 'test'];

export interface RunFolder {
  readonly root: string;
  readonly events: string;
  readonly cache: string;
  readonly classifierRun: string;
  readonly submission: string;
  predictions(split: Split): string;
}

/** The paths of a run folder (nothing is created). */
export function runFolder(root: string): RunFolder {
  return {
    root,
    events: join(root, EVENTS_FILE),
    cache: join(root, 'cache'),
    classifierRun: join(root, 'runs', 'cmc'),
    submission: join(root, 'submission'),
    predictions: (split) => join(root, 'predictions', `${split}.csv`),
  };
}
