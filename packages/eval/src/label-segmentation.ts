import { assertClassId, assertCount, assertSameLength } from './validate.js';

/**
 * A label mask, flattened: voxel i has label `mask[i]`, an integer in 0..numLabels-1 (e.g.
 * 0 = background, 1 = lung, 2 = infection). Uint8Array is the usual type.
 */
export type LabelMask = ArrayLike<number>;

/** Scores of one label (binary masks `pred === label` vs `truth === label`). */
export interface LabelScores {
  /** The label, 0..numLabels-1. */
  readonly label: number;
  /** The label name when names were given, else `String(label)`. */
  readonly name: string;
  /** Voxels with this label in both masks. */
  readonly intersection: number;
  /** Voxels with this label in the prediction. */
  readonly predCount: number;
  /** Voxels with this label in the truth. */
  readonly truthCount: number;
  /** predCount + truthCount - intersection. */
  readonly union: number;
  /** intersection / union; 1 when the label is absent from both masks. */
  readonly iou: number;
  /** 2 intersection / (predCount + truthCount); 1 when the label is absent from both masks. */
  readonly dice: number;
}

/**
 * Per-label segmentation scores. For each label l the masks are binarised as `pred === l`,
 * `truth === l` (one-vs-rest; sklearn `jaccard_score` / `f1_score` with `average=None,
 * labels=range(L)`). A label absent from both masks scores IoU = Dice = 1 (sklearn: 0 with a
 * warning) and is still counted in the means. With labels {0, 1}, meanIou equals the binary `miou`.
 */
export interface LabelSegmentationMetrics {
  readonly numLabels: number;
  /** Number of voxels compared. */
  readonly voxels: number;
  /** One entry per label 0..L-1, in order. */
  readonly perLabel: readonly LabelScores[];
  /** Mean IoU over all L labels (background included). */
  readonly meanIou: number;
  /** Mean Dice over all L labels (background included). */
  readonly meanDice: number;
}

/** Options of the label segmentation metrics. */
export interface LabelSegmentationOptions {
  /** L >= 1: labels are 0..L-1. */
  readonly numLabels: number;
  /** Names of labels 0..L-1 (exactly L). */
  readonly labelNames?: readonly string[];
}

interface LabelCounts {
  readonly voxels: number;
  readonly intersection: Float64Array;
  readonly predCount: Float64Array;
  readonly truthCount: Float64Array;
}

function countLabels(fn: string, pred: LabelMask, truth: LabelMask, numLabels: number): LabelCounts {
  assertSameLength(fn, pred, 'pred', truth, 'truth');
  const n = pred.length;
  const intersection = new Float64Array(numLabels);
  const predCount = new Float64Array(numLabels);
  const truthCount = new Float64Array(numLabels);
  for (let i = 0; i < n; i++) {
    const p = pred[i] as number;
    const t = truth[i] as number;
    if (!(p >= 0 && p < numLabels && Number.isInteger(p))) assertClassId(fn, p, 'pred', i, numLabels, 'label');
    if (!(t >= 0 && t < numLabels && Number.isInteger(t))) assertClassId(fn, t, 'truth', i, numLabels, 'label');
    predCount[p] = (predCount[p] as number) + 1;
    truthCount[t] = (truthCount[t] as number) + 1;
    if (p === t) intersection[p] = (intersection[p] as number) + 1;
  }
  return { voxels: n, intersection, predCount, truthCount };
}

function metricsFromCounts(fn: string, counts: LabelCounts, names: readonly string[] | undefined): LabelSegmentationMetrics {
  const numLabels = counts.intersection.length;
  if (counts.voxels === 0) throw new RangeError(`${fn}: no voxels`);
  const perLabel: LabelScores[] = [];
  let iouSum = 0;
  let diceSum = 0;
  for (let l = 0; l < numLabels; l++) {
    const intersection = counts.intersection[l] as number;
    const predCount = counts.predCount[l] as number;
    const truthCount = counts.truthCount[l] as number;
    const union = predCount + truthCount - intersection;
    const iou = union === 0 ? 1 : intersection / union;
    const dice = predCount + truthCount === 0 ? 1 : (2 * intersection) / (predCount + truthCount);
    iouSum += iou;
    diceSum += dice;
    perLabel.push({
      label: l,
      name: names?.[l] ?? String(l),
      intersection,
      predCount,
      truthCount,
      union,
      iou,
      dice,
    });
  }
  return {
    numLabels,
    voxels: counts.voxels,
    perLabel,
    meanIou: iouSum / numLabels,
    meanDice: diceSum / numLabels,
  };
}

function checkOptions(fn: string, options: LabelSegmentationOptions): void {
  assertCount(fn, options.numLabels, 'numLabels');
  const names = options.labelNames;
  if (names !== undefined && names.length !== options.numLabels) {
    throw new RangeError(`${fn}: got ${names.length} labelNames for ${options.numLabels} labels`);
  }
}

