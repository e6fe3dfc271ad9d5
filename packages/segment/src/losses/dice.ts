/**
 * The segmentation losses of stage 1 (docs/method.md, "Segmentation"): the soft Dice loss of
 * eq. (3) and Dice + binary cross entropy.
 *
 * Eq. (3), per class c, with the sums over every pixel n of the batch:
 *
 *   L_Dice^c = 1 - (2 Σ_n y_n^c p_n^c + smooth) / (Σ_n (y_n^c + p_n^c) + smooth + eps)
 *
 * and the loss is the mean of L_Dice^c over the classes. The paper leaves open what
 * segmentation_models_pytorch (smp) 0.3.3's `DiceLoss` decides (`losses/dice.py`,
 * `soft_dice_score` in `losses/_functional.py`); covsev follows smp there, except for eps:
 *
 * - **Sums over the batch.** smp sums over dims (0, 2): the batch and the pixels together, one
 *   Dice per class per batch (not one per image). Same here.
 * - **Probabilities.** `binary`: p = sigmoid(logit), one channel; `multiclass`: p = softmax
 *   over the C channels and the target is class ids, one-hot inside (smp's modes of the same
 *   names; smp's `multilabel` is not offered).
 * - **Classes absent from the batch.** smp sets L^c to 0 where Σ y^c = 0 (the Dice of an empty
 *   class is undefined) and still divides by all C classes. Same here by default
 *   (`ignoreEmptyClasses: true`). With smooth 0 this changes only the value, never the gradient:
 *   for an empty class the numerator is 0, so eq. (3) gives the constant 1. With `false` an empty
 *   class counts 1 - smooth / (Σ p + smooth + eps).
 * - **smooth** (default 0, smp's default) is added to numerator and denominator.
 * - **eps** (default 1e-7, smp's default): eq. (3) adds ε to the denominator; smp instead clamps
 *   the denominator to at least eps. covsev adds it, as the paper writes. The two differ only
 *   when Σ (y + p) is below about eps, i.e. never for a real batch.
 * - smp's `log_loss`, `classes` and `ignore_index` are not offered.
 *
 * Probabilities are computed as exp(log-sigmoid) / exp(log-softmax) (smp does the same, for
 * gradients that do not vanish at extreme logits). The fixtures of losses.test.ts are PyTorch
 * autograd in float64 (fixtures/make_loss_fixtures.py).
 */
import * as tf from '@tensorflow/tfjs';

/** `binary`: one logit channel through a sigmoid; `multiclass`: C >= 2 channels through a softmax. */
export type DiceMode = 'binary' | 'multiclass';

export interface DiceLossOptions {
  readonly mode: DiceMode;
  /** Added to the denominator of eq. (3); default 1e-7. */
  readonly eps?: number;
  /** Added to numerator and denominator (smp's `smooth`); default 0. */
  readonly smooth?: number;
  /** A class with no target pixel in the batch contributes 0 (smp); default true. */
  readonly ignoreEmptyClasses?: boolean;
}

export interface DiceBceLossOptions extends DiceLossOptions {
  /**
   * The weights of the two terms: `dice` * Dice + `bce` * cross entropy; default 1 and 1. The
   * cross entropy is the mean over pixels of the binary cross entropy with logits (`binary`),
   * or of the softmax cross entropy against the class ids (`multiclass`).
   */
  readonly weights?: { readonly dice?: number; readonly bce?: number };
}

/** A target: 0/1 masks (`binary`) or class ids (`multiclass`), `[N, H, W]` or `[N, H, W, 1]`. */
export type SegmentationTarget = tf.Tensor3D | tf.Tensor4D;

function checkFinite(what: string, value: number, min: number): void {
  if (!Number.isFinite(value) || value < min)
    throw new RangeError(`diceLoss: ${what} must be a finite number >= ${min}, got ${value}`);
}

