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
 */
import type { Volume5 } from '@covsev/engine';
import { makeVolume, resampleVolume, type Shape3, type Volume } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import type { CmcScan } from '../input/cmcScan.js';
import { scansToInput } from '../input/modelInput.js';
import type { CmcNetwork } from '../models/cmcNetwork.js';

/** The raw class activation map of one volume, on the feature grid. */
export interface RawClassActivation {
  /** CAM_c = sum_k w_{c,k} F_k on the layer-4 grid, C-order [D', H', W'] (no ReLU, no scaling). */
  readonly raw: Float32Array;
  /** [D', H', W']. */
  readonly shape: Shape3;
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
  /** The raw map on the layer-4 grid, as {@link classActivationMap} gives it. */
  readonly lowRes: RawClassActivation;
}

export interface ClassActivationOptions {
  /** 1: CT alone; 2: [infection mask, CT] (the scan then needs its mask). */
  readonly inChannels: 1 | 2;
  /** The class to explain; default the predicted one. */
  readonly classId?: number;
}

/**
 * The raw CAM of a one-volume input (`x.batch === 1`) in eval mode: the backbone's layer-4 map
 * (`ResNeSt3d.featureMap`) weighted by the classifier's row for the class, with the logits of the
 * same pass (pooled by `GlobalAvgPool3d` and classified exactly as `CmcNetwork.apply` does).
 */
export function classActivationMap(model: CmcNetwork, x: Volume5, classId?: number): RawClassActivation {
  if (x.batch !== 1) throw new RangeError(`classActivationMap takes one volume, got a batch of ${x.batch}`);
  const classes = model.classifier.weight.shape[0];
  if (classId !== undefined && !(Number.isInteger(classId) && classId >= 0 && classId < classes)) {
    throw new RangeError(`classId must be an integer in 0..${classes - 1}, got ${classId}`);
  }
  return tf.tidy(() => {
    const ctx = { training: false };
    const map = model.backbone.featureMap(x, ctx);
    if (map instanceof tf.Tensor) throw new Error('the backbone feature map is not a volume');
    const [slices, h, w, f] = map.tensor.shape;
    const logitsT = model.classify(tf.mean(tf.reshape(map.tensor, [1, slices * h * w, f]), 1) as tf.Tensor2D, ctx);
    const logits = Array.from(logitsT.dataSync());
    const probabilities = Array.from(tf.softmax(logitsT).dataSync());
    const predicted = probabilities.indexOf(Math.max(...probabilities));
    const c = classId ?? predicted;
    // [D'H'W', F] x [F, 1]: the classifier's weight is [classes, F] (PyTorch's layout).
    const row = tf.reshape(tf.slice(model.classifier.weight, [c, 0], [1, f]), [f, 1]);
    const raw = tf.matMul(tf.reshape(map.tensor, [slices * h * w, f]), row).dataSync() as Float32Array;
    return { raw: Float32Array.from(raw), shape: [slices, h, w] as const, classId: c, logits, probabilities, predicted };
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
 * class (default: the predicted one), ReLU, trilinear upsampling to the scan's grid (io's
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
    lowRes = classActivationMap(model, x, options.classId);
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
