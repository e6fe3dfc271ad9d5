/**
 * Pieces every stage-1 architecture shares (docs/method.md, "Segmentation"): channel widths, the
 * Conv2dReLU block, the segmentation head, the decoder contract and the encoder -> decoder -> head
 * model that implements {@link SegmentationModel}.
 *
 * Layout and variable names follow segmentation_models_pytorch (smp) v0.3.3
 * (`segmentation_models_pytorch/base/{modules,heads,model,initialization}.py`), so its state dicts
 * load by name: `encoder.*`, `decoder.*`, `segmentation_head.0.{weight,bias}`.
 */
import {
  type Activation,
  BatchNorm,
  Container,
  Conv1kk,
  type ForwardContext,
  isVolume5,
  type Module,
  type OnnxGraphBuilder,
  type OnnxValue,
  type OnnxVolumeValue,
  ReLU,
  Sequential,
  volume,
  type WeightInit,
} from '@covsev/engine';
import type { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import type { SegmentationEncoder, SegmentationModel, SegmentationModelConfig } from './contract.js';

/**
 * A channel count scaled by the width multiplier of {@link SegmentationModelConfig}: rounded to a
 * multiple of 4, at least 4. Width 1 keeps smp's counts (all multiples of 4).
 */
export function scaledChannels(base: number, width: number): number {
  if (!(width > 0 && width <= 1)) throw new RangeError(`scaledChannels: width must be in (0, 1], got ${width}`);
  return Math.max(4, Math.round((base * width) / 4) * 4);
}

/** smp's `initialize_decoder`: convs kaiming-uniform (fan_in, relu gain), biases 0, batch norm 1 / 0. */
export const DECODER_CONV_INIT: WeightInit = { kind: 'kaimingUniform', a: 0 };
/** torchvision ResNet / DenseNet: convs kaiming-normal, mode fan_out (ResNet) or fan_in (DenseNet), relu gain. */
export const RESNET_CONV_INIT: WeightInit = { kind: 'kaimingNormal', mode: 'fanOut', nonlinearity: 'relu' };
const ZERO: WeightInit = { kind: 'constant', value: 0 };

/**
 * smp's `Conv2dReLU` with batch norm: `Sequential(conv k x k without bias, BatchNorm2d, ReLU)`,
 * variables `0.weight`, `1.{weight,bias,running_mean,running_var,num_batches_tracked}`.
 */
export function conv2dReLU(inChannels: number, outChannels: number, rng: Rng, kernel = 3): Sequential {
  return new Sequential([
    new Conv1kk({
      inChannels,
      outChannels,
      kernel,
      padding: Math.floor(kernel / 2),
      bias: false,
      rng,
      weightInit: DECODER_CONV_INIT,
    }),
    new BatchNorm({ channels: outChannels }),
    new ReLU(),
  ]);
}

/**
 * smp's `SegmentationHead` (no activation, upsampling 1): `Sequential(Conv2d(k3, padding 1, bias),
 * Identity, Identity)`, variables `0.weight`, `0.bias`; initialised as smp's `initialize_head`
 * (xavier-uniform weight, zero bias).
 */
export function segmentationHead(inChannels: number, classes: number, rng: Rng, kernel = 3): Sequential {
  const fanIn = inChannels * kernel * kernel;
  const fanOut = classes * kernel * kernel;
  return new Sequential([
    new Conv1kk({
      inChannels,
      outChannels: classes,
      kernel,
      padding: Math.floor(kernel / 2),
      rng,
      weightInit: { kind: 'uniform', bound: Math.sqrt(6 / (fanIn + fanOut)) },
      biasInit: ZERO,
    }),
  ]);
}

/**
 * PyTorch's `nn.ModuleDict` / `nn.ModuleList`: named children for their variable names only
 * (`blocks.x_0_1.conv1.0.weight`); the owner calls them itself, so `apply` / `toOnnx` refuse.
 */
export class ModuleDict extends Container {
  readonly name: string;
  private readonly items: Array<readonly [string, Module]>;

  constructor(modules: readonly Module[] | Readonly<Record<string, Module>>) {
    super();
    this.items = Array.isArray(modules)
      ? (modules as readonly Module[]).map((m, i) => [String(i), m] as const)
      : Object.entries(modules as Record<string, Module>);
    this.name = `ModuleDict(${this.items.map(([k]) => k).join(', ')})`;
  }

  children(): ReadonlyArray<readonly [string, Module]> {
    return this.items;
  }

  apply(_x: Activation, _ctx: ForwardContext): Activation {
    throw new Error(`${this.name} holds modules; its owner applies them`);
  }

  toOnnx(_graph: OnnxGraphBuilder, _input: OnnxValue): OnnxValue {
    throw new Error(`${this.name} holds modules; its owner exports them`);
  }
}

/** A decoder: encoder features (full resolution first) to one map of `outChannels` channels. */
export interface SegmentationDecoder extends Module {
  readonly outChannels: number;
  decode(features: readonly tf.Tensor4D[], ctx: ForwardContext): tf.Tensor4D;
  decodeToOnnx(graph: OnnxGraphBuilder, features: readonly OnnxValue[]): OnnxValue;
}

/**
 * encoder -> decoder -> segmentation head, smp's `SegmentationModel`; the logits have the input's
 * height and width, `config.classes` channels. Inputs are `[N, H, W, inChannels]` batches (or a
 * Volume5, segmented slice by slice); H and W must divide by `sizeDivisor`.
 */
export class EncoderDecoderModel extends Container implements SegmentationModel {
  readonly name: string;

  constructor(
    readonly config: SegmentationModelConfig,
    readonly encoder: SegmentationEncoder,
    readonly decoder: SegmentationDecoder,
    readonly segmentationHead: Module,
    readonly sizeDivisor: number,
  ) {
    super();
    this.name = `${config.arch}(${config.encoder}, in ${config.inChannels}, classes ${config.classes}, width ${config.width})`;
  }

  children(): ReadonlyArray<readonly [string, Module]> {
    return [
      ['encoder', this.encoder],
      ['decoder', this.decoder],
      ['segmentation_head', this.segmentationHead],
    ];
  }

  /** Throws when `[h, w]` (with `channels`) is not an input this model takes. */
  checkInput(who: string, channels: number, h: number, w: number): void {
    if (channels !== this.config.inChannels) {
      throw new RangeError(`${who}: ${this.name} takes ${this.config.inChannels} input channel(s), got ${channels}`);
    }
    if (h % this.sizeDivisor !== 0 || w % this.sizeDivisor !== 0) {
      throw new RangeError(
        `${who}: input size ${h} x ${w} does not divide by ${this.sizeDivisor}, which ${this.name} needs (resize or pad the slices)`,
      );
    }
  }

  logits(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    if (x.rank !== 4) throw new RangeError(`${this.name}.logits: expected [N, H, W, C], got shape [${x.shape}]`);
    const [, h, w, c] = x.shape;
    this.checkInput(`${this.name}.logits`, c, h, w);
    return tf.tidy(() => {
      const features = this.encoder.features(x, ctx);
      const decoded = tf.tidy(() => this.decoder.decode(features, ctx));
      if (!ctx.training) for (const f of features) if (f !== x) f.dispose();
      return this.segmentationHead.apply(decoded, ctx) as tf.Tensor4D;
    });
  }

  apply(x: Activation, ctx: ForwardContext): Activation {
    if (isVolume5(x)) return volume(this.logits(x.tensor, ctx), x.batch, x.depth);
    if (x.rank !== 4) throw new RangeError(`${this.name}: expected a [N, H, W, C] batch or a Volume5, got shape [${x.shape}]`);
    return this.logits(x as tf.Tensor4D, ctx);
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    if (input.kind !== 'volume') throw new Error(`${this.name}: ONNX input must be an image batch [B, C, H, W]`);
    this.checkInput(`${this.name}.toOnnx`, input.channels, input.height, input.width);
    const features = graph.scope('encoder', () => this.encoder.featuresToOnnx(graph, input));
    const decoded = graph.scope('decoder', () => this.decoder.decodeToOnnx(graph, features));
    return this.childToOnnx(graph, 'segmentation_head', this.segmentationHead, decoded);
  }
}

/** An ONNX value known to be an image batch (a volume of depth 1 per slice). */
export function onnxImage(value: OnnxValue, who: string): OnnxVolumeValue {
  if (value.kind !== 'volume') throw new Error(`${who}: ONNX value '${value.name}' is a matrix, expected an image batch`);
  return value;
}
