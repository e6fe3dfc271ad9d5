/**
 * U-Net's decoder (Ronneberger et al. 2015) as segmentation_models_pytorch v0.3.3's `UnetDecoder`
 * (`segmentation_models_pytorch/decoders/unet/decoder.py`), with batch norm, no attention and no
 * center block (smp builds one only for VGG encoders): the deepest feature map goes through five
 * {@link DecoderBlock}s, each upsampling x2 (nearest), concatenating the encoder's skip of that
 * resolution (none for the last) and applying two Conv2dReLU blocks.
 *
 * Variables: `blocks.{i}.conv1.{0,1}.*`, `blocks.{i}.conv2.{0,1}.*` (i = 0..4).
 */
import {
  type Activation,
  asVolume,
  Container,
  concatChannels,
  concatOnnx,
  type ForwardContext,
  type Module,
  type OnnxGraphBuilder,
  type OnnxValue,
  type Sequential,
  Upsample2d,
} from '@covsev/engine';
import type { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { conv2dReLU, ModuleDict, onnxImage, type SegmentationDecoder, scaledChannels } from '../common.js';

/** smp's default `decoder_channels` for U-Net and U-Net++. */
export const UNET_DECODER_CHANNELS = [256, 128, 64, 32, 16] as const;

/**
 * smp's `DecoderBlock`: `x = up2(x); x = cat([x, skip]); conv2(conv1(x))`, conv1 taking
 * `inChannels + skipChannels` channels to `outChannels`, conv2 `outChannels` to `outChannels`.
 */
export class DecoderBlock extends Container {
  readonly name: string;
  private readonly conv1: Sequential;
  private readonly conv2: Sequential;
  private readonly upsample = new Upsample2d({ scale: 2, mode: 'nearest' });

  constructor(
    readonly inChannels: number,
    readonly skipChannels: number,
    readonly outChannels: number,
    rng: Rng,
  ) {
    super();
    this.conv1 = conv2dReLU(inChannels + skipChannels, outChannels, rng);
    this.conv2 = conv2dReLU(outChannels, outChannels, rng);
    this.name = `DecoderBlock(${inChannels} + skip ${skipChannels} -> ${outChannels})`;
  }

  children(): ReadonlyArray<readonly [string, Module]> {
    return [
      ['conv1', this.conv1],
      ['conv2', this.conv2],
    ];
  }

  /** The block on `x` and its skip maps (concatenated in the order given; none when skipChannels is 0). */
  forward(x: tf.Tensor4D, skips: readonly tf.Tensor4D[], ctx: ForwardContext): tf.Tensor4D {
    const skipChannels = skips.reduce((n, s) => n + (s.shape[3] as number), 0);
    if (x.shape[3] !== this.inChannels || skipChannels !== this.skipChannels) {
      throw new Error(`${this.name}: got ${x.shape[3]} + skip ${skipChannels} channels`);
    }
    return tf.tidy(() => {
      const merged = concatChannels([this.upsample.apply(x, ctx) as tf.Tensor4D, ...skips]);
      return this.conv2.apply(this.conv1.apply(merged, ctx), ctx) as tf.Tensor4D;
    });
  }

  forwardToOnnx(graph: OnnxGraphBuilder, x: OnnxValue, skips: readonly OnnxValue[]): OnnxValue {
    const up = onnxImage(this.upsample.toOnnx(graph, x), this.name);
    const merged = concatOnnx(graph, [up, ...skips.map((s) => onnxImage(s, this.name))]);
    return this.childToOnnx(graph, 'conv2', this.conv2, this.childToOnnx(graph, 'conv1', this.conv1, merged));
  }

  apply(x: Activation, ctx: ForwardContext): Activation {
    return this.forward(asVolume(x, this.name).tensor, [], ctx);
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    return this.forwardToOnnx(graph, input, []);
  }
}

export interface UnetDecoderOptions {
  /** The encoder's `outChannels` (input first). */
  readonly encoderChannels: readonly number[];
  /** Width multiplier applied to {@link UNET_DECODER_CHANNELS}. */
  readonly width: number;
  readonly rng: Rng;
}

export class UnetDecoder extends Container implements SegmentationDecoder {
  readonly name: string;
  readonly outChannels: number;
  private readonly blocks: DecoderBlock[];
  private readonly blockDict: ModuleDict;

  constructor(options: UnetDecoderOptions) {
    super();
    const decoderChannels = UNET_DECODER_CHANNELS.map((c) => scaledChannels(c, options.width));
    if (options.encoderChannels.length !== decoderChannels.length + 1) {
      throw new Error(
        `UnetDecoder: needs ${decoderChannels.length + 1} encoder feature maps, got ${options.encoderChannels.length}`,
      );
    }
    const reversed = options.encoderChannels.slice(1).reverse();
    const head = reversed[0] as number;
    const inChannels = [head, ...decoderChannels.slice(0, -1)];
    const skipChannels = [...reversed.slice(1), 0];
    this.blocks = decoderChannels.map(
      (out, i) => new DecoderBlock(inChannels[i] as number, skipChannels[i] as number, out, options.rng),
    );
    this.blockDict = new ModuleDict(this.blocks);
    this.outChannels = decoderChannels.at(-1) as number;
    this.name = `UnetDecoder(${decoderChannels.join(', ')})`;
  }

  children(): ReadonlyArray<readonly [string, Module]> {
    return [['blocks', this.blockDict]];
  }

  decode(features: readonly tf.Tensor4D[], ctx: ForwardContext): tf.Tensor4D {
    const reversed = features.slice(1).reverse();
    let x = reversed[0] as tf.Tensor4D;
    this.blocks.forEach((block, i) => {
      const skip = reversed[i + 1];
      const next = block.forward(x, skip ? [skip] : [], ctx);
      if (!ctx.training && i > 0) x.dispose();
      x = next;
    });
    return x;
  }

  decodeToOnnx(graph: OnnxGraphBuilder, features: readonly OnnxValue[]): OnnxValue {
    const reversed = features.slice(1).reverse();
    let x = onnxImage(reversed[0] as OnnxValue, this.name) as OnnxValue;
    this.blocks.forEach((block, i) => {
      const skip = reversed[i + 1];
      x = graph.scope('blocks', () => graph.scope(String(i), () => block.forwardToOnnx(graph, x, skip ? [skip] : [])));
    });
    return x;
  }

  apply(_x: Activation, _ctx: ForwardContext): Activation {
    throw new Error(`${this.name}: call decode(features) with the encoder's feature maps`);
  }

  toOnnx(_graph: OnnxGraphBuilder, _input: OnnxValue): OnnxValue {
    throw new Error(`${this.name}: call decodeToOnnx(graph, features) with the encoder's feature maps`);
  }
}
