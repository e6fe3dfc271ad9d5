/**
 * The CMC objective on backbone features (docs/method.md, "Losses"): the contrastive loss (eq. 4) on the
 * projections of the 2N views, the weighted cross entropy (eq. 7) on their logits, the mixup loss
 * (eq. 6) on each mixed view's logits with that view's own partners, joined by eq. (8) with the
 * learnable (s1, s2). The reference code's faults are not copied: logits go to the cross entropies
 * without a softmax, and each view's mixup uses its own partners' labels.
 */
import * as tf from '@tensorflow/tfjs';
import { jointLoss, type LossTerms } from '../losses/jointLoss.js';
import { type MixupDraw, mixupCrossEntropy } from '../losses/mixup.js';
import { supervisedContrastiveLoss } from '../losses/supervisedContrastive.js';
import { weightedCrossEntropy } from '../losses/weightedCrossEntropy.js';
import type { CmcNetwork } from '../models/cmcNetwork.js';
import type { Passes } from './batch.js';

export interface CmcObjectiveOptions {
  /** Class weights of eq. (7) (`inverseFrequencyWeights`). */
  readonly alpha: readonly number[];
  /** One mixup draw per view (`drawMixup`), so each view has its own partners. */
  readonly mixup: readonly [MixupDraw, MixupDraw];
  readonly temperature?: number;
}

/** Backbone features of the three passes, `[2N, F]`, `[N, F]`, `[N, F]`. */
export type PassFeatures = Passes<tf.Tensor2D>;

/** The joint loss of eq. (8) from the three passes' features, with its three terms. */
export function lossFromFeatures(
  model: CmcNetwork,
  features: PassFeatures,
  labels: readonly number[],
  options: CmcObjectiveOptions,
): { total: tf.Scalar; terms: LossTerms } {
  const ctx = { training: true };
  const [views, mixA, mixB] = features;
  const contrastive = supervisedContrastiveLoss(
    model.project(views, ctx),
    [...labels, ...labels],
    options.temperature === undefined ? {} : { temperature: options.temperature },
  );
  const classification = weightedCrossEntropy(model.classify(views, ctx), [...labels, ...labels], options.alpha);
  const mixTerms = [mixA, mixB].map((f, v) => mixupCrossEntropy(model.classify(f, ctx), labels, options.mixup[v] as MixupDraw));
  const mixup = tf.div(tf.addN(mixTerms), 2) as tf.Scalar;
  const terms = { contrastive, mixup, classification };
  return { total: jointLoss(terms, model.logVars), terms };
}

/** The three terms' values (host numbers): contrastive, mixup, classification. */
export function termValues(terms: LossTerms): [number, number, number] {
  const value = (t: tf.Scalar): number => t.dataSync()[0] as number;
  return [value(terms.contrastive), value(terms.mixup), value(terms.classification)];
}
