/**
 * Weighted cross entropy, eq. (7) of Hou et al. 2022:
 *   L_clf^i = -alpha_{y_i} log p_i[y_i],   averaged over the 2N views (eq. 8's 1 / 2N).
 * alpha_c is proportional to 1 / (count of class c), normalised to sum 1 (`inverseFrequencyWeights`).
 * Reduction (`CeReduction`): `'mean'` (the default) is the plain mean of the alpha-weighted terms,
 * as eq. (8) writes it; `'weighted-mean'` divides their sum by the sum of the weights of the
 * batch's labels, sum_i alpha_{y_i} NLL_i / sum_i alpha_{y_i}, as PyTorch's
 * `CrossEntropyLoss(weight=alpha)` (the authors' code) does.
 */
import * as tf from '@tensorflow/tfjs';

/**
 * alpha_c = (1 / n_c) / sum_k (1 / n_k). For 85/62/85/26 scans: [0.1506, 0.2065, 0.1506, 0.4923].
 * A count of 0 (or not a number) is refused, never divided by: the error names the class, by
 * `classNames` when given (e.g. `SEVERITY_CLASSES`).
 */
export function inverseFrequencyWeights(counts: readonly number[], classNames?: readonly string[]): number[] {
  if (counts.length === 0) throw new RangeError('class counts must all be > 0, got none');
  const bad = counts.flatMap((c, i) => (c > 0 && Number.isFinite(c) ? [] : [classNames?.[i] ?? `class ${i}`]));
  if (bad.length > 0) {
    throw new RangeError(`class counts must all be > 0, got [${counts.join(', ')}]: no scan of ${bad.join(', ')}`);
  }
  const inverse = counts.map((c) => 1 / c);
  const total = inverse.reduce((a, b) => a + b, 0);
  return inverse.map((v) => v / total);
}

/**
 * How the weighted cross entropy reduces its per-view terms: `'mean'` divides their sum by the
 * number of views (eq. 8 as printed), `'weighted-mean'` by the sum of their weights alpha_{y_i}
 * (PyTorch's `CrossEntropyLoss(weight=alpha)`, the authors' code).
 */
export type CeReduction = 'mean' | 'weighted-mean';

export const CE_REDUCTIONS = ['mean', 'weighted-mean'] as const satisfies readonly CeReduction[];

/** The reduction of eq. (8) as printed. */
export const DEFAULT_CE_REDUCTION: CeReduction = 'mean';

/** Per-sample negative log-likelihood of the true class, from logits [n, K]. */
export function negativeLogLikelihood(logits: tf.Tensor2D, labels: readonly number[]): tf.Tensor1D {
  const [n, k] = logits.shape;
  if (labels.length !== n) throw new RangeError(`${n} logits rows but ${labels.length} labels`);
  for (const y of labels) if (!Number.isInteger(y) || y < 0 || y >= k) throw new RangeError(`label ${y} outside 0..${k - 1}`);
  return tf.tidy(() => {
    const logProbs = tf.logSoftmax(logits);
    const oneHot = tf.oneHot(tf.tensor1d([...labels], 'int32'), k);
    return tf.neg(tf.sum(tf.mul(logProbs, oneHot), 1)) as tf.Tensor1D;
  });
}

/**
 * Args: logits [n, K] (no softmax applied: the reference's double softmax is a fault), labels (n
 * class ids), alpha (K weights), reduction (default `'mean'`). Returns the scalar mean of
 * alpha_y * NLL (`'mean'`), or sum(alpha_y * NLL) / sum(alpha_y) (`'weighted-mean'`).
 */
export function weightedCrossEntropy(
  logits: tf.Tensor2D,
  labels: readonly number[],
  alpha: readonly number[],
  reduction: CeReduction = DEFAULT_CE_REDUCTION,
): tf.Scalar {
  if (alpha.length !== logits.shape[1]) throw new RangeError(`${alpha.length} class weights for ${logits.shape[1]} classes`);
  if (reduction !== 'mean' && reduction !== 'weighted-mean')
    throw new RangeError(`ceReduction must be 'mean' or 'weighted-mean', got ${JSON.stringify(reduction)}`);
  const perView = labels.map((y) => alpha[y] as number);
  const weightSum = perView.reduce((a, b) => a + b, 0);
  if (reduction === 'weighted-mean' && !(weightSum > 0))
    throw new RangeError(`ceReduction 'weighted-mean' needs a positive sum of the labels' weights, got ${weightSum}`);
  return tf.tidy(() => {
    const weighted = tf.mul(negativeLogLikelihood(logits, labels), tf.tensor1d(perView));
    return (reduction === 'mean' ? tf.mean(weighted) : tf.div(tf.sum(weighted), weightSum)) as tf.Scalar;
  });
}
