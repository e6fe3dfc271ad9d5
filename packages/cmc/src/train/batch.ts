/**
 * A CMC step's batch (two augmented views of N scans) and the backbone passes a step makes of it
 * (docs/method.md, "Losses"): both views together (2N volumes), then, for the variants with mixup,
 * each view mixed with its own partners (eq. 5, N volumes each).
 */
import { type Volume5, volume } from '@covsev/engine';
import * as tf from '@tensorflow/tfjs';
import { type MixupDraw, mixVolumes } from '../losses/mixup.js';

export interface CmcBatch {
  /** The two augmented views of the same N scans, each a Volume5 of batch N. */
  readonly views: readonly [Volume5, Volume5];
  /** N class ids (0..3). */
  readonly labels: readonly number[];
}

/**
 * Something for each backbone pass of a step: three (the 2N views, then each view's mixed batch)
 * for the variants with mixup, one (the 2N views) for `resnest`.
 */
export type Passes<T> = readonly T[];

/** `f` of each pass. */
export function mapPasses<S, T>(passes: Passes<S>, f: (pass: S, index: number) => T): T[] {
  return passes.map((p, i) => f(p, i));
}

/** Refuses a batch whose views disagree with each other or with the labels. */
export function checkBatch(batch: CmcBatch): void {
  const [a, b] = batch.views;
  if (a.batch !== batch.labels.length || b.batch !== batch.labels.length) {
    throw new RangeError(`views hold ${a.batch} and ${b.batch} scans but there are ${batch.labels.length} labels`);
  }
  if (a.tensor.shape.join() !== b.tensor.shape.join())
    throw new RangeError(`the two views differ in shape: [${a.tensor.shape}] vs [${b.tensor.shape}]`);
}

/**
 * The backbone passes of a step: both views together (2N), then, with mixup draws (the variants
 * with mixup), each view mixed (N each).
 */
export function backbonePasses(batch: CmcBatch, mixup: readonly [MixupDraw, MixupDraw] | undefined): Volume5[] {
  const [a, b] = batch.views;
  const both = volume(tf.concat([a.tensor, b.tensor], 0) as tf.Tensor4D, 2 * a.batch, a.depth);
  return mixup === undefined ? [both] : [both, mixVolumes(a, mixup[0]), mixVolumes(b, mixup[1])];
}
