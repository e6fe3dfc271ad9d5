/**
 * Class activation maps (Zhou et al. 2016, "Learning Deep Features for Discriminative
 * Localization"; the paper's Fig. 4; docs/method.md, "CAM").
 *
 * The classifier is `Linear(F, classes)` on the global average of the backbone's layer-4 map
 * F_k(d, h, w) (the projection head is a separate branch and plays no part), so a class's logit is
 *
 *   y_c = b_c + sum_k w_{c,k} mean_{d,h,w} F_k(d, h, w) = b_c + mean_{d,h,w} CAM_c(d, h, w),
 *   CAM_c(d, h, w) = sum_k w_{c,k} F_k(d, h, w):
 *
 * the map says where in the volume the evidence for class c lies, and its mean is the logit
 * without the bias.
 *
 * Layer 4 is coarse (1/8 of the slices, 1/32 of the rows and columns: 2 x 2 x 2 at the CPU grid
 * 16 x 64 x 64). For a finer map of an earlier layer (beyond the paper), `layer: 1 | 2 | 3` gives
 * Grad-CAM (Selvaraju et al. 2017): the layer's map A_k weighted by the mean gradient of the
 * class's logit with respect to it,
 *
 *   GradCAM_c = sum_k alpha_k A_k,   alpha_k = mean_{d,h,w} d y_c / d A_k(d, h, w).
 *
 * At layer 4 the gradient is w_{c,k} / (D'H'W') everywhere, so Grad-CAM there is the CAM divided
 * by D'H'W' (the tests check it): the two agree after normalisation.
 */
import { type Volume5, volume } from '@covsev/engine';
import { makeVolume, resampleVolume, type Shape3, type Volume } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import type { CmcScan } from '../input/cmcScan.js';
import { scansToInput } from '../input/modelInput.js';
import type { CmcNetwork } from '../models/cmcNetwork.js';

/** The raw class activation map of one volume, on the feature grid. */
export interface RawClassActivation {
  /**
   * CAM_c = sum_k w_{c,k} F_k on the layer-4 grid (Grad-CAM's sum_k alpha_k A_k on an earlier
   * layer's), C-order [D', H', W'] (no ReLU, no scaling).
   */
  readonly raw: Float32Array;
  /** [D', H', W']. */
  readonly shape: Shape3;
  /** The backbone layer the map is on (4: the paper's CAM; 1-3: Grad-CAM). */
  readonly layer: CamLayer;
  /** The class the map is for (the chosen one, else the predicted one). */
  readonly classId: number;
  /** The model's logits and softmax probabilities (eval mode). */
  readonly logits: number[];
  readonly probabilities: number[];
  /** argmax of the probabilities (the first on a tie). */
  readonly predicted: number;
}

export interface ClassActivation {
  /**
   * The map on the input's grid and geometry (shape, spacing, affine): ReLU, trilinear upsampling
   * from the layer-4 grid, divided by its maximum, so values lie in [0, 1] (all 0 where the map
   * has no positive value).
   */
  readonly cam: Volume<Float32Array>;
  readonly classId: number;
  /** The predicted class and its probability. */
  readonly predicted: number;
  readonly probability: number;
  /** Softmax probabilities of every class. */
  readonly probabilities: number[];
  /** The raw map on the layer's grid, as {@link classActivationMap} gives it. */
  readonly lowRes: RawClassActivation;
}

/** The backbone layer a class activation map is taken on: 4 is the paper's CAM, 1-3 Grad-CAM. */
export type CamLayer = 1 | 2 | 3 | 4;

export interface ClassActivationOptions {
  /** 1: CT alone; 2: [infection mask, CT] (the scan then needs its mask). */
  readonly inChannels: 1 | 2;
  /** The class to explain; default the predicted one. */
  readonly classId?: number;
  /** The layer: 4 (default) the paper's CAM, 1-3 Grad-CAM on that layer's finer grid. */
  readonly layer?: CamLayer;
}

/**
 * The raw map of a one-volume input (`x.batch === 1`) in eval mode, with the logits of the same
 * pass (pooled by `GlobalAvgPool3d` and classified exactly as `CmcNetwork.apply` does). Layer 4
 * (default): the CAM, the backbone's layer-4 map (`ResNeSt3d.featureMap`) weighted by the
 * classifier's row for the class. Layers 1-3: Grad-CAM on that layer's map (`ResNeSt3d.stageMap`).
 */
