/**
 * Batches of prepared slices as the engine's 2D batches: images `[n, H, W, 1]` (float32) and
 * targets `[n, H, W, 1]` (0/1 float32), optionally augmented (`data/augment.ts`), the draws taken
 * from `rng` slice by slice in batch order.
 */
import type { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { applySliceAugment, drawSliceAugment } from './augment.js';
import type { SliceSet } from './slices.js';

/** The method's batch size (docs/method.md, "Segmentation"). */
export const SEGMENTATION_BATCH_SIZE = 8;

export interface SliceBatch {
  readonly x: tf.Tensor4D;
  readonly y: tf.Tensor4D;
}

/** Slices `indices` of `set` as one batch; with `augment`, each slice augmented by a fresh draw. */
export function sliceBatch(set: SliceSet, indices: readonly number[], options: { augment?: Rng } = {}): SliceBatch {
  const [rows, cols] = set.size;
  const plane = rows * cols;
  const n = indices.length;
  if (n === 0) throw new RangeError('sliceBatch: no slices');
  const x = new Float32Array(n * plane);
  const y = new Float32Array(n * plane);
  indices.forEach((index, b) => {
    let image = set.images[index];
    let mask = set.masks[index];
    if (image === undefined || mask === undefined)
      throw new RangeError(`sliceBatch: slice ${index} outside 0..${set.images.length - 1}`);
    if (options.augment !== undefined) {
      const params = drawSliceAugment(options.augment, rows, cols);
      ({ image, mask } = applySliceAugment({ image, mask, rows, cols }, params));
    }
    x.set(image, b * plane);
    for (let i = 0; i < plane; i++) y[b * plane + i] = mask[i] as number;
  });
  return { x: tf.tensor4d(x, [n, rows, cols, 1]), y: tf.tensor4d(y, [n, rows, cols, 1]) };
}
