/**
 * One CMC training step (docs/method.md, "Losses"): the gradients of the joint loss of eq. (8) over the
 * step's three backbone passes (gradients.ts, on this thread or on `GradientWorkers`), then one
 * optimiser step; the variants of Table 3 (`options.variant`) drop terms and passes. A step too
 * large for the wasm heap is explained, not a bare abort; a NaN or infinite loss throws a
 * `NonFiniteLossError` before the optimiser step (the weights stay those before the step).
 */
import { explainHeapExhaustion, NonFiniteLossError, type Optimizer } from '@covsev/engine';
import * as tf from '@tensorflow/tfjs';
import type { CmcNetwork } from '../models/cmcNetwork.js';
import type { CmcBatch } from './batch.js';
import { type CmcGradientOptions, type CmcGradients, cmcGradients } from './gradients.js';
import type { GradientWorkers } from './gradientWorkers.js';
import { type CmcVariant, cmcVariantSpec } from './variants.js';

export interface CmcStepOptions extends CmcGradientOptions {
  /**
   * Worker threads that compute the gradients (`CmcDataParallel.start`); absent: this thread.
   * `microBatch` applies there too (`CmcDataParallel.gradients`).
   */
  readonly dataParallel?: GradientWorkers;
}

/**
 * A step's loss and terms. A term the variant does not compute is 0 (`resnest`: contrastive and
 * mixup; `mixup`: contrastive), and without the learned weighting (`resnest`, `mixup`) both
 * weights are 1; `stepEventLosses` keeps only what the variant computes.
 */
export interface CmcStepLosses {
  readonly total: number;
  readonly contrastive: number;
  readonly mixup: number;
  readonly classification: number;
  /** exp(-s1), exp(-s2): the weights the joint loss currently gives its two groups of terms. */
  readonly weightContrastive: number;
  readonly weightClassification: number;
}

/** Runs one training step and returns the loss values (host numbers). */
export function cmcTrainStep(model: CmcNetwork, optimizer: Optimizer, batch: CmcBatch, options: CmcStepOptions): CmcStepLosses {
  let result: CmcGradients;
  try {
    result =
      options.dataParallel === undefined ? cmcGradients(model, batch, options) : options.dataParallel.gradients(batch, options);
  } catch (error) {
    const [, h, w, c] = batch.views[0].tensor.shape;
    throw explainHeapExhaustion(
      error,
      `a CMC training step of ${batch.labels.length} scan(s) of ${c}x${batch.views[0].depth}x${h}x${w}`,
    );
  }
  const [contrastive, mixup, classification] = result.terms;
  const terms = { total: result.total, contrastive, mixup, classification };
  try {
    // A NaN or infinite loss never reaches the weights: the step stops before the optimiser.
    if (Object.values(terms).some((v) => !Number.isFinite(v)))
      throw new NonFiniteLossError(stepEventLosses(terms, options.variant), undefined, true);
    optimizer.step(result.grads);
  } finally {
    for (const g of Object.values(result.grads)) g.dispose();
  }
  const joint = cmcVariantSpec(options.variant).joint;
  const weights = joint ? tf.tidy(() => tf.exp(tf.neg(model.logVars)).dataSync()) : [1, 1];
  return {
    ...terms,
    weightContrastive: weights[0] as number,
    weightClassification: weights[1] as number,
  };
}

/**
 * The losses a `step` event records for a variant: the total and the terms the variant computes,
 * and the weights exp(-s1), exp(-s2) where it learns them. `resnest`: total, classification;
 * `mixup`: total, mixup, classification; the CMC variants: all six.
 */
export function stepEventLosses(
  losses: Partial<CmcStepLosses> & { total: number },
  variant?: CmcVariant,
): Record<string, number> {
  const spec = cmcVariantSpec(variant);
  const keys = [
    'total',
    ...(spec.contrastive ? ['contrastive'] : []),
    ...(spec.mixup ? ['mixup'] : []),
    'classification',
    ...(spec.joint ? ['weightContrastive', 'weightClassification'] : []),
  ] as const;
  const out: Record<string, number> = {};
  for (const k of keys) {
    const v = losses[k as keyof CmcStepLosses];
    if (v !== undefined) out[k] = v;
  }
  return out;
}
