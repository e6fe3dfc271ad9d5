/** What the dashboard and its training child say to each other over the IPC channel. */
import type { ClassifierRunConfig } from '@covsev/pipeline';

export interface TrainRequest {
  /** Checked again in the child (`parseClassifierRun`). */
  readonly config: ClassifierRunConfig;
  /** Write a phantom COV19-CT-DB cohort of this many scans into `config.cohort` first. */
  readonly phantom?: number;
}

export type ChildMessage =
  | { readonly type: 'note'; readonly note: string }
  | { readonly type: 'started' }
  | { readonly type: 'done' }
  | { readonly type: 'failed'; readonly message: string };
