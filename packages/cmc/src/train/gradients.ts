/**
 * Gradients of one CMC step's joint loss (objective.ts) with respect to every trainable parameter,
 * in one tape or in micro-batches through a gradient cache that stays exact for the losses that
 * couple the batch; `microBatch: 'auto'` sizes the micro-batches to the wasm heap (`fitMicroBatch`).
 */
import { fitMicroBatch, planMicroBatches, sliceVolumes, type Volume5, volume } from '@covsev/engine';
import * as tf from '@tensorflow/tfjs';
import { type CmcNetwork, isBackbone } from '../models/cmcNetwork.js';
import { backbonePasses, type CmcBatch, checkBatch, mapPasses } from './batch.js';
import { type CmcObjectiveOptions, lossFromFeatures, type PassFeatures, stepMixup, termValues } from './objective.js';

export interface CmcGradientOptions extends CmcObjectiveOptions {
  /**
   * Volumes per backbone pass. A step sends 4N volumes through the backbone in three passes (the
   * 2N views together, then each view's mixed batch of N; `resnest`: 2N in the first alone); a pass larger than this is cut into
   * micro-batches whose gradients are accumulated (see {@link cmcGradients}). A number; 'auto'
   * (the default): as many as fit the wasm heap (`fitMicroBatch`; no cutting on other backends);
   * 'off': never cut (a step too large for the heap then aborts it, explained).
   */
  readonly microBatch?: number | 'auto' | 'off';
}

export interface CmcGradients {
  /** Gradients keyed by the model's parameter names (the caller disposes them). */
  readonly grads: Record<string, tf.Tensor>;
  readonly total: number;
  readonly terms: readonly [number, number, number];
}

/**
 * Gradients of one step's joint loss with respect to every trainable parameter.
 *
 * Without micro-batches (or with passes that fit in one), one tape holds the whole step. With
 * them, the step is exact for the losses that couple the batch (the contrastive loss compares
 * every pair of views; mixup mixes scans): (1) every micro-batch goes forward without a tape
 * (running statistics untouched), (2) the joint loss and its gradient with respect to each
 * feature row and the head's parameters are taken on the concatenated features, (3) each
 * micro-batch goes forward again under a tape and backward from its rows' feature gradient, and
 * the backbone gradients add up (Gao et al. 2021, "gradient cache"). The cost is a second forward
 * pass; the memory is one micro-batch's activations. What changes with the micro-batch size is
 * what changes in PyTorch too: batch norm's batch statistics come from each micro-batch, and its
 * running statistics are updated once per micro-batch.
 */
