/**
 * Split attention (ResNeSt, Zhang et al. 2020, arXiv:2004.08955) inflated to 3D as in the CMC
 * network: the grouped convolution is 1 x k x k and the attention's global pool runs over the
 * whole volume (D x H x W). Cardinality 1, radix r:
 *
 *   u = ReLU(BN(conv_{1xkxk, groups=r}(x)))           [B*D, H, W, r*C]
 *   s = sum of the r channel splits of u                [B*D, H, W, C]
 *   a = fc2(ReLU(BN(fc1(GAP_{D,H,W}(s)))))             [B, r*C]
 *   a = softmax over the radix of a viewed [B, r, C]    (rSoftMax)
 *   y = sum_i a_i * split_i(u)                          [B*D, H, W, C]
 *
 * PyTorch equivalent: timm's `SplitAttn` with 3D modules (fc1/fc2 are 1x1x1 convs with bias,
 * i.e. Linear on the pooled [B, C]); inter channels max(in * radix / reduction, 32).
 */

import {
  type Activation,
  asVolume,
  BatchNorm,
  Container,
  Conv1kk,
  type ForwardContext,
  GlobalAvgPool3d,
  Linear,
  type Module,
  type OnnxGraphBuilder,
  type OnnxValue,
  onnxReshape,
  ReLU,
  tidyActivation,
  volume,
} from '@covsev/engine';
import type { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';

export interface SplitAttention3dOptions {
  readonly inChannels: number;
  /** C: channels of each split and of the output. */
  readonly channels: number;
  readonly kernel?: number;
  readonly radix?: number;
  readonly reductionFactor?: number;
  readonly minInterChannels?: number;
  readonly rng: Rng;
}

export class SplitAttention3d extends Container {
  readonly name: string;
  readonly radix: number;
  readonly channels: number;
  readonly interChannels: number;
  readonly conv: Conv1kk;
  readonly bn0: BatchNorm;
  readonly fc1: Linear;
  readonly bn1: BatchNorm;
  readonly fc2: Linear;
  private readonly relu = new ReLU();
  private readonly pool = new GlobalAvgPool3d();

  constructor(options: SplitAttention3dOptions) {
    super();
    const radix = options.radix ?? 2;
    const k = options.kernel ?? 3;
    this.radix = radix;
    this.channels = options.channels;
    this.interChannels = Math.max(
      Math.floor((options.inChannels * radix) / (options.reductionFactor ?? 4)),
      options.minInterChannels ?? 32,
    );
    this.conv = new Conv1kk({
      inChannels: options.inChannels,
      outChannels: options.channels * radix,
      kernel: k,
      padding: Math.floor(k / 2),
      groups: radix,
      bias: false,
      rng: options.rng,
    });
    this.bn0 = new BatchNorm({ channels: options.channels * radix });
    this.fc1 = new Linear({ inFeatures: options.channels, outFeatures: this.interChannels, rng: options.rng });
    this.bn1 = new BatchNorm({ channels: this.interChannels });
    this.fc2 = new Linear({ inFeatures: this.interChannels, outFeatures: options.channels * radix, rng: options.rng });
    this.name = `SplitAttention3d(${options.inChannels}->${options.channels}, radix ${radix}, inter ${this.interChannels})`;
  }

  children(): ReadonlyArray<readonly [string, Module]> {
    return [
      ['conv', this.conv],
      ['bn0', this.bn0],
      ['fc1', this.fc1],
      ['bn1', this.bn1],
      ['fc2', this.fc2],
    ];
  }

  apply(x: Activation, ctx: ForwardContext): Activation {
    // One tidy frees the block's intermediates (inference would not fit the wasm heap otherwise);
    // under a gradient tape the tensors backprop needs are kept by tfjs itself.
    return tidyActivation(() => {
      const u = asVolume(this.relu.apply(this.bn0.apply(this.conv.apply(x, ctx), ctx), ctx), this.name);
      const { batch, depth } = u;
      const [, h, w] = u.tensor.shape;
      const c = this.channels;
      const r = this.radix;
      const splits = tf.split(u.tensor, r, 3);
      const gap = volume(tf.addN(splits) as tf.Tensor4D, batch, depth);
      const pooled = this.pool.apply(gap, ctx);
      const logits = this.fc2.apply(this.relu.apply(this.bn1.apply(this.fc1.apply(pooled, ctx), ctx), ctx), ctx) as tf.Tensor2D;
      const attention = tf.softmax(tf.reshape(logits, [batch, r, c]).transpose([0, 2, 1])).transpose([0, 2, 1]);
      const parts = splits.map((split, i) =>
        tf.mul(
          tf.reshape(split, [batch, depth * h * w, c]),
          tf.reshape(tf.slice(attention, [0, i, 0], [batch, 1, c]), [batch, 1, c]),
        ),
      );
      return volume(tf.reshape(tf.addN(parts), [batch * depth, h, w, c]) as tf.Tensor4D, batch, depth);
    });
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    const conv = this.childToOnnx(graph, 'conv', this.conv, input);
    const bn = this.childToOnnx(graph, 'bn0', this.bn0, conv);
    const u = this.relu.toOnnx(graph, bn);
    if (u.kind !== 'volume') throw new Error(`${this.name}: ONNX input must be a volume`);
    const c = this.channels;
    const r = this.radix;
    const slice = (value: string, axis: number, i: number, size: number): string =>
      graph.addNode('Slice', [value, graph.int64([i * size]), graph.int64([(i + 1) * size]), graph.int64([axis])]);
    const splitNames = Array.from({ length: r }, (_, i) => slice(u.name, 1, i, c));
    const gap = splitNames.slice(1).reduce((acc, s) => graph.addNode('Add', [acc, s]), splitNames[0] as string);
    const pooled = this.pool.toOnnx(graph, { ...u, name: gap, channels: c });
    const f1 = this.childToOnnx(graph, 'fc1', this.fc1, pooled);
    const b1 = this.childToOnnx(graph, 'bn1', this.bn1, f1);
    const logits = this.childToOnnx(graph, 'fc2', this.fc2, this.relu.toOnnx(graph, b1));
    const attention = graph.addNode('Softmax', [onnxReshape(graph, logits.name, [-1, r, c])], { axis: { i: 1 } });
    const hw = u.height * u.width;
    let sum: string | undefined;
    for (let i = 0; i < r; i++) {
      const a = slice(attention, 1, i, 1);
      const a4 = onnxReshape(graph, a, [-1, 1, c, 1]);
      const s4 = onnxReshape(graph, splitNames[i] as string, [-1, u.depth, c, hw]);
      const part = graph.addNode('Mul', [s4, a4]);
      sum = sum === undefined ? part : graph.addNode('Add', [sum, part]);
    }
    const name = onnxReshape(graph, sum as string, [-1, c, u.height, u.width]);
    return { kind: 'volume', name, depth: u.depth, channels: c, height: u.height, width: u.width };
  }
}
