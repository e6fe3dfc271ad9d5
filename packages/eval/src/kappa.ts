import type { ConfusionMatrixLike } from './confusion.js';
import { assertNonEmptyConfusionMatrix } from './validate.js';

/** Disagreement weights for Cohen's kappa: 'none' (0 on the diagonal, 1 elsewhere), |i-j|, or (i-j)^2. */
export type KappaWeights = 'none' | 'linear' | 'quadratic';

function weight(i: number, j: number, weights: KappaWeights): number {
  const d = i - j;
  switch (weights) {
    case 'none':
      return d === 0 ? 0 : 1;
    case 'linear':
      return Math.abs(d);
    case 'quadratic':
      return d * d;
  }
}

/**
 * Cohen's kappa, optionally weighted, from a confusion matrix. Same as sklearn's
 * `cohen_kappa_score(truth, pred, labels=range(K), weights=...)`:
 *
 *   kappa = 1 - sum_ij w_ij O_ij / sum_ij w_ij E_ij,   E_ij = r_i c_j / n,
 *
 * with O the confusion matrix, r its row sums (truth counts), c its column sums (prediction
 * counts), n the total. Weights use the class id distance i - j (so grades are ordinal even when a
 * grade is absent; sklearn without `labels` would use the rank among the present labels instead).
 * Computed as 1 - n * sum(w O) / sum(w r c^T), exact in integers up to 2^53.
 *
 * Degenerate case: when sum(w E) = 0, i.e. truth and prediction all fall in one and the same
 * class, kappa is 0/0 and this returns NaN, as sklearn (it returns nan with a RuntimeWarning).
 *
 * Args:
 *   matrix: K x K confusion matrix, rows = truth, columns = prediction.
 *   weights: 'none' | 'linear' | 'quadratic'.
 * Returns:
 *   A number <= 1 (1 = perfect agreement, 0 = chance level), or NaN in the degenerate case.
 * Throws:
 *   RangeError: invalid matrix (not square, negative or fractional entries) or no samples;
 *   unknown weights.
 */
export function cohenKappa(matrix: ConfusionMatrixLike, weights: KappaWeights = 'none'): number {
  if (weights !== 'none' && weights !== 'linear' && weights !== 'quadratic') {
    throw new RangeError(`cohenKappa: weights must be 'none', 'linear' or 'quadratic', got ${String(weights)}`);
  }
  const [k, n] = assertNonEmptyConfusionMatrix('cohenKappa', matrix);
  const rows = new Array<number>(k).fill(0);
  const cols = new Array<number>(k).fill(0);
  let observed = 0;
  for (let i = 0; i < k; i++) {
    const row = matrix[i] as ReadonlyArray<number>;
    for (let j = 0; j < k; j++) {
      const v = row[j] as number;
      rows[i] = (rows[i] as number) + v;
      cols[j] = (cols[j] as number) + v;
      observed += weight(i, j, weights) * v;
    }
  }
  let expected = 0; // n times sum_ij w_ij E_ij
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) expected += weight(i, j, weights) * (rows[i] as number) * (cols[j] as number);
  }
  if (expected === 0) return Number.NaN;
  return 1 - (n * observed) / expected;
}

/**
 * Quadratic weighted Cohen's kappa (QWK): `cohenKappa(matrix, 'quadratic')`, i.e. sklearn's
 * `cohen_kappa_score(truth, pred, labels=range(K), weights='quadratic')`. NaN when truth and
 * prediction all fall in one and the same class (0/0, as sklearn).
 *
 * Args:
 *   matrix: K x K confusion matrix, rows = truth.
 * Returns:
 *   A number <= 1 (1 = perfect agreement, 0 = chance level), or NaN in the degenerate case.
 * Throws:
 *   RangeError: invalid matrix or no samples.
 */
export function quadraticWeightedKappa(matrix: ConfusionMatrixLike): number {
  return cohenKappa(matrix, 'quadratic');
}
