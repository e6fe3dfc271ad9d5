/**
 * Supervised contrastive loss, eq. (4) of Hou et al. 2022 ("Boosting COVID-19 Severity Detection
 * with Infection-aware Contrastive Mixup Classification", ECCV 2022 workshops), after Khosla et al.
 * 2020 (arXiv:2004.11362):
 *
 *   L_con^i = -1 / |P(i)| * sum_{j in P(i)} log( exp(z_i.z_j / T) / sum_{k != i} exp(z_i.z_k / T) )
 *
 * with P(i) the other views of the same class. As the reference code, the mean over anchors is
 * scaled by T / T_base (T = 0.1, T_base = 0.07). An anchor with no positive in the batch is left
 * out of the mean (the reference divides by zero there and yields NaN); a batch where no anchor
 * has a positive gives 0.
 */
import * as tf from '@tensorflow/tfjs';

export interface SupervisedContrastiveOptions {
  /** tau of eq. (4); 0.1 in the method. */
  readonly temperature?: number;
  /** The reference's scale T / T_base; 0.07. */
  readonly baseTemperature?: number;
}

/**
 * Args:
 *   features: [2N, d] projections, already L2-normalised.
 *   labels: 2N integer class ids (views of one scan share its label).
 * Returns: a scalar tensor.
 * Throws: RangeError when shapes disagree.
 */
export function supervisedContrastiveLoss(
  features: tf.Tensor2D,
  labels: readonly number[],
  options: SupervisedContrastiveOptions = {},
): tf.Scalar {
  const temperature = options.temperature ?? 0.1;
  const baseTemperature = options.baseTemperature ?? 0.07;
  const n = features.shape[0];
  if (labels.length !== n) throw new RangeError(`supervisedContrastiveLoss: ${n} features but ${labels.length} labels`);
  const notSelf = new Float32Array(n * n).fill(1);
  const positive = new Float32Array(n * n);
  const hasPositive = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    notSelf[i * n + i] = 0;
    for (let j = 0; j < n; j++) {
      if (i !== j && labels[i] === labels[j]) {
        positive[i * n + j] = 1;
        hasPositive[i] = 1;
      }
    }
  }
  const anchors = hasPositive.reduce((a, b) => a + b, 0);
  if (anchors === 0) return tf.tidy(() => tf.mul(tf.sum(features), 0) as tf.Scalar);
  return tf.tidy(() => {
    const logits = tf.div(tf.matMul(features, features, false, true), temperature);
    // Subtracting each row's maximum leaves log_prob (and its gradient: the terms cancel) unchanged and keeps exp() finite.
    const shifted = tf.sub(logits, tf.max(logits, 1, true));
    const mask = tf.tensor2d(notSelf, [n, n]);
    const denominator = tf.log(tf.sum(tf.mul(tf.exp(shifted), mask), 1, true));
    const logProb = tf.sub(shifted, denominator);
    const pos = tf.tensor2d(positive, [n, n]);
    const counts = tf.maximum(tf.sum(pos, 1), 1);
    const meanLogProb = tf.div(tf.sum(tf.mul(pos, logProb), 1), counts);
    const kept = tf.mul(meanLogProb, tf.tensor1d(hasPositive));
    return tf.mul(tf.sum(kept), -(temperature / baseTemperature) / anchors) as tf.Scalar;
  });
}
