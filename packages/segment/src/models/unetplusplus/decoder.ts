/**
 * U-Net++'s decoder (Zhou et al. 2018, "UNet++: A Nested U-Net Architecture for Medical Image
 * Segmentation") exactly as segmentation_models_pytorch v0.3.3's `UnetPlusPlusDecoder`
 * (`segmentation_models_pytorch/decoders/unetplusplus/decoder.py`; v0.4 / v0.5 compute the same
 * graph): batch norm, no attention, no center block, nearest upsampling.
 *
 * With the encoder's maps reversed (f0 = /32 deepest, ..., f4 = /2) and depth 4, node `x_d_l`
 * (0 <= d <= l <= 3) works at the resolution of f(l+1):
 *
 *   x_d_d = Block(f(d), skip = f(d+1))
 *   x_d_l = Block(x_d_(l-1), skip = cat(x_(d+1)_l, ..., x_l_l, f(l+1)))     (l > d)
 *   x_0_4 = Block(x_0_3, no skip)                                            (full resolution)
 *
 * Each Block is smp's {@link DecoderBlock} (x2 nearest upsampling, concat, two Conv2dReLU). Node
 * x_0_l outputs `decoder_channels[l]`; the inner nodes x_d_l (d >= 1) output the channels of the
 * encoder skip f(l+1). Differences from the paper, all smp's: no deep supervision (one head on
 * x_0_4), inner nodes sized like the encoder skips, and the last node upsamples to the input
 * resolution without a skip (the encoder's first map is already /2).
 *
 * Variables: `blocks.x_{d}_{l}.conv1.{0,1}.*`, `.conv2.{0,1}.*`, in smp's order
 * (x_0_0, x_0_1, x_1_1, x_0_2, x_1_2, x_2_2, x_0_3, ..., x_3_3, x_0_4).
 */
import {
  type Activation,
  Container,
  type ForwardContext,
  type Module,
  type OnnxGraphBuilder,
  type OnnxValue,
} from '@covsev/engine';
import type { Rng } from '@covsev/io';
import type * as tf from '@tensorflow/tfjs';
import { ModuleDict, onnxImage, type SegmentationDecoder, scaledChannels } from '../common.js';
import { DecoderBlock, UNET_DECODER_CHANNELS } from '../unet/decoder.js';

export interface UnetPlusPlusDecoderOptions {
  /** The encoder's `outChannels` (input first); 6 maps. */
  readonly encoderChannels: readonly number[];
  /** Width multiplier applied to the U-Net decoder channels (256, 128, 64, 32, 16). */
  readonly width: number;
  readonly rng: Rng;
}

export class UnetPlusPlusDecoder extends Container implements SegmentationDecoder {
  readonly name: string;
  readonly outChannels: number;
  /** 4: the nested levels below the last node. */
  readonly depth: number;
  private readonly blocks = new Map<string, DecoderBlock>();
  private readonly blockDict: ModuleDict;

  constructor(options: UnetPlusPlusDecoderOptions) {
    super();
    const decoderChannels = UNET_DECODER_CHANNELS.map((c) => scaledChannels(c, options.width));
    if (options.encoderChannels.length !== decoderChannels.length + 1) {
      throw new Error(
        `UnetPlusPlusDecoder: needs ${decoderChannels.length + 1} encoder feature maps, got ${options.encoderChannels.length}`,
      );
    }
    const reversed = options.encoderChannels.slice(1).reverse();
    const inChannels = [reversed[0] as number, ...decoderChannels.slice(0, -1)];
    const skipChannels = [...reversed.slice(1), 0];
    const at = (list: readonly number[], i: number): number => list[i] as number;
    this.depth = inChannels.length - 1;
    for (let layer = 0; layer < this.depth; layer++) {
      for (let d = 0; d <= layer; d++) {
        const block =
          d === 0
            ? new DecoderBlock(
                at(inChannels, layer),
                at(skipChannels, layer) * (layer + 1),
                at(decoderChannels, layer),
                options.rng,
              )
            : new DecoderBlock(
                at(skipChannels, layer - 1),
                at(skipChannels, layer) * (layer + 1 - d),
                at(skipChannels, layer),
                options.rng,
              );
        this.blocks.set(`x_${d}_${layer}`, block);
      }
    }
    this.blocks.set(
      `x_0_${this.depth}`,
      new DecoderBlock(at(inChannels, this.depth), 0, at(decoderChannels, this.depth), options.rng),
    );
    this.blockDict = new ModuleDict(Object.fromEntries(this.blocks));
    this.outChannels = at(decoderChannels, this.depth);
    this.name = `UnetPlusPlusDecoder(${decoderChannels.join(', ')})`;
  }

  children(): ReadonlyArray<readonly [string, Module]> {
    return [['blocks', this.blockDict]];
  }

  private block(key: string): DecoderBlock {
    const b = this.blocks.get(key);
    if (!b) throw new Error(`${this.name}: no block ${key}`);
    return b;
  }

  /**
   * The nested graph, evaluated in smp's order, on any value type: `run(key, x, skips)` applies
   * block `key` to `x` and the skips (concatenated in the order given).
   */
  private nested<T>(features: readonly T[], run: (key: string, x: T, skips: readonly T[]) => T): T {
    const f = features.slice(1).reverse();
    const dense = new Map<string, T>();
    const get = (key: string): T => dense.get(key) as T;
    for (let layer = 0; layer < this.depth; layer++) {
      for (let d = 0; d < this.depth - layer; d++) {
        if (layer === 0) {
          dense.set(`x_${d}_${d}`, run(`x_${d}_${d}`, f[d] as T, [f[d + 1] as T]));
        } else {
          const l = d + layer;
          const skips: T[] = [];
          for (let i = d + 1; i <= l; i++) skips.push(get(`x_${i}_${l}`));
          skips.push(f[l + 1] as T);
          dense.set(`x_${d}_${l}`, run(`x_${d}_${l}`, get(`x_${d}_${l - 1}`), skips));
        }
      }
    }
    return run(`x_0_${this.depth}`, get(`x_0_${this.depth - 1}`), []);
  }

  decode(features: readonly tf.Tensor4D[], ctx: ForwardContext): tf.Tensor4D {
    if (features.length !== this.depth + 2)
      throw new Error(`${this.name}: expected ${this.depth + 2} feature maps, got ${features.length}`);
    // Every node is read again by later nodes, so intermediates live until the model's tf.tidy ends.
    return this.nested(features, (key, x, skips) => this.block(key).forward(x, skips, ctx));
  }

  decodeToOnnx(graph: OnnxGraphBuilder, features: readonly OnnxValue[]): OnnxValue {
    for (const f of features) onnxImage(f, this.name);
    return this.nested(features, (key, x, skips) =>
      graph.scope('blocks', () => graph.scope(key, () => this.block(key).forwardToOnnx(graph, x, skips))),
    );
  }

  apply(_x: Activation, _ctx: ForwardContext): Activation {
    throw new Error(`${this.name}: call decode(features) with the encoder's feature maps`);
  }

  toOnnx(_graph: OnnxGraphBuilder, _input: OnnxValue): OnnxValue {
    throw new Error(`${this.name}: call decodeToOnnx(graph, features) with the encoder's feature maps`);
  }
}