/** The target as a float `[N, H, W, C]` tensor (one-hot for multiclass), checked against the logits. */
function targetAsChannels(logits: tf.Tensor4D, target: SegmentationTarget, mode: DiceMode, fn: string): tf.Tensor4D {
  const [n, h, w, c] = logits.shape;
  if (mode !== 'binary' && mode !== 'multiclass')
    throw new RangeError(`${fn}: mode must be 'binary' or 'multiclass', got ${String(mode)}`);
  if (mode === 'binary' && c !== 1)
    throw new RangeError(`${fn}: mode 'binary' needs 1 logit channel, got ${c} (use 'multiclass')`);
  if (mode === 'multiclass' && c < 2) throw new RangeError(`${fn}: mode 'multiclass' needs >= 2 logit channels, got ${c}`);
  const ts = target.shape;
  const ok = ts[0] === n && ts[1] === h && ts[2] === w && (ts.length === 3 || ts[3] === 1);
  if (!ok)
    throw new RangeError(
      `${fn}: target shape [${ts}] does not fit logits [${logits.shape}] (expected [${n}, ${h}, ${w}] or [${n}, ${h}, ${w}, 1])`,
    );
  return tf.tidy(() => {
    const flat = target.reshape([n, h, w]);
    if (mode === 'binary') return flat.toFloat().reshape([n, h, w, 1]) as tf.Tensor4D;
    const ids = flat.toInt();
    const { minId, maxId } = tf.tidy(() => ({
      minId: ids.min().dataSync()[0] as number,
      maxId: ids.max().dataSync()[0] as number,
    }));
    if (minId < 0 || maxId >= c)
      throw new RangeError(`${fn}: target class ids must be in 0..${c - 1}, found ${minId < 0 ? minId : maxId}`);
    return tf
      .oneHot(ids.reshape([-1]), c)
      .toFloat()
      .reshape([n, h, w, c]) as tf.Tensor4D;
  });
}

/**
 * Per-pixel probabilities from logits, through log-sigmoid / log-softmax as smp does. Log-sigmoid
 * is written as -softplus(-x): tf.logSigmoid's gradient reads a disposed tensor on the wasm
 * backend (tfjs 4.22), so it fails inside tf.variableGrads there.
 */
function probabilities(logits: tf.Tensor4D, mode: DiceMode): tf.Tensor4D {
  return mode === 'binary' ? tf.exp(tf.neg(tf.softplus(tf.neg(logits)))) : tf.exp(tf.logSoftmax(logits, -1));
}

function diceOf(logits: tf.Tensor4D, y: tf.Tensor4D, options: DiceLossOptions): tf.Scalar {
  const eps = options.eps ?? 1e-7;
  const smooth = options.smooth ?? 0;
  checkFinite('eps', eps, 0);
  checkFinite('smooth', smooth, 0);
  const p = probabilities(logits, options.mode);
  const intersection = tf.sum(tf.mul(y, p), [0, 1, 2]);
  const cardinality = tf.sum(tf.add(y, p), [0, 1, 2]);
  const score = tf.div(tf.add(tf.mul(intersection, 2), smooth), tf.add(cardinality, smooth + eps));
  let perClass = tf.sub(1, score);
  if (options.ignoreEmptyClasses ?? true) perClass = tf.mul(perClass, tf.greater(tf.sum(y, [0, 1, 2]), 0).toFloat());
  return tf.mean(perClass);
}

/**
 * The soft Dice loss of eq. (3) (see the file comment for every choice), a scalar usable inside
 * `tf.variableGrads`. `logits` are `[N, H, W, C]`; `target` as {@link SegmentationTarget}.
 */
export function diceLoss(logits: tf.Tensor4D, target: SegmentationTarget, options: DiceLossOptions): tf.Scalar {
  return tf.tidy(() => diceOf(logits, targetAsChannels(logits, target, options.mode, 'diceLoss'), options));
}

/** The mean binary cross entropy with logits, max(x, 0) - x y + log(1 + exp(-|x|)) (PyTorch's form). */
function bceWithLogits(logits: tf.Tensor4D, y: tf.Tensor4D): tf.Scalar {
  return tf.mean(tf.add(tf.sub(tf.relu(logits), tf.mul(logits, y)), tf.log1p(tf.exp(tf.neg(tf.abs(logits))))));
}

/** The mean softmax cross entropy over pixels, y one-hot over the last axis. */
function softmaxCrossEntropy(logits: tf.Tensor4D, y: tf.Tensor4D): tf.Scalar {
  return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(logits, -1)), -1))) as tf.Scalar;
}

/**
 * `weights.dice` * {@link diceLoss} + `weights.bce` * cross entropy (binary with logits, or
 * softmax cross entropy for `multiclass`), both on the same probabilities; weights default 1, 1.
 */
export function diceBceLoss(logits: tf.Tensor4D, target: SegmentationTarget, options: DiceBceLossOptions): tf.Scalar {
  const wDice = options.weights?.dice ?? 1;
  const wBce = options.weights?.bce ?? 1;
  if (!Number.isFinite(wDice) || !Number.isFinite(wBce) || wDice < 0 || wBce < 0)
    throw new RangeError(`diceBceLoss: weights must be finite and >= 0, got dice ${wDice}, bce ${wBce}`);
  return tf.tidy(() => {
    const y = targetAsChannels(logits, target, options.mode, 'diceBceLoss');
    const ce = options.mode === 'binary' ? bceWithLogits(logits, y) : softmaxCrossEntropy(logits, y);
    return tf.add(tf.mul(diceOf(logits, y, options), wDice), tf.mul(ce, wBce)) as tf.Scalar;
  });
}
