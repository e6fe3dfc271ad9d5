/**
 * DenseNet-121 (Huang et al. 2017) as segmentation_models_pytorch v0.3.3's `DenseNetEncoder`
 * (`segmentation_models_pytorch/encoders/densenet.py`): torchvision's DenseNet (growth 32,
 * bn_size 4, blocks (6, 12, 24, 16), 64 initial features) without its classifier. Its features:
 *
 *   [input,
 *    relu0(norm0(conv0(x)))                                  (/2,  64),
 *    skip of transition1 after denseblock1(pool0(.))         (/4,  256),
 *    skip of transition2 after denseblock2                   (/8,  512),
 *    skip of transition3 after denseblock3                   (/16, 1024),
 *    norm5(denseblock4(.))                                   (/32, 1024)]
 *
 * where smp's `TransitionWithSkip` returns as skip the transition's input after its norm and ReLU
 * (before its 1 x 1 conv and 2 x 2 average pool), and the next stage continues from the pooled
 * output. Note: no ReLU after norm5 (smp's last stage is denseblock4 + norm5; torchvision's
 * classifier path adds one).
 *
 * Variables: torchvision's names, `features.conv0.weight`, `features.norm0.*`,
 * `features.denseblock1.denselayer1.{norm1,conv1,norm2,conv2}.*`,
 * `features.transition1.{norm,conv}.*`, `features.norm5.*` (the state dict of torchvision >= 0.4;
 * older checkpoints spell `norm.1`, which smp renames the same way on load).
 *
 * Width multiplier: the initial features and the growth rate are scaled (`scaledChannels`); the
 * bottleneck is 4 x growth and a transition halves its input (floor), as in torchvision.
 * Initialisation: torchvision's (convs kaiming-normal fan_in, batch norm 1 / 0).
 *
 * Output stride 16 / 8 (covsev's choice; smp refuses `make_dilated` for DenseNets because their
 * downsampling is a pooling): with OS 16 transition3's average pool becomes the identity and the
 * 3 x 3 convs of denseblock4 get dilation 2; with OS 8 transition2's pool goes too, denseblock3's
 * 3 x 3 convs get dilation 2 and denseblock4's dilation 4, the stages smp dilates in a ResNet.
 * The variables do not change, so a DenseNet trained at OS 32 loads.
 */