/**
 * Per-label IoU and Dice of a label mask prediction, plus their means (see LabelSegmentationMetrics
 * for the definitions and the absent-label convention).
 *
 * Args:
 *   pred: predicted labels, integers in 0..numLabels-1.
 *   truth: true labels, same length (at least one voxel) and range.
 *   options: numLabels, optional labelNames.
 * Returns:
 *   LabelSegmentationMetrics.
 * Throws:
 *   RangeError: bad numLabels or labelNames, lengths differ, no voxels, or a value that is not a
 *   label in range (the message gives the array, index and value).
 */
export function labelSegmentationMetrics(
  pred: LabelMask,
  truth: LabelMask,
  options: LabelSegmentationOptions,
): LabelSegmentationMetrics {
  const fn = 'labelSegmentationMetrics';
  checkOptions(fn, options);
  return metricsFromCounts(fn, countLabels(fn, pred, truth, options.numLabels), options.labelNames);
}

/**
 * IoU of each label 0..numLabels-1 (one-vs-rest; 1 for a label absent from both masks).
 *
 * Throws:
 *   RangeError: as labelSegmentationMetrics.
 */
export function perLabelIou(pred: LabelMask, truth: LabelMask, numLabels: number): number[] {
  const fn = 'perLabelIou';
  checkOptions(fn, { numLabels });
  return metricsFromCounts(fn, countLabels(fn, pred, truth, numLabels), undefined).perLabel.map((s) => s.iou);
}

/**
 * Dice of each label 0..numLabels-1 (one-vs-rest; 1 for a label absent from both masks).
 *
 * Throws:
 *   RangeError: as labelSegmentationMetrics.
 */
export function perLabelDice(pred: LabelMask, truth: LabelMask, numLabels: number): number[] {
  const fn = 'perLabelDice';
  checkOptions(fn, { numLabels });
  return metricsFromCounts(fn, countLabels(fn, pred, truth, numLabels), undefined).perLabel.map((s) => s.dice);
}

/**
 * Streaming per-label scores: `update` with each slice or volume, `aggregate` for the scores of all
 * voxels pooled (per-label intersections and counts summed, then divided once).
 */
export class LabelSegmentationAccumulator {
  readonly numLabels: number;
  private readonly labelNames: readonly string[] | undefined;
  private voxels = 0;
  private readonly intersection: Float64Array;
  private readonly predCount: Float64Array;
  private readonly truthCount: Float64Array;
  private updates = 0;

  /**
   * Args:
   *   options: numLabels (L >= 1), optional labelNames (exactly L).
   * Throws:
   *   RangeError: bad numLabels or labelNames.
   */
  constructor(options: LabelSegmentationOptions) {
    checkOptions('LabelSegmentationAccumulator', options);
    this.numLabels = options.numLabels;
    this.labelNames = options.labelNames === undefined ? undefined : [...options.labelNames];
    this.intersection = new Float64Array(this.numLabels);
    this.predCount = new Float64Array(this.numLabels);
    this.truthCount = new Float64Array(this.numLabels);
  }

  /**
   * Adds one slice or volume.
   *
   * Args:
   *   pred: predicted labels in 0..L-1.
   *   truth: true labels, same length (may be empty: adds nothing).
   * Returns:
   *   this, for chaining.
   * Throws:
   *   RangeError: lengths differ or a label out of range; a rejected update adds nothing.
   */
  update(pred: LabelMask, truth: LabelMask): this {
    const c = countLabels('LabelSegmentationAccumulator.update', pred, truth, this.numLabels);
    for (let l = 0; l < this.numLabels; l++) {
      this.intersection[l] = (this.intersection[l] as number) + (c.intersection[l] as number);
      this.predCount[l] = (this.predCount[l] as number) + (c.predCount[l] as number);
      this.truthCount[l] = (this.truthCount[l] as number) + (c.truthCount[l] as number);
    }
    this.voxels += c.voxels;
    this.updates++;
    return this;
  }

  /** Number of update calls since construction or the last reset. */
  get count(): number {
    return this.updates;
  }

  /**
   * Returns:
   *   LabelSegmentationMetrics of all voxels added so far.
   * Throws:
   *   RangeError: no voxels were added.
   */
  aggregate(): LabelSegmentationMetrics {
    return metricsFromCounts(
      'LabelSegmentationAccumulator.aggregate',
      {
        voxels: this.voxels,
        intersection: this.intersection,
        predCount: this.predCount,
        truthCount: this.truthCount,
      },
      this.labelNames,
    );
  }

  /** Clears all counts. */
  reset(): void {
    this.voxels = 0;
    this.intersection.fill(0);
    this.predCount.fill(0);
    this.truthCount.fill(0);
    this.updates = 0;
  }
}
