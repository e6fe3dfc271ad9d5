/**
 * One CMC training step (method.md, "Losses"): the 2N augmented views of N scans go through the
 * network together (contrastive loss on their projections, weighted cross entropy on their
 * logits); each view is then mixed with its own random partners and passed again (mixup loss);
 * the joint loss of eq. (8) weighs the terms with the learnable (s1, s2); Adam steps.
 * The reference code's faults are not copied: logits go to the cross entropies without a softmax,
 * and each view's mixup uses its own partners' labels.
 *
 * A step too large for memory runs in micro-batches with gradient accumulation that stays exact
 * for the batch-coupled losses (`cmcGradients`); `microBatch: 'auto'` sizes them to the wasm heap.
 */
import type { Optimizer, Volume5 } from '@covsev/engine';
import { explainHeapExhaustion, volume, WasmHeapError } from '@covsev/engine';
import * as tf from '@tensorflow/tfjs';
import { jointLoss, type LossTerms } from '../losses/jointLoss.js';
import { type MixupDraw, mixupCrossEntropy } from '../losses/mixup.js';
import { supervisedContrastiveLoss } from '../losses/supervisedContrastive.js';
import { weightedCrossEntropy } from '../losses/weightedCrossEntropy.js';
import type { CmcNetwork } from '../models/cmcNetwork.js';
import type { CmcDataParallel } from './dataParallel.js';

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
  /**
   * Volumes per backbone pass. A step sends 4N volumes through the backbone in three passes (the
   * 2N views together, then each view's mixed batch of N); a pass larger than this is cut into
   * micro-batches whose gradients are accumulated (see {@link cmcGradients}). A number; 'auto'
   * (the default): as many as fit the wasm heap (`fitMicroBatch`; no cutting on other backends);
   * 'off': never cut (a step too large for the heap then aborts it, explained).
   */
  readonly microBatch?: number | 'auto' | 'off';
  /**
   * Worker threads that compute the gradients (`CmcDataParallel.start`); absent: this thread.
   * `microBatch` applies there too (`CmcDataParallel.gradients`).
   */
  readonly dataParallel?: CmcDataParallel;
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

/**
 * Mixes whole volumes of a Volume5 batch with their partners. The partners' batch is put together
 * from contiguous slices of whole volumes and one concat (covsev's block-copy Concat), not a gather
 * of single rows (stock wasm gathers element by element: 7 ms a pass at 16x64x64).
 */
