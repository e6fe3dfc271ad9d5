import { assertSameLength } from './validate.js';

/**
 * A binary mask, flattened (a slice or a whole volume, any layout as long as prediction and truth
 * use the same one): voxel i is foreground when `mask[i] !== 0`. Uint8Array is the usual type;
 * any numeric ArrayLike works. NaN is rejected.
 */
export type BinaryMask = ArrayLike<number>;

/** Voxel counts of one binary prediction against its truth. */
export interface BinaryOverlap {
  /** Number of voxels compared. */
  readonly voxels: number;
  /** |P ∩ T|: foreground in both. */
  readonly intersection: number;
  /** |P|: foreground in the prediction. */
  readonly predCount: number;
  /** |T|: foreground in the truth. */
  readonly truthCount: number;
}

/**
 * Overlap scores of a binary segmentation. Definitions (P = predicted foreground, T = true foreground,
 * V = all voxels):
 *   iou (Jaccard) = |P ∩ T| / |P ∪ T|         (sklearn jaccard_score, average='binary');
 *   dice (F1)     = 2 |P ∩ T| / (|P| + |T|)    (sklearn f1_score, average='binary');
 *   backgroundIou = IoU of the complements V \ P and V \ T;
 *   miou          = (backgroundIou + iou) / 2, the mean over the two classes {background, foreground}
 *                   as in the paper's Table 2 (sklearn jaccard_score(labels=[0, 1], average='macro')).
 * Empty-vs-empty: when both masks have no foreground, iou = dice = 1 (nothing to find, nothing
 * found: a perfect prediction). Likewise backgroundIou = 1 when both are all foreground. sklearn
 * gives 0 (zero_division) with a warning in these cases instead.
 */
export interface SegmentationMetrics extends BinaryOverlap {
  /** |P ∪ T| = |P| + |T| - |P ∩ T|. */
  readonly union: number;
  readonly iou: number;
  readonly dice: number;
  readonly backgroundIou: number;
  readonly miou: number;
}

/**
 * Counts the overlap of two binary masks.
 *
 * Args:
 *   pred: predicted mask (nonzero = foreground).
 *   truth: true mask, same length.
 * Returns:
 *   { voxels, intersection, predCount, truthCount }.
 * Throws:
 *   RangeError: lengths differ, or a value is NaN (the message gives the array and index).
 */
export function binaryOverlap(pred: BinaryMask, truth: BinaryMask): BinaryOverlap {
  return countOverlap('binaryOverlap', pred, truth);
}

function countOverlap(fn: string, pred: BinaryMask, truth: BinaryMask): BinaryOverlap {
  assertSameLength(fn, pred, 'pred', truth, 'truth');
  const n = pred.length;
  let intersection = 0;
  let predCount = 0;
  let truthCount = 0;
  for (let i = 0; i < n; i++) {
    const p = pred[i] as number;
    const t = truth[i] as number;
    if (Number.isNaN(p)) throw new RangeError(`${fn}: pred[${i}] is NaN (masks must be numeric, nonzero = foreground)`);
    if (Number.isNaN(t)) throw new RangeError(`${fn}: truth[${i}] is NaN (masks must be numeric, nonzero = foreground)`);
    if (p !== 0) {
      predCount++;
      if (t !== 0) {
        truthCount++;
        intersection++;
      }
    } else if (t !== 0) {
      truthCount++;
    }
  }
  return { voxels: n, intersection, predCount, truthCount };
}

/** a / b, or 1 when both are 0 (the empty-vs-empty convention). */
function ratioOrOne(a: number, b: number): number {
  return b === 0 ? 1 : a / b;
}

/**
 * Computes IoU, Dice, background IoU and mIoU from overlap counts (see SegmentationMetrics for the
 * definitions and the empty-vs-empty convention).
 *
 * Args:
 *   overlap: counts, e.g. summed over the slices of a volume or over volumes.
 * Returns:
 *   SegmentationMetrics.
 * Throws:
 *   RangeError: voxels is 0, or the counts are inconsistent (negative, fractional, or
 *   intersection > min(predCount, truthCount), or union > voxels).
 */
export function segmentationMetricsFromOverlap(overlap: BinaryOverlap): SegmentationMetrics {
  const { voxels, intersection, predCount, truthCount } = overlap;
  for (const [name, v] of Object.entries({ voxels, intersection, predCount, truthCount })) {
    if (!Number.isInteger(v) || v < 0) {
      throw new RangeError(`segmentationMetricsFromOverlap: ${name} = ${String(v)} is not a non-negative integer count`);
    }
  }
  if (voxels === 0) throw new RangeError('segmentationMetricsFromOverlap: no voxels (empty masks)');
  const union = predCount + truthCount - intersection;
  if (intersection > predCount || intersection > truthCount || union > voxels) {
    throw new RangeError(
      `segmentationMetricsFromOverlap: inconsistent counts (voxels ${voxels}, intersection ${intersection}, pred ${predCount}, truth ${truthCount})`,
    );
  }
  const iou = ratioOrOne(intersection, union);
  const dice = ratioOrOne(2 * intersection, predCount + truthCount);
  // Background: |V\P ∩ V\T| = V - |P ∪ T|, |V\P ∪ V\T| = V - |P ∩ T|.
  const backgroundIou = ratioOrOne(voxels - union, voxels - intersection);
  return {
    voxels,
    intersection,
    predCount,
    truthCount,
    union,
    iou,
    dice,
    backgroundIou,
    miou: (backgroundIou + iou) / 2,
  };
}

