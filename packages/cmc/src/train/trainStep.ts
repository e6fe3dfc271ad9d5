/**
 * One CMC training step (docs/method.md, "Losses"): the gradients of the joint loss of eq. (8) over the
 * step's three backbone passes (gradients.ts, on this thread or on `GradientWorkers`), then one
 * optimiser step. A step too large for the wasm heap is explained, not a bare abort.
 */
import { explainHeapExhaustion, type Optimizer } from '@covsev/engine';
import * as tf from '@tensorflow/tfjs';
import type { CmcNetwork } from '../models/cmcNetwork.js';
import type { CmcBatch } from './batch.js';
import { type CmcGradientOptions, type CmcGradients, cmcGradients } from './gradients.js';
import type { GradientWorkers } from './gradientWorkers.js';

export interface CmcStepOptions extends CmcGradientOptions {
  /**
   * Worker threads that compute the gradients (`CmcDataParallel.start`); absent: this thread.
   * `microBatch` applies there too (`CmcDataParallel.gradients`).
   */
  readonly dataParallel?: GradientWorkers;
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
  try {
    optimizer.step(result.grads);
  } finally {
    for (const g of Object.values(result.grads)) g.dispose();
  }
  const weights = tf.tidy(() => tf.exp(tf.neg(model.logVars)).dataSync());
  const [contrastive, mixup, classification] = result.terms;
  return {
    total: result.total,
    contrastive,
    mixup,
    classification,
    weightContrastive: weights[0] as number,
    weightClassification: weights[1] as number,
  };
}