export function mixVolumes(x: Volume5, draw: MixupDraw): Volume5 {
  const { batch, depth } = x;
  if (draw.partners.length !== batch) throw new RangeError(`mixup draw for ${draw.partners.length} scans, batch has ${batch}`);
  const mixed = tf.tidy(() => {
    const partners = tf.concat(
      draw.partners.map((p) => tf.slice(x.tensor, [p * depth, 0, 0, 0], [depth, -1, -1, -1])),
      0,
    );
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

/** The three backbone passes of a step: both views together (2N), then each view mixed (N each). */
export function backbonePasses(batch: CmcBatch, mixup: readonly [MixupDraw, MixupDraw]): [Volume5, Volume5, Volume5] {
  const [a, b] = batch.views;
  const both = volume(tf.concat([a.tensor, b.tensor], 0) as tf.Tensor4D, 2 * a.batch, a.depth);
  return [both, mixVolumes(a, mixup[0]), mixVolumes(b, mixup[1])];
}

/** Backbone features of the three passes, `[2N, F]`, `[N, F]`, `[N, F]`. */
export type PassFeatures = readonly [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];

/** The joint loss of eq. (8) from the three passes' features, with its three terms. */
export function lossFromFeatures(
  model: CmcNetwork,
  features: PassFeatures,
  labels: readonly number[],
  options: CmcStepOptions,
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

/** A run of volumes of one pass that goes through the backbone at once. */
export interface MicroBatch {
  readonly pass: 0 | 1 | 2;
  readonly start: number;
  readonly count: number;
}

/**
 * Cuts each pass of `sizes` volumes into near-equal micro-batches of at most `microBatch`, and of
 * at least 2 (split attention's batch norm normalises over the volumes of a pass, as PyTorch's
 * does, and cannot with one): an odd pass may get one micro-batch of `microBatch + 1`.
 */
export function planMicroBatches(sizes: readonly [number, number, number], microBatch: number): MicroBatch[] {
  if (!Number.isInteger(microBatch) || microBatch < 2)
    throw new RangeError(`microBatch must be a whole number >= 2 (batch norm needs two volumes), got ${microBatch}`);
  return sizes.flatMap((size, pass) => {
    if (size < 2) throw new RangeError(`a backbone pass of ${size} volume(s): batch norm needs at least 2`);
    const pieces = Math.min(Math.ceil(size / microBatch), Math.floor(size / 2));
    return Array.from({ length: pieces }, (_, i) => {
      const start = Math.round((i * size) / pieces);
      return { pass: pass as 0 | 1 | 2, start, count: Math.round(((i + 1) * size) / pieces) - start };
    });
  });
}

/** Volumes [start, start + count) of a Volume5 batch (contiguous slice rows). */
export function sliceVolumes(x: Volume5, start: number, count: number): Volume5 {
  const rows = tf.slice(x.tensor, [start * x.depth, 0, 0, 0], [count * x.depth, -1, -1, -1]);
  return volume(rows, count, x.depth);
}

export interface CmcGradients {
  /** Gradients keyed by the model's parameter names (the caller disposes them). */
  readonly grads: Record<string, tf.Tensor>;
  readonly total: number;
  readonly terms: readonly [number, number, number];
}

/** True for the backbone's parameters and buffers (names under `backbone.`). */
export const isBackbone = (name: string): boolean => name.startsWith('backbone.');

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
export function cmcGradients(model: CmcNetwork, batch: CmcBatch, options: CmcStepOptions): CmcGradients {
  checkBatch(batch);
  const n = batch.labels.length;
  const params = model.parameters();
  const microBatch = resolveMicroBatch(model, batch, options.microBatch);
  const ctx = { training: true };
  let terms: [number, number, number] = [0, 0, 0];
  if (microBatch >= 2 * n) {
    const { value, grads } = tf.variableGrads(
      () => {
        const passes = backbonePasses(batch, options.mixup);
        const features = passes.map((p) => model.features(p, ctx)) as unknown as PassFeatures;
        const loss = lossFromFeatures(model, features, batch.labels, options);
        terms = termValues(loss.terms);
        return loss.total;
      },
      params.map((p) => p.variable),
    );
    return { grads: byName(params, grads), total: scalarValue(value), terms };
  }

  const passes = tf
    .tidy(() => backbonePasses(batch, options.mixup).map((p) => p.tensor))
    .map((t, i) => volume(t, i === 0 ? 2 * n : n, batch.views[0].depth));
  const plan = planMicroBatches([2 * n, n, n], microBatch);
  const grads: Record<string, tf.Tensor> = {};
  try {
    // (1) Features of every micro-batch, no tape, running statistics untouched.
    const probe = { training: true, updateStatistics: false };
    const pieces = plan.map((mb) =>
      tf.tidy(() => model.features(sliceVolumes(passes[mb.pass] as Volume5, mb.start, mb.count), probe)),
    );
    const features = [0, 1, 2].map((pass) =>
      tf.concat(
        pieces.filter((_, i) => plan[i]?.pass === pass),
        0,
      ),
    ) as unknown as PassFeatures;
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
  options: CmcStepOptions,
): CmcGradients & { featureGrads: PassFeatures } {
  const head = model.parameters().filter((p) => !isBackbone(p.name));
  const featureVars = features.map((f) => tf.variable(f, true)) as tf.Variable<tf.Rank.R2>[];
  let terms: [number, number, number] = [0, 0, 0];
  try {
    const { value, grads } = tf.variableGrads(() => {
      const loss = lossFromFeatures(model, featureVars as unknown as PassFeatures, labels, options);
      terms = termValues(loss.terms);
      return loss.total;
    }, [...head.map((p) => p.variable), ...featureVars]);
    const featureGrads = featureVars.map((v) => grads[v.name] as tf.Tensor2D) as unknown as PassFeatures;
    return { grads: byName(head, grads), featureGrads, total: scalarValue(value), terms };
  } finally {
    for (const v of featureVars) v.dispose();
  }
}

function resolveMicroBatch(model: CmcNetwork, batch: CmcBatch, option: CmcStepOptions['microBatch']): number {
  const all = 2 * batch.labels.length;
  if (option === 'off') return all;
  if (option === undefined || option === 'auto') return Math.min(all, fitMicroBatch(model, batch.views[0]));
  if (!Number.isInteger(option) || option < 2)
    throw new RangeError(
      `microBatch must be a whole number >= 2 (batch norm needs two volumes) or 'auto' or 'off', got ${option}`,
    );
  return option;
}

/** The wasm heap's hard cap. */
const WASM_HEAP_BYTES = 4 * 1024 ** 3;
/** The share of the free heap a micro-batch's training pass may plan for. */
const HEAP_SHARE = 0.8;
/**
 * Peak over saved activations in a training pass: the backward pass's gradients live beside them.
 * Measured on resnest-tiny-3d at 2x32x128x128 (0.76 GiB kept per volume): micro-batches of 2
 * train (peak RSS 3.1 GB), of 4 abort the 4 GiB heap.
 */
const BACKWARD_FACTOR = 1.6;
const bytesPerVolumeCache = new WeakMap<CmcNetwork, Map<string, number>>();

/** The slices, rows and columns `trainingBytesPerVolume` measures on at most (a centre crop). */
const PROBE_DEPTH = 16;
const PROBE_SIDE = 64;

/**
 * Tensor bytes one volume's training pass keeps alive at the end of its forward pass (the
 * activations the tape saves for the backward pass), once per model and input shape. Batch norm
 * needs two volumes; they are measured on a centre crop of at most 16 slices of 64 x 64 and
 * scaled by the voxels (activations of a fully convolutional backbone grow with them), so that
 * measuring a grid too large for the heap does not itself exhaust it.
 */
export function trainingBytesPerVolume(model: CmcNetwork, sample: Volume5): number {
  const key = `${sample.tensor.shape.slice(1).join('x')}x${sample.depth}`;
  const cache = bytesPerVolumeCache.get(model) ?? new Map<string, number>();
  bytesPerVolumeCache.set(model, cache);
  const known = cache.get(key);
  if (known !== undefined) return known;
  const [, h, w] = sample.tensor.shape as [number, number, number, number];
  const d = sample.depth;
  const [pd, ph, pw] = [Math.min(d, PROBE_DEPTH), Math.min(h, PROBE_SIDE), Math.min(w, PROBE_SIDE)];
  const backbone = model.parameters().filter((p) => isBackbone(p.name));
  // Slices [d0, d0 + pd) of each of the first two volumes, centre rows and columns; cut before
  // the measurement starts (slices of a large tensor are not what the pass keeps).
  const d0 = Math.floor((d - pd) / 2);
  const probe = volume(
    tf.tidy(() => {
      const crop = (v: number) =>
        tf.slice(sample.tensor, [v * d + d0, Math.floor((h - ph) / 2), Math.floor((w - pw) / 2), 0], [pd, ph, pw, -1]);
      return tf.concat([crop(0), crop(1)], 0);
    }),
    2,
    pd,
  );
  const before = tf.memory().numBytes;
  let kept = 0;
  try {
    const { value, grads } = tf.variableGrads(
      () => {
        const f = model.features(probe, { training: true, updateStatistics: false });
        kept = ((tf.memory().numBytes - before) / 2) * ((d * h * w) / (pd * ph * pw));
        return tf.sum(f) as tf.Scalar;
      },
      backbone.map((p) => p.variable),
    );
    value.dispose();
    for (const g of Object.values(grads)) g.dispose();
  } finally {
    probe.tensor.dispose();
  }
  cache.set(key, kept);
  return kept;
}

/**
 * The largest micro-batch (volumes per backbone pass) whose training pass fits the wasm heap: a
 * volume's saved activations (`trainingBytesPerVolume`) are planned at 1.6 times their size (the
 * backward pass's gradients live beside them), within 80 % of the heap left free. Other backends
 * have no fixed cap here: every volume at once. Refuses, with what two volumes need, when not even
 * two fit.
 */
export function fitMicroBatch(model: CmcNetwork, sample: Volume5): number {
  if (tf.getBackend() !== 'wasm') return Number.POSITIVE_INFINITY;
  const perVolume = BACKWARD_FACTOR * trainingBytesPerVolume(model, sample);
  const free = HEAP_SHARE * (WASM_HEAP_BYTES - tf.memory().numBytes);
  const fit = Math.floor(free / perVolume);
  if (fit >= 2) return fit;
  const [, h, w, c] = sample.tensor.shape as [number, number, number, number];
  const gib = (b: number): string => (b / 1024 ** 3).toFixed(2);
  // Activations grow with the voxels: the rows and columns that would fit, in multiples of 16
  // (the backbone halves them four times).
  const shrink = Math.sqrt(free / (2 * perVolume));
  const fitting = (n: number): number => Math.max(16, 16 * Math.floor((n * shrink) / 16));
  throw new WasmHeapError(
    `a micro-batch of two volumes (the least batch norm can train on) of ${c}x${sample.depth}x${h}x${w} needs about ${gib(2 * perVolume)} GiB to train ${model.name}, more than the ${gib(free)} GiB planned within the wasm backend's 4 GiB heap. What would fit: a grid of about ${sample.depth}x${fitting(h)}x${fitting(w)}, a narrower network, or a native backend (tfjs-node / tfjs-node-gpu).`,
  );
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

function termValues(terms: LossTerms): [number, number, number] {
  return [terms.contrastive, terms.mixup, terms.classification].map((t) => t.dataSync()[0] as number) as [number, number, number];
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
