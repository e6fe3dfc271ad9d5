import { assertClassId, assertCount, assertSameLength } from './validate.js';

/**
 * A K x K confusion matrix of counts: `matrix[t][p]` is the number of samples whose true class is
 * `t` and whose predicted class is `p` (rows = truth, columns = prediction, as sklearn's
 * `confusion_matrix(y_true, y_pred, labels=range(K))`).
 */
export type ConfusionMatrix = number[][];

/** A confusion matrix as the metric functions read it (not modified by them). */
export type ConfusionMatrixLike = ReadonlyArray<ReadonlyArray<number>>;

function zeros(k: number): ConfusionMatrix {
  return Array.from({ length: k }, () => new Array<number>(k).fill(0));
}

/**
 * Adds one batch of (truth, pred) pairs into a flat row-major K*K count array.
 *
 * Throws:
 *   RangeError: lengths differ, or a value is not an integer in 0..K-1. Nothing is added then.
 */
function addCounts(fn: string, counts: Float64Array, k: number, truth: ArrayLike<number>, pred: ArrayLike<number>): void {
  assertSameLength(fn, truth, 'truth', pred, 'pred');
  const n = truth.length;
  // Check everything first, so a bad batch leaves an accumulator unchanged.
  for (let i = 0; i < n; i++) {
    assertClassId(fn, truth[i] as number, 'truth', i, k);
    assertClassId(fn, pred[i] as number, 'pred', i, k);
  }
  for (let i = 0; i < n; i++) {
    const idx = (truth[i] as number) * k + (pred[i] as number);
    counts[idx] = (counts[idx] as number) + 1;
  }
}

function toMatrix(counts: Float64Array, k: number): ConfusionMatrix {
  const m = zeros(k);
  for (let t = 0; t < k; t++) {
    const row = m[t] as number[];
    for (let p = 0; p < k; p++) row[p] = counts[t * k + p] as number;
  }
  return m;
}

/**
 * Counts (truth, prediction) pairs into a confusion matrix.
 *
 * Definition: `m[t][p] = #{i : truth[i] = t and pred[i] = p}` for t, p in 0..K-1; same as sklearn's
 * `confusion_matrix(truth, pred, labels=range(K))`. Empty inputs give an all-zero matrix.
 *
 * Args:
 *   truth: true class ids, integers in 0..numClasses-1.
 *   pred: predicted class ids, same length and range.
 *   numClasses: K >= 1. Classes that never occur still get a row and a column.
 * Returns:
 *   A fresh K x K matrix, rows = truth, columns = prediction.
 * Throws:
 *   RangeError: numClasses is not an integer >= 1, the lengths differ, or a value is not an
 *   integer class id in range (the message gives the array, index and value).
 */
export function confusionMatrix(truth: ArrayLike<number>, pred: ArrayLike<number>, numClasses: number): ConfusionMatrix {
  assertCount('confusionMatrix', numClasses);
  const counts = new Float64Array(numClasses * numClasses);
  addCounts('confusionMatrix', counts, numClasses, truth, pred);
  return toMatrix(counts, numClasses);
}

/**
 * Streaming confusion matrix: feed batches with `update`, read the sum with `aggregate`.
 * `aggregate()` after any sequence of updates equals `confusionMatrix` of the concatenated batches.
 */
export class ConfusionMatrixAccumulator {
  readonly numClasses: number;
  private readonly counts: Float64Array;
  private samples = 0;

  /**
   * Args:
   *   numClasses: K >= 1.
   * Throws:
   *   RangeError: numClasses is not an integer >= 1.
   */
  constructor(numClasses: number) {
    assertCount('ConfusionMatrixAccumulator', numClasses);
    this.numClasses = numClasses;
    this.counts = new Float64Array(numClasses * numClasses);
  }

  /**
   * Adds a batch of samples.
   *
   * Args:
   *   truth: true class ids (integers in 0..K-1).
   *   pred: predicted class ids, same length.
   * Returns:
   *   this, for chaining.
   * Throws:
   *   RangeError: as confusionMatrix; a rejected batch adds nothing.
   */
  update(truth: ArrayLike<number>, pred: ArrayLike<number>): this {
    addCounts('ConfusionMatrixAccumulator.update', this.counts, this.numClasses, truth, pred);
    this.samples += truth.length;
    return this;
  }

  /** The number of samples added since construction or the last reset. */
  get count(): number {
    return this.samples;
  }

  /**
   * Returns:
   *   A fresh K x K matrix (a copy: later updates do not change it).
   */
  aggregate(): ConfusionMatrix {
    return toMatrix(this.counts, this.numClasses);
  }

  /** Clears all counts. */
  reset(): void {
    this.counts.fill(0);
    this.samples = 0;
  }
}