import {
  type Activation,
  AvgPool2d,
  asVolume,
  BatchNorm,
  Container,
  Conv1kk,
  concatChannels,
  concatOnnx,
  type ForwardContext,
  MaxPool1kk,
  type Module,
  type OnnxGraphBuilder,
  type OnnxValue,
  type WeightInit,
} from '@covsev/engine';
import type { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { ModuleDict, onnxImage, scaledChannels } from '../models/common.js';
import type { SegmentationEncoder } from '../models/contract.js';
import { conv3x3 } from './resnet.js';

/** torchvision's DenseNet conv init: kaiming-normal, fan_in, relu gain. */
const DENSENET_CONV_INIT: WeightInit = { kind: 'kaimingNormal', mode: 'fanIn', nonlinearity: 'relu' };

export interface DenseNetEncoderOptions {
  readonly inChannels: number;
  /** Width multiplier, (0, 1]. */
  readonly width: number;
  /** Dense layers per block: DenseNet-121 is [6, 12, 24, 16]. */
  readonly blocks: readonly [number, number, number, number];
  /** 32 at width 1. */
  readonly growthRate?: number;
  /** 64 at width 1. */
  readonly initFeatures?: number;
  readonly outputStride?: 8 | 16 | 32;
  readonly rng: Rng;
}

function conv1x1(inChannels: number, outChannels: number, rng: Rng): Conv1kk {
  return new Conv1kk({ inChannels, outChannels, kernel: 1, bias: false, rng, weightInit: DENSENET_CONV_INIT });
}

function reluOnnx(graph: OnnxGraphBuilder, v: OnnxValue): OnnxValue {
  return { ...v, name: graph.addNode('Relu', [v.name]) };
}

/** torchvision's `_DenseLayer`: conv2(relu(norm2(conv1(relu(norm1(x)))))), `growth` new channels. */
export class DenseLayer extends Container {
  readonly name: string;
  private readonly norm1: BatchNorm;
  private readonly conv1: Conv1kk;
  private readonly norm2: BatchNorm;
  private readonly conv2: Conv1kk;

  constructor(inChannels: number, growth: number, bottleneck: number, dilation: number, rng: Rng) {
    super();
    this.norm1 = new BatchNorm({ channels: inChannels });
    this.conv1 = conv1x1(inChannels, bottleneck, rng);
    this.norm2 = new BatchNorm({ channels: bottleneck });
    this.conv2 = conv3x3(bottleneck, growth, 1, dilation, rng, DENSENET_CONV_INIT);
    this.name = `DenseLayer(${inChannels} -> +${growth}${dilation > 1 ? `, d${dilation}` : ''})`;
  }

  children(): ReadonlyArray<readonly [string, Module]> {
    return [
      ['norm1', this.norm1],
      ['conv1', this.conv1],
      ['norm2', this.norm2],
      ['conv2', this.conv2],
    ];
  }

  apply(x: Activation, ctx: ForwardContext): Activation {
    return tf.tidy(() => {
      const a = tf.relu(this.norm1.apply(x, ctx) as tf.Tensor4D);
      const b = tf.relu(this.norm2.apply(this.conv1.apply(a, ctx), ctx) as tf.Tensor4D);
      return this.conv2.apply(b, ctx) as tf.Tensor4D;
    });
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    const a = reluOnnx(graph, this.childToOnnx(graph, 'norm1', this.norm1, input));
    const b = this.childToOnnx(graph, 'norm2', this.norm2, this.childToOnnx(graph, 'conv1', this.conv1, a));
    return this.childToOnnx(graph, 'conv2', this.conv2, reluOnnx(graph, b));
  }
}

/** torchvision's `_DenseBlock`: each layer's output is concatenated to its input. */
export class DenseBlock extends Container {
  readonly name: string;
  readonly outChannels: number;
  private readonly layers: DenseLayer[] = [];

  constructor(inChannels: number, count: number, growth: number, dilation: number, rng: Rng) {
    super();
    for (let i = 0; i < count; i++) this.layers.push(new DenseLayer(inChannels + i * growth, growth, 4 * growth, dilation, rng));
    this.outChannels = inChannels + count * growth;
    this.name = `DenseBlock(${count} layers, ${inChannels} -> ${this.outChannels})`;
  }

  children(): ReadonlyArray<readonly [string, Module]> {
    return this.layers.map((layer, i) => [`denselayer${i + 1}`, layer] as const);
  }

  apply(x: Activation, ctx: ForwardContext): Activation {
    let y = asVolume(x, this.name).tensor;
    for (const layer of this.layers) {
      const input = y;
      y = tf.tidy(() => concatChannels([input, layer.apply(input, ctx) as tf.Tensor4D]));
      if (!ctx.training && input !== x) input.dispose();
    }
    return y;
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    // The input is read twice (the first norm1 and the first concat): an Identity pins it, so that
    // norm1 cannot fold into a conv that produced it (an unpooled transition in a dilated encoder).
    let y = onnxImage({ ...input, name: graph.addNode('Identity', [input.name]) }, this.name);
    this.layers.forEach((layer, i) => {
      const added = onnxImage(this.childToOnnx(graph, `denselayer${i + 1}`, layer, y), this.name);
      y = concatOnnx(graph, [y, added]);
    });
    return y;
  }
}

/**
 * torchvision's `_Transition` (norm, relu, 1 x 1 conv to half the channels, 2 x 2 average pool)
 * with smp's skip: {@link DenseTransition.forward} returns the map after the ReLU and the pooled
 * output. `pooled: false` (dilated encoders) drops the pool.
 */
export class DenseTransition extends Container {
  readonly name: string;
  readonly outChannels: number;
  private readonly norm: BatchNorm;
  private readonly conv: Conv1kk;
  private readonly pool: AvgPool2d | undefined;

  constructor(inChannels: number, pooled: boolean, rng: Rng) {
    super();
    this.outChannels = Math.floor(inChannels / 2);
    this.norm = new BatchNorm({ channels: inChannels });
    this.conv = conv1x1(inChannels, this.outChannels, rng);
    this.pool = pooled ? new AvgPool2d({ kernel: 2, stride: 2 }) : undefined;
    this.name = `DenseTransition(${inChannels} -> ${this.outChannels}${pooled ? ', pool 2' : ''})`;
  }

  children(): ReadonlyArray<readonly [string, Module]> {
    return [
      ['norm', this.norm],
      ['conv', this.conv],
    ];
  }

  forward(x: tf.Tensor4D, ctx: ForwardContext): { skip: tf.Tensor4D; out: tf.Tensor4D } {
    return tf.tidy(() => {
      const skip = tf.relu(this.norm.apply(x, ctx) as tf.Tensor4D);
      const conv = this.conv.apply(skip, ctx) as tf.Tensor4D;
      return { skip, out: this.pool ? (this.pool.apply(conv, ctx) as tf.Tensor4D) : conv };
    });
  }

  forwardToOnnx(graph: OnnxGraphBuilder, x: OnnxValue): { skip: OnnxValue; out: OnnxValue } {
    const skip = reluOnnx(graph, this.childToOnnx(graph, 'norm', this.norm, x));
    const conv = this.childToOnnx(graph, 'conv', this.conv, skip);
    return { skip, out: this.pool ? this.pool.toOnnx(graph, conv) : conv };
  }

  apply(x: Activation, ctx: ForwardContext): Activation {
    const { skip, out } = this.forward(asVolume(x, this.name).tensor, ctx);
    skip.dispose();
    return out;
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    return this.forwardToOnnx(graph, input).out;
  }
}

export class DenseNetEncoder extends Container implements SegmentationEncoder {
  readonly name: string;
  readonly outChannels: readonly number[];
  readonly outputStride: 8 | 16 | 32;
  private readonly conv0: Conv1kk;
  private readonly norm0: BatchNorm;
  private readonly pool0 = new MaxPool1kk({ kernel: 3, stride: 2, padding: 1 });
  private readonly denseBlocks: DenseBlock[] = [];
  private readonly transitions: DenseTransition[] = [];
  private readonly norm5: BatchNorm;
  private readonly featureDict: ModuleDict;

  constructor(options: DenseNetEncoderOptions) {
    super();
    const { inChannels, width, rng } = options;
    this.outputStride = options.outputStride ?? 32;
    if (![8, 16, 32].includes(this.outputStride))
      throw new RangeError(`DenseNetEncoder: outputStride must be 8, 16 or 32, got ${this.outputStride}`);
    // Dilation of denseblock i and whether transition i pools (see the file comment).
    const dilations = this.outputStride === 32 ? [1, 1, 1, 1] : this.outputStride === 16 ? [1, 1, 1, 2] : [1, 1, 2, 4];
    const growth = scaledChannels(options.growthRate ?? 32, width);
    const init = scaledChannels(options.initFeatures ?? 64, width);
    this.conv0 = new Conv1kk({
      inChannels,
      outChannels: init,
      kernel: 7,
      stride: 2,
      padding: 3,
      bias: false,
      rng,
      weightInit: DENSENET_CONV_INIT,
    });
    this.norm0 = new BatchNorm({ channels: init });
    const features: Record<string, Module> = { conv0: this.conv0, norm0: this.norm0 };
    const outChannels = [inChannels, init];
    let channels = init;
    options.blocks.forEach((count, i) => {
      const block = new DenseBlock(channels, count, growth, dilations[i] as number, rng);
      this.denseBlocks.push(block);
      features[`denseblock${i + 1}`] = block;
      channels = block.outChannels;
      outChannels.push(channels);
      if (i < options.blocks.length - 1) {
        const pooled = (dilations[i + 1] as number) === 1;
        const transition = new DenseTransition(channels, pooled, rng);
        this.transitions.push(transition);
        features[`transition${i + 1}`] = transition;
        channels = transition.outChannels;
      }
    });
    this.norm5 = new BatchNorm({ channels });
    features.norm5 = this.norm5;
    this.featureDict = new ModuleDict(features);
    this.outChannels = outChannels;
    this.name = `DenseNetEncoder(in ${inChannels}, blocks [${options.blocks.join(', ')}], growth ${growth}, os ${this.outputStride})`;
  }

  children(): ReadonlyArray<readonly [string, Module]> {
    return [['features', this.featureDict]];
  }

  features(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D[] {
    const out: tf.Tensor4D[] = [x];
    out.push(tf.tidy(() => tf.relu(this.norm0.apply(this.conv0.apply(x, ctx), ctx) as tf.Tensor4D)));
    let y = out[1] as tf.Tensor4D;
    this.denseBlocks.forEach((block, i) => {
      const input = y;
      const dense = tf.tidy(
        () => block.apply(i === 0 ? (this.pool0.apply(input, ctx) as tf.Tensor4D) : input, ctx) as tf.Tensor4D,
      );
      if (i > 0 && !ctx.training) input.dispose();
      const transition = this.transitions[i];
      if (transition) {
        const { skip, out: next } = transition.forward(dense, ctx);
        if (!ctx.training) dense.dispose();
        out.push(skip);
        y = next;
      } else {
        out.push(tf.tidy(() => this.norm5.apply(dense, ctx) as tf.Tensor4D));
        if (!ctx.training) dense.dispose();
      }
    });
    return out;
  }

  /** A lone encoder's apply gives the deepest map. */
  apply(x: Activation, ctx: ForwardContext): Activation {
    const t = asVolume(x, this.name).tensor;
    return tf.tidy(() => this.features(t, ctx).at(-1) as tf.Tensor4D);
  }

  featuresToOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue[] {
    return graph.scope('features', () => {
      const out: OnnxValue[] = [onnxImage(input, this.name)];
      let y = this.childToOnnx(graph, 'conv0', this.conv0, input);
      y = reluOnnx(graph, this.childToOnnx(graph, 'norm0', this.norm0, y));
      out.push(y);
      this.denseBlocks.forEach((block, i) => {
        const dense = this.childToOnnx(graph, `denseblock${i + 1}`, block, i === 0 ? this.pool0.toOnnx(graph, y) : y);
        const transition = this.transitions[i];
        if (transition) {
          const { skip, out: next } = graph.scope(`transition${i + 1}`, () => transition.forwardToOnnx(graph, dense));
          out.push(skip);
          y = next;
        } else {
          out.push(this.childToOnnx(graph, 'norm5', this.norm5, dense));
        }
      });
      return out;
    });
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    return this.featuresToOnnx(graph, input).at(-1) as OnnxValue;
  }
}

/** DenseNet-121's dense layers per block (torchvision `densenet121`). */
export const DENSENET121_BLOCKS = [6, 12, 24, 16] as const;
