/**
 * One CMC training step (method.md, "Losses"): the 2N augmented views of N scans go through the
 * network together (contrastive loss on their projections, weighted cross entropy on their
 * logits); each view is then mixed with its own random partners and passed again (mixup loss);
 * the joint loss of eq. (8) weighs the terms with the learnable (s1, s2); Adam steps.
 * The reference code's faults are not copied: logits go to the cross entropies without a softmax,
 * and each view's mixup uses its own partners' labels.
 */
import type { Optimizer, Volume5 } from '@covsev/engine';
import { explainHeapExhaustion, volume } from '@covsev/engine';
import * as tf from '@tensorflow/tfjs';
import { jointLoss } from '../losses/jointLoss.js';
import { type MixupDraw, mixupCrossEntropy } from '../losses/mixup.js';
import { supervisedContrastiveLoss } from '../losses/supervisedContrastive.js';
import { weightedCrossEntropy } from '../losses/weightedCrossEntropy.js';
import type { CmcNetwork } from '../models/cmcNetwork.js';

export interface CmcBatch {
  /** The two augmented views of the same N scans, each a Volume5 of batch N. */
  readonly views: readonly [Volume5, Volume5];
  /** N class ids (0..3). */
  readonly labels: readonly number[];
}

export interface CmcStepOptions {
  /** Class weights of eq. (7) (`inverseFrequencyWeights`). */
  readonly alpha: readonly number[];
  /** One mixup draw per view (`drawMixup`), so each view has its own partners. */
  readonly mixup: readonly [MixupDraw, MixupDraw];
  readonly temperature?: number;
}

export interface CmcStepLosses {
  readonly total: number;
  readonly contrastive: number;
  readonly mixup: number;
  readonly classification: number;
  /** exp(-s1), exp(-s2): the weights the joint loss currently gives its two groups of terms. */
  readonly weightContrastive: number;
  readonly weightClassification: number;
}

/** Mixes whole volumes of a Volume5 batch with their partners (slices gathered volume by volume). */
export function mixVolumes(x: Volume5, draw: MixupDraw): Volume5 {
  const { batch, depth } = x;
  if (draw.partners.length !== batch) throw new RangeError(`mixup draw for ${draw.partners.length} scans, batch has ${batch}`);
  const rows = draw.partners.flatMap((p) => Array.from({ length: depth }, (_, d) => p * depth + d));
  const mixed = tf.tidy(() => {
    const partners = tf.gather(x.tensor, tf.tensor1d(rows, 'int32'));
    return tf.add(tf.mul(x.tensor, draw.lambda), tf.mul(partners, 1 - draw.lambda)) as tf.Tensor4D;
  });
  return volume(mixed, batch, depth);
}

function checkBatch(batch: CmcBatch): void {
  const [a, b] = batch.views;
  if (a.batch !== batch.labels.length || b.batch !== batch.labels.length) {
    throw new RangeError(`views hold ${a.batch} and ${b.batch} scans but there are ${batch.labels.length} labels`);
  }
  if (a.tensor.shape.join() !== b.tensor.shape.join())
    throw new RangeError(`the two views differ in shape: [${a.tensor.shape}] vs [${b.tensor.shape}]`);
}

/** Runs one training step and returns the loss values (host numbers). */
export function cmcTrainStep(model: CmcNetwork, optimizer: Optimizer, batch: CmcBatch, options: CmcStepOptions): CmcStepLosses {
  checkBatch(batch);
  const ctx = { training: true };
  const n = batch.labels.length;
  const labels2 = [...batch.labels, ...batch.labels];
  let parts: [number, number, number] = [0, 0, 0];
  let total: number;
  try {
    total = minimizeStep();
  } catch (error) {
    const [, h, w, c] = batch.views[0].tensor.shape;
    throw explainHeapExhaustion(error, `a CMC training step of ${n} scan(s) of ${c}x${batch.views[0].depth}x${h}x${w}`);
  }
  function minimizeStep(): number {
    return optimizer.minimize(() => {
      const [a, b] = batch.views;
      const both = volume(tf.concat([a.tensor, b.tensor], 0) as tf.Tensor4D, 2 * n, a.depth);
      const features = model.features(both, ctx);
      const contrastive = supervisedContrastiveLoss(
        model.project(features, ctx),
        labels2,
        options.temperature === undefined ? {} : { temperature: options.temperature },
      );
      const classification = weightedCrossEntropy(model.classify(features, ctx), labels2, options.alpha);
      const mixTerms = batch.views.map((view, v) => {
        const draw = options.mixup[v] as MixupDraw;
        const logits = model.classify(model.features(mixVolumes(view, draw), ctx), ctx);
        return mixupCrossEntropy(logits, batch.labels, draw);
      });
      const mixup = tf.div(tf.addN(mixTerms), 2) as tf.Scalar;
      parts = [contrastive.dataSync()[0] as number, mixup.dataSync()[0] as number, classification.dataSync()[0] as number];
      return jointLoss({ contrastive, mixup, classification }, model.logVars);
    });
  }
  const weights = tf.tidy(() => tf.exp(tf.neg(model.logVars)).dataSync());
  return {
    total,
    contrastive: parts[0],
    mixup: parts[1],
    classification: parts[2],
    weightContrastive: weights[0] as number,
    weightClassification: weights[1] as number,
  };
}
