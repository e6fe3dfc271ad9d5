import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_GRAD, batchNormTrainingKernels, CHANNEL_MOMENTS } from '../kernels/batchNormTraining.js';
import { Container, type ForwardContext, type Module, type NamedVariable } from '../module.js';
import { attr, type OnnxGraphBuilder, type OnnxValue } from '../onnx/graph.js';
import { type Activation, isVolume5, volume } from './volume.js';

export interface BatchNormOptions {
  readonly channels: number;
  /** default 1e-5 */
  readonly eps?: number;
  /** Running-statistics momentum, PyTorch's convention (new = (1 - m) * old + m * batch); default 0.1. */
  readonly momentum?: number;
  /** Learnable per-channel scale and shift; default true. */
  readonly affine?: boolean;
}

/**
 * Batch normalisation over the last (channel) axis, computed on a `[M, C]` reshape of the input
 * (M = B*D*H*W for a volume, B for a feature matrix), which is far faster on wasm than moments
 * over a rank-5 tensor.
 *
 * PyTorch equivalent: `nn.BatchNorm3d(C, eps, momentum)` on volumes (`BatchNorm2d` on 2D batches,
 * `BatchNorm1d` on `[B, F]`), with `track_running_stats=True`:
 * - training: normalise with the batch mean and biased variance; update `running_mean` and
 *   `running_var` with momentum, the variance unbiased (x M / (M - 1)); count `num_batches_tracked`.
 *   The backward pass is the closed-form batch-norm gradient (a `tf.customGrad`), not autodiff
 *   through the moments. On wasm with covsev's kernels the moments and the gradient are fused
 *   SIMD kernels (`CovsevChannelMoments`, `CovsevBatchNormGrad`), tfjs ops elsewhere.
 * - eval: normalise with the running statistics.
 *
 * Variables: `weight`, `bias` (trainable, [C]); buffers `running_mean`, `running_var` ([C]),
 * `num_batches_tracked` (a float32 scalar here; int64 in PyTorch).
 * ONNX: folded into the preceding convolution when there is one, else a BatchNormalization node.
 */
export class BatchNorm implements Module {
  readonly name: string;
  readonly channels: number;
  readonly eps: number;
  readonly momentum: number;
  readonly weight: tf.Variable<tf.Rank.R1> | undefined;
  readonly bias: tf.Variable<tf.Rank.R1> | undefined;
  readonly runningMean: tf.Variable<tf.Rank.R1>;
  readonly runningVar: tf.Variable<tf.Rank.R1>;
  readonly numBatchesTracked: tf.Variable<tf.Rank.R0>;
  /** Batches averaged so far while recalibrating (`beginRecalibration`); undefined otherwise. */
  private recalibrated: number | undefined;

  constructor(options: BatchNormOptions) {
    const c = options.channels;
    if (!Number.isInteger(c) || c < 1) throw new Error(`BatchNorm: channels must be a positive integer, got ${c}`);
    this.channels = c;
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum ?? 0.1;
    if (options.affine ?? true) {
      this.weight = tf.variable(tf.ones([c]), true);
      this.bias = tf.variable(tf.zeros([c]), true);
    }
    this.runningMean = tf.variable(tf.zeros([c]), false);
    this.runningVar = tf.variable(tf.ones([c]), false);
    this.numBatchesTracked = tf.variable(tf.scalar(0), false);
    this.name = `BatchNorm(${c})`;
  }

  parameters(): NamedVariable[] {
    return this.weight && this.bias
      ? [
          { name: 'weight', variable: this.weight },
          { name: 'bias', variable: this.bias },
        ]
      : [];
  }

  buffers(): NamedVariable[] {
    return [
      { name: 'running_mean', variable: this.runningMean },
      { name: 'running_var', variable: this.runningVar },
      { name: 'num_batches_tracked', variable: this.numBatchesTracked },
    ];
  }

  apply(x: Activation, ctx: ForwardContext): Activation {
    const t = isVolume5(x) ? x.tensor : x;
    if (t.shape[t.rank - 1] !== this.channels)
      throw new Error(`${this.name}: input [${t.shape}] has not ${this.channels} channels last`);
    const y = ctx.training ? this.train(t, ctx.updateStatistics ?? true) : this.eval(t);
    return isVolume5(x) ? volume(y as tf.Tensor4D, x.batch, x.depth) : y;
  }

