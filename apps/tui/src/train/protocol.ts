/** What the dashboard and its training child say to each other over the IPC channel. */
import type { ClassifierRunConfig } from '@covsev/pipeline';
import type { ArchName, EncoderName, SegmentationTask } from '@covsev/segment';

/** `train cmc`: the classifier's pipeline run. */
export interface ClassifierTrainRequest {
  readonly model?: 'cmc';
  /** Checked again in the child (`parseClassifierRun`). */
  readonly config: ClassifierRunConfig;
  /** Write a phantom COV19-CT-DB cohort of this many scans into `config.cohort` first. */
  readonly phantom?: number;
}

/** `train seg`: one stage-1 model (`trainSegmentation`), its run folder a training run folder. */
export interface SegmentationRunConfig {
  /** A COVID-19-CT-Seg folder (`ct_scans/`, `lung_mask/`, `infection_mask/`). */
  readonly cohort: string;
  readonly run: string;
  readonly task: SegmentationTask;
  readonly arch: ArchName;
  readonly encoder: EncoderName;
  /** Channel multiplier in (0, 1]. */
  readonly width: number;
  /** Slices are resized to size x size. */
  readonly size: number;
  readonly epochs: number;
  readonly batch: number;
  readonly lr: number;
  readonly seed: number;
}

export interface SegmentationTrainRequest {
  readonly model: 'seg';
  readonly seg: SegmentationRunConfig;
  /** Write a phantom COVID-19-CT-Seg cohort of this many scans into `seg.cohort` first. */
  readonly phantom?: number;
}

export type TrainRequest = ClassifierTrainRequest | SegmentationTrainRequest;

export type ChildMessage =
  | { readonly type: 'note'; readonly note: string }
  | { readonly type: 'started' }
  | { readonly type: 'done' }
  | { readonly type: 'failed'; readonly message: string };
