/**
 * Mixup, eqs. (5)-(6) of Hou et al. 2022, after Zhang et al. 2018:
 *   x_mix = lambda x_i + (1 - lambda) x_p,   L_mix = lambda CE(x_mix, y_i) + (1 - lambda) CE(x_mix, y_p),
 * lambda ~ Beta(0.4, 0.4), p a random permutation of the batch. Each view draws its own partners:
 * the reference code reuses the first view's partner targets for the second view, a fault.
 */
import type { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { negativeLogLikelihood } from './weightedCrossEntropy.js';

export interface MixupDraw {
  readonly lambda: number;
  /** partners[i] = p for sample i. */
  readonly partners: readonly number[];
}

/** One mixup draw for a batch of n: lambda ~ Beta(alpha, alpha) (0.4 in the method), a permutation. */
export function drawMixup(rng: Rng, n: number, alpha = 0.4): MixupDraw {
  return { lambda: rng.beta(alpha, alpha), partners: rng.permutation(n) };
}

/** Mixes a batch [n, ...] with its partners: lambda x + (1 - lambda) x[partners]. */
export function mixBatch(x: tf.Tensor, draw: MixupDraw): tf.Tensor {
  return tf.tidy(() => {
    const partners = tf.gather(x, tf.tensor1d([...draw.partners], 'int32'));
    return tf.add(tf.mul(x, draw.lambda), tf.mul(partners, 1 - draw.lambda));
  });
}

/** Eq. (6): lambda CE(logits, y) + (1 - lambda) CE(logits, y[partners]), means over the batch. */
export function mixupCrossEntropy(logits: tf.Tensor2D, labels: readonly number[], draw: MixupDraw): tf.Scalar {
  const partnerLabels = draw.partners.map((p) => labels[p] as number);
  return tf.tidy(
    () =>
      tf.add(
        tf.mul(tf.mean(negativeLogLikelihood(logits, labels)), draw.lambda),
        tf.mul(tf.mean(negativeLogLikelihood(logits, partnerLabels)), 1 - draw.lambda),
      ) as tf.Scalar,
  );
}
