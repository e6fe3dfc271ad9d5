/**
 * Micro-batches: a step's backbone passes cut into runs of volumes small enough to train at once,
 * and those runs shared out over workers. Nothing here knows the model.
 */
import * as tf from '@tensorflow/tfjs';
import { type Volume5, volume } from '../layers/volume.js';

/** A run of volumes of one pass that goes through the backbone at once. */
export interface MicroBatch {
  /** The pass (an index into the step's passes). */
  readonly pass: number;
  readonly start: number;
  readonly count: number;
}

/**
 * Cuts each pass of `sizes` volumes into near-equal micro-batches of at most `microBatch`, and of
 * at least 2 (batch norm normalises over the volumes of a micro-batch, as PyTorch's does, and
 * cannot with one): an odd pass may get one micro-batch of `microBatch + 1`.
 */
export function planMicroBatches(sizes: readonly number[], microBatch: number): MicroBatch[] {
  if (!Number.isInteger(microBatch) || microBatch < 2)
    throw new RangeError(`microBatch must be a whole number >= 2 (batch norm needs two volumes), got ${microBatch}`);
  return sizes.flatMap((size, pass) => {
    if (size < 2) throw new RangeError(`a backbone pass of ${size} volume(s): batch norm needs at least 2`);
    const pieces = Math.min(Math.ceil(size / microBatch), Math.floor(size / 2));
    return Array.from({ length: pieces }, (_, i) => {
      const start = Math.round((i * size) / pieces);
      return { pass, start, count: Math.round(((i + 1) * size) / pieces) - start };
    });
  });
}

/**
 * Shares a plan's micro-batches out to `workers` as contiguous runs of the plan, balanced by
 * volumes (each micro-batch goes to the worker whose equal share of the volumes holds its middle).
 * Contiguous runs keep the plan's order across workers, so the running statistics the workers
 * update can be chained into exactly those of the plan run on one thread
 * (`chainRunningStatistics`); a worker may get nothing when there are more workers than
 * micro-batches.
 */
export function assignMicroBatches(plan: readonly MicroBatch[], workers: number): MicroBatch[][] {
  if (!(Number.isInteger(workers) && workers >= 1)) throw new RangeError(`workers must be a whole number >= 1, got ${workers}`);
  const total = plan.reduce((sum, mb) => sum + mb.count, 0);
  const shares: MicroBatch[][] = Array.from({ length: workers }, () => []);
  let before = 0;
  for (const mb of plan) {
    const middle = before + mb.count / 2;
    (shares[Math.min(workers - 1, Math.floor((middle * workers) / total))] as MicroBatch[]).push(mb);
    before += mb.count;
  }
  return shares;
}

/** Volumes [start, start + count) of a Volume5 batch (contiguous slice rows). */
export function sliceVolumes(x: Volume5, start: number, count: number): Volume5 {
  const rows = tf.slice(x.tensor, [start * x.depth, 0, 0, 0], [count * x.depth, -1, -1, -1]);
  return volume(rows, count, x.depth);
}