export function cmcGradients(model: CmcNetwork, batch: CmcBatch, options: CmcGradientOptions): CmcGradients {
  checkBatch(batch);
  const n = batch.labels.length;
  const params = model.parameters();
  const microBatch = resolveMicroBatch(model, batch, options.microBatch);
  const ctx = { training: true };
  let terms: [number, number, number] = [0, 0, 0];
  if (microBatch >= 2 * n) {
    const { value, grads } = tf.variableGrads(
      () => {
        const passes = backbonePasses(batch, stepMixup(options));
        const features = mapPasses(passes, (p) => model.features(p, ctx));
        const loss = lossFromFeatures(model, features, batch.labels, options);
        terms = termValues(loss.terms);
        return loss.total;
      },
      params.map((p) => p.variable),
    );
    return { grads: byName(params, grads), total: scalarValue(value), terms };
  }

  const depth = batch.views[0].depth;
  const passes = mapPasses(
    tf.tidy(() => mapPasses(backbonePasses(batch, stepMixup(options)), (p) => p.tensor)),
    (t, i) => volume(t, i === 0 ? 2 * n : n, depth),
  );
  const plan = planMicroBatches(
    passes.map((p) => p.batch),
    microBatch,
  );
  const grads: Record<string, tf.Tensor> = {};
  try {
    // (1) Features of every micro-batch, no tape, running statistics untouched.
    const probe = { training: true, updateStatistics: false };
    const pieces = plan.map((mb) =>
      tf.tidy(() => model.features(sliceVolumes(passes[mb.pass] as Volume5, mb.start, mb.count), probe)),
    );
    const features: PassFeatures = mapPasses(passes, (_, pass) =>
      tf.concat(
        pieces.filter((_, i) => plan[i]?.pass === pass),
        0,
      ),
    );
    for (const p of pieces) p.dispose();
    // (2) The joint loss on the features: head gradients and one gradient row per volume.
    const head = headGradients(model, features, batch.labels, options);
    for (const f of features) f.dispose();
    Object.assign(grads, head.grads);
    const { featureGrads, total } = head;
    terms = [...head.terms];
    // (3) Each micro-batch again under a tape, backward from its rows' feature gradient.
    const backbone = params.filter((p) => isBackbone(p.name));
    for (const mb of plan) {
      const { value, grads: partial } = tf.variableGrads(
        () => {
          const f = model.features(sliceVolumes(passes[mb.pass] as Volume5, mb.start, mb.count), ctx);
          const g = tf.slice(featureGrads[mb.pass] as tf.Tensor2D, [mb.start, 0], [mb.count, -1]);
          return tf.sum(tf.mul(f, g)) as tf.Scalar;
        },
        backbone.map((p) => p.variable),
      );
      value.dispose();
      for (const [name, g] of Object.entries(byName(backbone, partial))) {
        const sum = grads[name];
        if (sum === undefined) grads[name] = g;
        else {
          grads[name] = tf.add(sum, g);
          sum.dispose();
          g.dispose();
        }
      }
    }
    for (const g of featureGrads) g.dispose();
    return { grads, total, terms };
  } catch (error) {
    for (const g of Object.values(grads)) g.dispose();
    throw error;
  } finally {
    for (const p of passes) p.tensor.dispose();
  }
}

/**
 * The joint loss taken on given backbone features: its value and terms, the gradients of the
 * head's parameters (projection, classifier, log-variances) by name, and its gradient with
 * respect to every feature row. The caller disposes the gradients.
 */
export function headGradients(
  model: CmcNetwork,
  features: PassFeatures,
  labels: readonly number[],
  options: CmcObjectiveOptions,
): CmcGradients & { featureGrads: PassFeatures } {
  const head = model.parameters().filter((p) => !isBackbone(p.name));
  const featureVars = mapPasses(features, (f) => tf.variable(f, true));
  let terms: [number, number, number] = [0, 0, 0];
  try {
    const { value, grads } = tf.variableGrads(() => {
      const loss = lossFromFeatures(model, featureVars, labels, options);
      terms = termValues(loss.terms);
      return loss.total;
    }, [...head.map((p) => p.variable), ...featureVars]);
    const featureGrads = mapPasses(featureVars, (v) => grads[v.name] as tf.Tensor2D);
    return { grads: byName(head, grads), featureGrads, total: scalarValue(value), terms };
  } finally {
    for (const v of featureVars) v.dispose();
  }
}

/**
 * Volumes per batch-norm batch for a step: the step's split, the same on this thread and on any
 * number of gradient workers. 'off': whole passes; 'auto': whole passes, cut to what fits the
 * wasm heap (measured on this thread); a number: that.
 */
export function resolveMicroBatch(model: CmcNetwork, batch: CmcBatch, option: CmcGradientOptions['microBatch']): number {
  const all = 2 * batch.labels.length;
  if (option === 'off') return all;
  if (option === undefined || option === 'auto') return Math.min(all, fitMicroBatch(model, batch.views[0]));
  if (!Number.isInteger(option) || option < 2)
    throw new RangeError(
      `microBatch must be a whole number >= 2 (batch norm needs two volumes) or 'auto' or 'off', got ${option}`,
    );
  return option;
}

function byName(params: readonly { name: string; variable: tf.Variable }[], grads: tf.NamedTensorMap): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const { name, variable } of params) {
    const g = grads[variable.name];
    if (g !== undefined) out[name] = g;
  }
  return out;
}

function scalarValue(t: tf.Tensor): number {
  const v = t.dataSync()[0] as number;
  t.dispose();
  return v;
}
