/**
 * The CMC objective on backbone features (docs/method.md, "Losses"): the contrastive loss (eq. 4) on the
 * projections of the 2N views, the weighted cross entropy (eq. 7) on their logits, the mixup loss
 * (eq. 6) on each mixed view's logits with that view's own partners, joined by eq. (8) with the
 * learnable (s1, s2); the variants of Table 3 drop terms (variants.ts). The reference code's faults are not copied: logits go to the cross entropies
 * without a softmax, and each view's mixup uses its own partners' labels.
 */
import * as tf from '@tensorflow/tfjs';
import { jointLoss } from '../losses/jointLoss.js';
import { type MixupDraw, mixupCrossEntropy } from '../losses/mixup.js';
import { supervisedContrastiveLoss } from '../losses/supervisedContrastive.js';
import { type CeReduction, weightedCrossEntropy } from '../losses/weightedCrossEntropy.js';
import type { CmcNetwork } from '../models/cmcNetwork.js';
import type { Passes } from './batch.js';
import { type CmcVariant, cmcVariantSpec } from './variants.js';

export interface CmcObjectiveOptions {
  /** Class weights of eq. (7) (`inverseFrequencyWeights`). */
  readonly alpha: readonly number[];
  /**
   * How eq. (7)'s terms are averaged: `'mean'` (default; over the 2N views, eq. 8 as printed) or
   * `'weighted-mean'` (divided by the sum of the views' alpha, PyTorch's `CrossEntropyLoss(weight)`).
   */
  readonly ceReduction?: CeReduction;
  /**
   * One mixup draw per view (`drawMixup`), so each view has its own partners. Needed by the
   * variants with mixup; the others (`resnest`) ignore it and make no mixed pass.
   */
  readonly mixup?: readonly [MixupDraw, MixupDraw];
  readonly temperature?: number;
  /** Which terms the objective has (docs/method.md, "Variants (Table 3)"); default `cmc`. */
  readonly variant?: CmcVariant;
}

/** Backbone features of the passes: `[2N, F]`, then (variants with mixup) `[N, F]`, `[N, F]`. */
export type PassFeatures = Passes<tf.Tensor2D>;

/** The terms a step computes: the weighted CE always; the others as the variant says. */
export interface ObjectiveTerms {
  readonly contrastive?: tf.Scalar;
  readonly mixup?: tf.Scalar;
  readonly classification: tf.Scalar;
}

/**
 * The mixup draws a step uses: `options.mixup` for the variants with mixup (refused when
 * absent), undefined for the others.
 */
export function stepMixup(options: CmcObjectiveOptions): readonly [MixupDraw, MixupDraw] | undefined {
  if (!cmcVariantSpec(options.variant).mixup) return undefined;
  if (options.mixup === undefined)
    throw new RangeError(`variant '${options.variant ?? 'cmc'}' trains with mixup: give one mixup draw per view (drawMixup)`);
  return options.mixup;
}

/**
 * The step's loss from the passes' features, with its terms. `cmc`, `lung-cmc`,
 * `infection-cmc`: eq. (8) with the learnable (s1, s2); `mixup`: L_mix + L_clf; `resnest`: L_clf.
 */
export function lossFromFeatures(
  model: CmcNetwork,
  features: PassFeatures,
  labels: readonly number[],
  options: CmcObjectiveOptions,
): { total: tf.Scalar; terms: ObjectiveTerms } {
  const ctx = { training: true };
  const spec = cmcVariantSpec(options.variant);
  const draws = stepMixup(options);
  const expected = draws === undefined ? 1 : 3;
  if (features.length !== expected)
    throw new RangeError(`variant '${options.variant ?? 'cmc'}' takes ${expected} backbone pass(es), got ${features.length}`);
  const views = features[0] as tf.Tensor2D;
  const classification = weightedCrossEntropy(
    model.classify(views, ctx),
    [...labels, ...labels],
    options.alpha,
    options.ceReduction,
  );
  const contrastive = spec.contrastive
    ? supervisedContrastiveLoss(
        model.project(views, ctx),
        [...labels, ...labels],
        options.temperature === undefined ? {} : { temperature: options.temperature },
      )
    : undefined;
  let mixup: tf.Scalar | undefined;
  if (draws !== undefined) {
    const mixTerms = [features[1], features[2]].map((f, v) =>
      mixupCrossEntropy(model.classify(f as tf.Tensor2D, ctx), labels, draws[v] as MixupDraw),
    );
    mixup = tf.div(tf.addN(mixTerms), 2) as tf.Scalar;
  }
  if (spec.joint) {
    const terms = { contrastive: contrastive as tf.Scalar, mixup: mixup as tf.Scalar, classification };
    return { total: jointLoss(terms, model.logVars), terms };
  }
  const total = mixup === undefined ? classification : (tf.add(mixup, classification) as tf.Scalar);
  return {
    total,
    terms: {
      classification,
      ...(contrastive === undefined ? {} : { contrastive }),
      ...(mixup === undefined ? {} : { mixup }),
    },
  };
}

/**
 * The terms' values (host numbers): contrastive, mixup, classification; a term the variant does
 * not compute is 0.
 */
export function termValues(terms: ObjectiveTerms): [number, number, number] {
  const value = (t: tf.Scalar | undefined): number => (t === undefined ? 0 : (t.dataSync()[0] as number));
  return [value(terms.contrastive), value(terms.mixup), value(terms.classification)];
}