  private eval(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.batchNorm(x, this.runningMean, this.runningVar, this.bias, this.weight, this.eps));
  }

  private train(x: tf.Tensor, updateStatistics: boolean): tf.Tensor {
    const c = this.channels;
    const m = x.size / c;
    if (m <= 1) throw new Error(`${this.name}: training needs more than 1 value per channel, got input [${x.shape}]`);
    const eps = this.eps;
    const fused = batchNormTrainingKernels();
    const [y, mean, variance] = tf.tidy(() => {
      const x2 = tf.reshape(x, [m, c]) as tf.Tensor2D;
      const [mean, variance] = fused
        ? (tf.engine().runKernel(CHANNEL_MOMENTS, { x: x2 }) as [tf.Tensor1D, tf.Tensor1D])
        : columnMoments(x2);
      const gamma = this.weight ?? tf.ones([c]);
      const beta = this.bias ?? tf.zeros([c]);
      const norm = tf.customGrad((...args: unknown[]) => {
        const [xs, g, b, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
        save([xs, g, mean, variance]);
        return {
          value: tf.batchNorm(xs, mean, variance, b, g, eps),
          gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
            const [sx, sg, sMean, sVariance] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
            if (fused) {
              const inputs = { x: sx, dy, mean: sMean, variance: sVariance, scale: sg };
              return tf.engine().runKernel(BATCH_NORM_GRAD, inputs, { varianceEpsilon: eps }) as tf.Tensor[];
            }
            const invStd = tf.rsqrt(tf.add(sVariance, eps));
            const xhat = tf.mul(tf.sub(sx, sMean), invStd);
            const dBeta = tf.sum(dy, 0);
            const dGamma = tf.sum(tf.mul(dy, xhat), 0);
            // dx = gamma * invStd * (dy - mean(dy) - xhat * mean(dy * xhat))
            const centred = tf.sub(tf.sub(dy, tf.div(dBeta, m)), tf.mul(xhat, tf.div(dGamma, m)));
            const dx = tf.mul(centred, tf.mul(sg, invStd));
            return [dx, dGamma, dBeta];
          },
        };
      });
      const y2 = norm(x2, gamma, beta) as tf.Tensor2D;
      return [tf.reshape(y2, x.shape), mean, variance] as const;
    });
    if (updateStatistics) this.updateRunningStatistics(mean, variance, m);
    mean.dispose();
    variance.dispose();
    return y;
  }

  private updateRunningStatistics(mean: tf.Tensor, variance: tf.Tensor, m: number): void {
    const recalibrating = this.recalibrated !== undefined;
    // Recalibrating, the k-th batch enters with weight 1/k: the statistics are the plain mean
    // over the batches (PyTorch's momentum=None); otherwise the exponential average.
    if (this.recalibrated !== undefined) this.recalibrated++;
    const mo = this.recalibrated !== undefined ? 1 / this.recalibrated : this.momentum;
    tf.tidy(() => {
      this.runningMean.assign(tf.add(tf.mul(this.runningMean, 1 - mo), tf.mul(mean, mo)));
      this.runningVar.assign(tf.add(tf.mul(this.runningVar, 1 - mo), tf.mul(variance, (mo * m) / (m - 1))));
      if (!recalibrating) this.numBatchesTracked.assign(tf.add(this.numBatchesTracked, 1));
    });
  }

  /**
   * Starts recomputing the running statistics from the batches that follow ("precise BN"): each
   * training-mode batch until `endRecalibration` enters the mean and (unbiased) variance with
   * weight 1/k, so they end as the plain mean over those batches; `num_batches_tracked` is left
   * as it is. See `recalibrateBatchNorm`.
   */
  beginRecalibration(): void {
    this.recalibrated = 0;
  }

  /** Ends a recalibration; returns the batches it averaged (the momentum applies again). */
  endRecalibration(): number {
    const n = this.recalibrated ?? 0;
    this.recalibrated = undefined;
    return n;
  }

  /** The eval-mode map as y = scale * x + shift, per channel (what export folds into a conv). */
  affineMap(): { scale: Float32Array; shift: Float32Array } {
    const mean = this.runningMean.dataSync();
    const v = this.runningVar.dataSync();
    const gamma = this.weight?.dataSync();
    const beta = this.bias?.dataSync();
    const scale = new Float32Array(this.channels);
    const shift = new Float32Array(this.channels);
    for (let c = 0; c < this.channels; c++) {
      const s = (gamma ? (gamma[c] as number) : 1) / Math.sqrt((v[c] as number) + this.eps);
      scale[c] = s;
      shift[c] = (beta ? (beta[c] as number) : 0) - (mean[c] as number) * s;
    }
    return { scale, shift };
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    const channels = input.kind === 'volume' ? input.channels : input.features;
    if (channels !== this.channels) throw new Error(`${this.name}: ONNX input has ${channels} channels`);
    const { scale, shift } = this.affineMap();
    const folded = graph.foldAffineIntoConv(input.name, scale, shift);
    if (folded) return { ...input, name: folded };
    const c = this.channels;
    const out = graph.addNode(
      'BatchNormalization',
      [
        input.name,
        graph.addInitializer('weight', this.weight ? (this.weight.dataSync() as Float32Array) : new Float32Array(c).fill(1), [c]),
        graph.addInitializer('bias', this.bias ? (this.bias.dataSync() as Float32Array) : new Float32Array(c), [c]),
        graph.addInitializer('running_mean', this.runningMean.dataSync() as Float32Array, [c]),
        graph.addInitializer('running_var', this.runningVar.dataSync() as Float32Array, [c]),
      ],
      { epsilon: attr.f(this.eps) },
    );
    return { ...input, name: out };
  }
}

/** Per-column mean and biased variance of [M, C] with tfjs ops. */
function columnMoments(x: tf.Tensor2D): [tf.Tensor1D, tf.Tensor1D] {
  const { mean, variance } = tf.moments(x, 0);
  return [mean as tf.Tensor1D, variance as tf.Tensor1D];
}

/** Every BatchNorm of a module tree, in the order of its children. */
export function batchNormLayers(module: Module): BatchNorm[] {
  if (module instanceof BatchNorm) return [module];
  if (module instanceof Container) return module.children().flatMap(([, child]) => batchNormLayers(child));
  return [];
}

/**
 * Recomputes every batch norm's running statistics of `model` as the plain mean over `batches`
 * training-mode forward passes ("precise BN"): the exponential average that training leaves
 * follows the last few dozen batches (momentum 0.1), and with small batches of augmented, mixed
 * views it swings from one step to the next, and so does everything predicted in eval mode.
 * `forward(i)` runs batch i through the model with `{ training: true }` (no gradient needed).
 * Returns the number of batch-norm layers; a model without any is left alone.
 */
export function recalibrateBatchNorm(model: Module, batches: number, forward: (index: number) => void): number {
  const layers = batchNormLayers(model);
  if (layers.length === 0 || batches < 1) return layers.length;
  for (const layer of layers) layer.beginRecalibration();
  try {
    for (let i = 0; i < batches; i++) forward(i);
  } finally {
    for (const layer of layers) layer.endRecalibration();
  }
  return layers.length;
}
