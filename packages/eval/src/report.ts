import { accuracy, perClassScores } from './classification.js';
import type { ConfusionMatrix, ConfusionMatrixLike } from './confusion.js';
import { cohenKappa } from './kappa.js';
import { assertNonEmptyConfusionMatrix } from './validate.js';

/** Scores of one class in a ClassificationReport (definitions as in PerClassScores). */
export interface ClassReport {
  /** The class id, 0..K-1. */
  readonly classId: number;
  /** The class name when names were given (e.g. the severity grade), else `String(classId)`. */
  readonly name: string;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  /** Number of true samples of this class. */
  readonly support: number;
  /** Number of samples predicted as this class. */
  readonly predicted: number;
}

/** Everything the classification metrics give for one confusion matrix. */
export interface ClassificationReport {
  readonly numClasses: number;
  /** Total number of samples. */
  readonly total: number;
  /** A copy of the confusion matrix (rows = truth, columns = prediction). */
  readonly confusion: ConfusionMatrix;
  /** One entry per class id 0..K-1, in order. */
  readonly perClass: readonly ClassReport[];
  readonly accuracy: number;
  /** Mean per-class precision over all K classes (zero_division=0). */
  readonly macroPrecision: number;
  /** Mean per-class recall over all K classes (zero_division=0). */
  readonly macroRecall: number;
  /** sklearn `f1_score(average='macro', labels=range(K), zero_division=0)`. */
  readonly macroF1: number;
  /** sklearn `cohen_kappa_score(weights='quadratic', labels=range(K))`; NaN when degenerate. */
  readonly quadraticKappa: number;
  /** sklearn `cohen_kappa_score(weights='linear', labels=range(K))`; NaN when degenerate. */
  readonly linearKappa: number;
  /** Unweighted Cohen's kappa; NaN when degenerate. */
  readonly kappa: number;
}

/** Options of classificationReport. */
export interface ClassificationReportOptions {
  /** Names of classes 0..K-1 (exactly K of them), e.g. the severity grades from @covsev/io. */
  readonly classNames?: readonly string[];
}

function mean(values: readonly number[]): number {
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

/**
 * All classification metrics of one confusion matrix in one object: per-class precision, recall,
 * F1, support; accuracy; macro precision/recall/F1 (all K classes averaged, zero_division=0);
 * quadratic, linear and unweighted Cohen's kappa (class id distance; NaN in the degenerate case,
 * see cohenKappa).
 *
 * Args:
 *   matrix: K x K confusion matrix, rows = truth, columns = prediction.
 *   options.classNames: optional K class names.
 * Returns:
 *   A ClassificationReport (plain data, JSON-serialisable except that NaN kappas become null).
 * Throws:
 *   RangeError: invalid matrix, no samples, or classNames of the wrong length.
 */
export function classificationReport(
  matrix: ConfusionMatrixLike,
  options: ClassificationReportOptions = {},
): ClassificationReport {
  const [k, total] = assertNonEmptyConfusionMatrix('classificationReport', matrix);
  const names = options.classNames;
  if (names !== undefined && names.length !== k) {
    throw new RangeError(`classificationReport: got ${names.length} classNames for ${k} classes`);
  }
  const scores = perClassScores(matrix);
  const perClass: ClassReport[] = [];
  for (let c = 0; c < k; c++) {
    let predicted = 0;
    for (let t = 0; t < k; t++) predicted += (matrix[t] as ReadonlyArray<number>)[c] as number;
    perClass.push({
      classId: c,
      name: names?.[c] ?? String(c),
      precision: scores.precision[c] as number,
      recall: scores.recall[c] as number,
      f1: scores.f1[c] as number,
      support: scores.support[c] as number,
      predicted,
    });
  }
  return {
    numClasses: k,
    total,
    confusion: matrix.map((row) => [...row]),
    perClass,
    accuracy: accuracy(matrix),
    macroPrecision: mean(scores.precision),
    macroRecall: mean(scores.recall),
    macroF1: mean(scores.f1),
    quadraticKappa: cohenKappa(matrix, 'quadratic'),
    linearKappa: cohenKappa(matrix, 'linear'),
    kappa: cohenKappa(matrix, 'none'),
  };
}