export function classActivationMap(model: CmcNetwork, x: Volume5, classId?: number, layer: CamLayer = 4): RawClassActivation {
  if (x.batch !== 1) throw new RangeError(`classActivationMap takes one volume, got a batch of ${x.batch}`);
  const classes = model.classifier.weight.shape[0];
  if (classId !== undefined && !(Number.isInteger(classId) && classId >= 0 && classId < classes)) {
    throw new RangeError(`classId must be an integer in 0..${classes - 1}, got ${classId}`);
  }
  const layers = model.backbone.stageCount;
  if (!(Number.isInteger(layer) && layer >= 1 && layer <= layers)) {
    throw new RangeError(`layer must be an integer in 1..${layers} (4: CAM, 1-3: Grad-CAM), got ${layer}`);
  }
  return tf.tidy(() => {
    const ctx = { training: false };
    const asVolume = (a: unknown): Volume5 => {
      if (a instanceof tf.Tensor) throw new Error('the backbone feature map is not a volume');
      return a as Volume5;
    };
    const pooledLogits = (map: Volume5): tf.Tensor2D => {
      const [n, h, w, f] = map.tensor.shape;
      return model.classify(tf.mean(tf.reshape(map.tensor, [1, n * h * w, f]), 1) as tf.Tensor2D, ctx);
    };
    const map = asVolume(layer === layers ? model.backbone.featureMap(x, ctx) : model.backbone.stageMap(x, ctx, layer));
    const [slices, h, w, f] = map.tensor.shape;
    const logitsOf = (a: tf.Tensor4D): tf.Tensor2D =>
      layer === layers
        ? pooledLogits(volume(a, 1, slices))
        : pooledLogits(asVolume(model.backbone.stagesAfter(volume(a, 1, slices), ctx, layer)));
    const logitsT = logitsOf(map.tensor);
    const logits = Array.from(logitsT.dataSync());
    const probabilities = Array.from(tf.softmax(logitsT).dataSync());
    const predicted = probabilities.indexOf(Math.max(...probabilities));
    const c = classId ?? predicted;
    // The map's weights per channel, [F, 1]: the classifier's row (CAM; its weight is [classes, F],
    // PyTorch's layout), or the mean gradient of the class's logit over the layer's grid (Grad-CAM).
    const weights =
      layer === layers
        ? tf.reshape(tf.slice(model.classifier.weight, [c, 0], [1, f]), [f, 1])
        : tf.reshape(
            tf.mean(
              tf.reshape(
                tf.grad((a: tf.Tensor) => tf.reshape(tf.slice(logitsOf(a as tf.Tensor4D), [0, c], [1, 1]), []))(map.tensor),
                [slices * h * w, f],
              ),
              0,
            ),
            [f, 1],
          );
    const raw = tf.matMul(tf.reshape(map.tensor, [slices * h * w, f]), weights).dataSync() as Float32Array;
    return { raw: Float32Array.from(raw), shape: [slices, h, w] as const, layer, classId: c, logits, probabilities, predicted };
  });
}

/** ReLU, then division by the maximum: values in [0, 1] (all 0 without a positive value). A new array. */
export function normaliseCam(values: ArrayLike<number>): Float32Array {
  const out = new Float32Array(values.length);
  let max = 0;
  for (let i = 0; i < values.length; i++) {
    const v = Math.max(0, values[i] as number);
    out[i] = v;
    if (v > max) max = v;
  }
  if (max > 0) for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / max;
  return out;
}

/**
 * The class activation map of a scan on its own grid (Fig. 4): eval mode, the CAM of the chosen
 * class (default: the predicted one; Grad-CAM with `layer` 1-3), ReLU, trilinear upsampling to the scan's grid (io's
 * `resampleVolume`, half-pixel centres as PyTorch's `align_corners=False`, the same extent), and
 * normalisation to [0, 1]. The result has the scan's geometry, so it lies over `scan.image` (and
 * `scan.mask`) voxel for voxel.
 */
export function classActivationVolume(
  model: CmcNetwork,
  scan: Pick<CmcScan, 'image' | 'mask'>,
  options: ClassActivationOptions,
): ClassActivation {
  const x = scansToInput([scan], options.inChannels);
  let lowRes: RawClassActivation;
  try {
    lowRes = classActivationMap(model, x, options.classId, options.layer ?? 4);
  } finally {
    x.tensor.dispose();
  }
  const image = scan.image;
  const small = makeVolume({ data: normaliseCam(lowRes.raw), shape: lowRes.shape, intensity: 'unknown' });
  const up = resampleVolume(small, image.shape, { mode: 'linear', output: 'float32' });
  const cam = makeVolume({
    data: normaliseCam(up.data),
    shape: image.shape,
    spacing: image.spacing,
    affine: image.affine,
    intensity: 'unknown',
    ...(image.source === undefined ? {} : { source: image.source }),
  });
  return {
    cam,
    classId: lowRes.classId,
    predicted: lowRes.predicted,
    probability: lowRes.probabilities[lowRes.predicted] as number,
    probabilities: lowRes.probabilities,
    lowRes,
  };
}
