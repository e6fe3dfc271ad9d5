/**
 * The adaptive joint loss, eq. (8) of Hou et al. 2022, with learnable
 * log-variances s = log sigma^2 (Kendall et al. 2018), both initialised to 0 (docs/method.md):
 *   L = exp(-s1) L_con + s1 + exp(-s2) (L_mix + L_clf) + s2.
 */
import * as tf from '@tensorflow/tfjs';

export interface LossTerms {
  readonly contrastive: tf.Scalar;
  readonly mixup: tf.Scalar;
  readonly classification: tf.Scalar;
}

/** Args: the three terms and logVars, a [2] variable (s1, s2). Returns the scalar joint loss. */
export function jointLoss(terms: LossTerms, logVars: tf.Tensor1D): tf.Scalar {
  if (logVars.shape[0] !== 2) throw new RangeError(`jointLoss needs 2 log-variances, got ${logVars.shape[0]}`);
  return tf.tidy(() => {
    const [s1, s2] = tf.split(logVars, 2) as [tf.Tensor1D, tf.Tensor1D];
    const con = tf.add(tf.mul(tf.exp(tf.neg(s1)), terms.contrastive), s1);
    const cls = tf.add(tf.mul(tf.exp(tf.neg(s2)), tf.add(terms.mixup, terms.classification)), s2);
    return tf.sum(tf.add(con, cls)) as tf.Scalar;
  });
}
