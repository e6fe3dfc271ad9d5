import type { ConfusionMatrixLike } from './confusion.js';
import { assertNonEmptyConfusionMatrix } from './validate.js';

/**
 * Per-class scores, one entry per class id 0..K-1, from a confusion matrix (rows = truth).
 * Definitions (sklearn `precision_recall_fscore_support(labels=range(K), zero_division=0)`), with
 * tp = m[c][c], fp = column sum - tp, fn = row sum - tp:
 *   precision = tp / (tp + fp), 0 when nothing was predicted as c;
 *   recall    = tp / (tp + fn), 0 when c never occurs in the truth;
 *   f1        = 2 tp / (2 tp + fp + fn) (= harmonic mean of precision and recall), 0 when tp = 0;
 *   support   = tp + fn, the number of true samples of class c.
 */
export interface PerClassScores {
  readonly precision: number[];
  readonly recall: number[];
  readonly f1: number[];
  readonly support: number[];
}

/**
 * Computes per-class precision, recall, F1 and support.
 *
 * Args:
 *   matrix: K x K confusion matrix, rows = truth, columns = prediction.
 * Returns:
 *   Arrays of length K (see PerClassScores for the definitions and the zero_division=0 rule).
 * Throws:
 *   RangeError: the matrix is not square, has a negative or fractional entry, or holds no samples.
 */
export function perClassScores(matrix: ConfusionMatrixLike): PerClassScores {
  const [k] = assertNonEmptyConfusionMatrix('perClassScores', matrix);
  const precision: number[] = [];
  const recall: number[] = [];
  const f1: number[] = [];
  const support: number[] = [];
  for (let c = 0; c < k; c++) {
    let rowSum = 0;
    let colSum = 0;
    for (let j = 0; j < k; j++) {
      rowSum += (matrix[c] as ReadonlyArray<number>)[j] as number;
      colSum += (matrix[j] as ReadonlyArray<number>)[c] as number;
    }
    const tp = (matrix[c] as ReadonlyArray<number>)[c] as number;
    precision.push(colSum === 0 ? 0 : tp / colSum);
    recall.push(rowSum === 0 ? 0 : tp / rowSum);
    // 2tp + fp + fn = rowSum + colSum; tp = 0 gives 0 (also when the class is absent from both).
    f1.push(tp === 0 ? 0 : (2 * tp) / (rowSum + colSum));
    support.push(rowSum);
  }
  return { precision, recall, f1, support };
}

function mean(values: readonly number[]): number {
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

/**
 * Macro F1 with sklearn's definition: `f1_score(average='macro', labels=range(K), zero_division=0)`,
 * the unweighted mean of the K per-class F1 scores. A class with no true and no predicted samples
 * has F1 = 0 and is still counted in the mean (so absent grades pull the score down).
 *
 * Args:
 *   matrix: K x K confusion matrix, rows = truth.
 * Returns:
 *   A number in [0, 1].
 * Throws:
 *   RangeError: invalid matrix or no samples.
 */
export function macroF1(matrix: ConfusionMatrixLike): number {
  return mean(perClassScores(matrix).f1);
}

/**
 * Macro precision: unweighted mean over all K classes of precision (zero_division=0), as sklearn's
 * `precision_score(average='macro', labels=range(K), zero_division=0)`.
 *
 * Throws:
 *   RangeError: invalid matrix or no samples.
 */
export function macroPrecision(matrix: ConfusionMatrixLike): number {
  return mean(perClassScores(matrix).precision);
}

/**
 * Macro recall: unweighted mean over all K classes of recall (zero_division=0), as sklearn's
 * `recall_score(average='macro', labels=range(K), zero_division=0)`.
 *
 * Throws:
 *   RangeError: invalid matrix or no samples.
 */
export function macroRecall(matrix: ConfusionMatrixLike): number {
  return mean(perClassScores(matrix).recall);
}

/**
 * Accuracy: trace / total, the fraction of samples whose prediction equals the truth.
 *
 * Args:
 *   matrix: K x K confusion matrix.
 * Returns:
 *   A number in [0, 1].
 * Throws:
 *   RangeError: invalid matrix or no samples.
 */
export function accuracy(matrix: ConfusionMatrixLike): number {
  const [k, total] = assertNonEmptyConfusionMatrix('accuracy', matrix);
  let trace = 0;
  for (let c = 0; c < k; c++) trace += (matrix[c] as ReadonlyArray<number>)[c] as number;
  return trace / total;
}