/**
 * All binary segmentation scores of one prediction (see SegmentationMetrics).
 *
 * Args:
 *   pred: predicted mask (nonzero = foreground).
 *   truth: true mask, same length, at least one voxel.
 * Returns:
 *   SegmentationMetrics.
 * Throws:
 *   RangeError: lengths differ, no voxels, or a NaN value.
 */
export function segmentationMetrics(pred: BinaryMask, truth: BinaryMask): SegmentationMetrics {
  return segmentationMetricsFromOverlap(countOverlap('segmentationMetrics', pred, truth));
}

/**
 * Intersection over union (Jaccard) of the foregrounds: |P ∩ T| / |P ∪ T|; 1 when both masks are empty.
 *
 * Args:
 *   pred: predicted mask (nonzero = foreground).
 *   truth: true mask, same length, at least one voxel.
 * Returns:
 *   A number in [0, 1].
 * Throws:
 *   RangeError: lengths differ, no voxels, or a NaN value.
 */
export function iou(pred: BinaryMask, truth: BinaryMask): number {
  return segmentationMetricsFromOverlap(countOverlap('iou', pred, truth)).iou;
}

/**
 * Dice coefficient (F1) of the foregrounds: 2 |P ∩ T| / (|P| + |T|); 1 when both masks are empty.
 *
 * Args:
 *   pred: predicted mask (nonzero = foreground).
 *   truth: true mask, same length, at least one voxel.
 * Returns:
 *   A number in [0, 1].
 * Throws:
 *   RangeError: lengths differ, no voxels, or a NaN value.
 */
export function dice(pred: BinaryMask, truth: BinaryMask): number {
  return segmentationMetricsFromOverlap(countOverlap('dice', pred, truth)).dice;
}

/**
 * Mean IoU over the two classes background and foreground: (IoU(V\P, V\T) + IoU(P, T)) / 2, as the
 * paper's Table 2. Each term is 1 when that class is empty in both masks.
 *
 * Args:
 *   pred: predicted mask (nonzero = foreground).
 *   truth: true mask, same length, at least one voxel.
 * Returns:
 *   A number in [0, 1].
 * Throws:
 *   RangeError: lengths differ, no voxels, or a NaN value.
 */
export function miou(pred: BinaryMask, truth: BinaryMask): number {
  return segmentationMetricsFromOverlap(countOverlap('miou', pred, truth)).miou;
}

/**
 * Streaming binary segmentation scores: `update` with each slice (or volume), `aggregate` for the
 * scores of all voxels pooled (intersections and unions are summed, then divided once; this is
 * the score of the concatenated masks, not the mean of per-slice scores). Volumes never need to be
 * held at once. For a per-case mean, use one accumulator (or segmentationMetrics) per case and
 * average the results.
 */
export class SegmentationMetricAccumulator {
  private voxels = 0;
  private intersection = 0;
  private predCount = 0;
  private truthCount = 0;
  private updates = 0;

  /**
   * Adds one slice or volume.
   *
   * Args:
   *   pred: predicted mask (nonzero = foreground).
   *   truth: true mask, same length (may be empty: adds nothing).
   * Returns:
   *   this, for chaining.
   * Throws:
   *   RangeError: lengths differ or a NaN value; a rejected update adds nothing.
   */
  update(pred: BinaryMask, truth: BinaryMask): this {
    const o = countOverlap('SegmentationMetricAccumulator.update', pred, truth);
    this.voxels += o.voxels;
    this.intersection += o.intersection;
    this.predCount += o.predCount;
    this.truthCount += o.truthCount;
    this.updates++;
    return this;
  }

  /** Number of update calls since construction or the last reset. */
  get count(): number {
    return this.updates;
  }

  /** The summed counts so far. */
  overlap(): BinaryOverlap {
    return {
      voxels: this.voxels,
      intersection: this.intersection,
      predCount: this.predCount,
      truthCount: this.truthCount,
    };
  }

  /**
   * Returns:
   *   SegmentationMetrics of all voxels added so far.
   * Throws:
   *   RangeError: no voxels were added.
   */
  aggregate(): SegmentationMetrics {
    if (this.voxels === 0) throw new RangeError('SegmentationMetricAccumulator.aggregate: no voxels added yet');
    return segmentationMetricsFromOverlap(this.overlap());
  }

  /** Clears all counts. */
  reset(): void {
    this.voxels = 0;
    this.intersection = 0;
    this.predCount = 0;
    this.truthCount = 0;
    this.updates = 0;
  }
}
