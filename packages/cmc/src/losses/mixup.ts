/**
 * Mixup, eqs. (5)-(6) of Hou et al. 2022, after Zhang et al. 2018:
 *   x_mix = lambda x_i + (1 - lambda) x_p,   L_mix = lambda CE(x_mix, y_i) + (1 - lambda) CE(x_mix, y_p),
 * lambda ~ Beta(0.4, 0.4), p a random permutation of the batch. Each view draws its own partners:
 * the reference code reuses the first view's partner targets for the second view, a fault.
 */
import { type Volume5, volume } from '@covsev/engine';
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

/**
 * Eq. (5), the one implementation: mixes a batch of items with their partners,
 * lambda x + (1 - lambda) x[partners], where item i is rows [i * rowsPerItem, (i + 1) * rowsPerItem)
 * of `x` (1: a batch [n, ...]; a volume's depth: a Volume5's slice rows). The partners' batch is put
 * together from contiguous slices of whole items and one concat (covsev's block-copy Concat), not a
 * gather of single rows (stock wasm gathers element by element: 7 ms a pass at 16x64x64).
 */
export function mixBatch(x: tf.Tensor, draw: MixupDraw, rowsPerItem = 1): tf.Tensor {
  const rows = x.shape[0] as number;
  const items = rows / rowsPerItem;
  if (draw.partners.length !== items) throw new RangeError(`mixup draw for ${draw.partners.length} scans, batch has ${items}`);
  return tf.tidy(() => {
    const rest = x.shape.slice(1);
    const partners = tf.concat(
      draw.partners.map((p) => tf.slice(x, [p * rowsPerItem, ...rest.map(() => 0)], [rowsPerItem, ...rest.map(() => -1)])),
      0,
    );
    return tf.add(tf.mul(x, draw.lambda), tf.mul(partners, 1 - draw.lambda));
  });
}

/** Eq. (5) on whole volumes of a Volume5 batch (`mixBatch` with a volume's slices as its rows). */
export function mixVolumes(x: Volume5, draw: MixupDraw): Volume5 {
  return volume(mixBatch(x.tensor, draw, x.depth) as tf.Tensor4D, x.batch, x.depth);
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
