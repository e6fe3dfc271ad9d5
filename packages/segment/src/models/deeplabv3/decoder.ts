/**
 * DeepLabV3's decoder (Chen et al. 2017; docs/method.md, "Segmentation": the DeepLabV3 model), as
 * segmentation_models_pytorch v0.3.3's `DeepLabV3Decoder`, a Sequential, so its state-dict names
 * load by name:
 *
 * - `0` ({@link ASPP}): `convs.0` 1x1 conv-BN-ReLU; `convs.1..3` 3x3 atrous conv-BN-ReLU at rates
 *   12, 24, 36 (padding = rate); `convs.4` ({@link ASPPPooling}) global average pool, 1x1
 *   conv-BN-ReLU, bilinear back to the input size; the five maps concatenated, then `project`:
 *   1x1 conv-BN-ReLU and Dropout(0.5);
 * - `1` 3x3 conv, `2` batch norm, `3` ReLU.
 *
 * All convolutions are without bias, initialised as smp's `initialize_decoder` (kaiming-uniform,
 * fan_in, relu gain; batch norm 1 / 0). It reads only the deepest encoder map.
 *
 * Dropout(0.5) (`project.3`): identity in eval mode and in ONNX. In training it zeroes each value
 * with probability 0.5 and doubles the rest, its masks drawn from the seeded `Rng` given as
 * `dropoutRng` (docs/conventions.md, "Seeds"); without one, training runs without it (the model's
 * options say so).
 *
 * ASPPPooling's batch norm sees one value per image and channel: in training it needs a batch of
 * at least 2 images (PyTorch refuses batch 1 there too).
 */
import {
  type Activation,
  BatchNorm,
  Container,
  Conv1kk,
  concatChannels,
  concatOnnx,
  type ForwardContext,
  GlobalAvgPool2d,
  isVolume5,
  type Module,
  type NamedVariable,
  type OnnxGraphBuilder,
  type OnnxValue,
  type OnnxVolumeValue,
  ReLU,
  resizeOnnx,
  Sequential,
  tfSeed,
  upsample2d,
  volume,
} from '@covsev/engine';
import type { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { DECODER_CONV_INIT, ModuleDict, onnxImage } from '../common.js';

/** smp's (and the DeepLabV3 paper's, at output stride 8) atrous rates. */
export const ASPP_RATES = [12, 24, 36] as const;

function asImages(x: Activation, who: string): tf.Tensor4D {
  const t = isVolume5(x) ? x.tensor : x;
  if (t.rank !== 4) throw new Error(`${who}: expects a [N, H, W, C] batch, got [${t.shape}]`);
  return t as tf.Tensor4D;
}

/** A conv without bias (smp's decoder init), batch norm, ReLU: keys `0`, `1`, `2`. */
function convBnReLU(inChannels: number, outChannels: number, kernel: number, dilation: number, rng: Rng): Sequential {
  return new Sequential([
    new Conv1kk({
      inChannels,
      outChannels,
      kernel,
      padding: kernel === 1 ? 0 : dilation,
      dilation,
      bias: false,
      rng,
      weightInit: DECODER_CONV_INIT,
    }),
    new BatchNorm({ channels: outChannels }),
    new ReLU(),
  ]);
}

export interface DropoutOptions {
  /** Probability of zeroing a value, [0, 1). */
  readonly p: number;
  /** The stream training masks are drawn from; absent: no dropout in training either. */
  readonly rng?: Rng;
}

/**
 * PyTorch's `nn.Dropout(p)` on `[N, H, W, C]` batches: in training (with an `rng`) each value is
 * zeroed with probability p and the rest scaled by 1 / (1 - p); eval mode and ONNX: identity.
 */
export class Dropout implements Module {
  readonly name: string;
  readonly p: number;
  private readonly rng: Rng | undefined;

  constructor(options: DropoutOptions) {
    if (!(options.p >= 0 && options.p < 1)) throw new RangeError(`Dropout: p must be in [0, 1), got ${options.p}`);
    this.p = options.p;
    this.rng = options.rng;
    this.name = `Dropout(${this.p}${this.rng ? '' : ', off in training: no rng'})`;
  }

  parameters(): NamedVariable[] {
    return [];
  }

  buffers(): NamedVariable[] {
    return [];
  }

  apply(x: Activation, ctx: ForwardContext): Activation {
    if (!ctx.training || !this.rng || this.p === 0) return x;
    const t = isVolume5(x) ? x.tensor : x;
    const keep = 1 - this.p;
    const seed = tfSeed(this.rng);
    const y = tf.tidy(() => tf.mul(t, tf.div(tf.floor(tf.add(tf.randomUniform(t.shape, 0, 1, 'float32', seed), keep)), keep)));
    return isVolume5(x) ? volume(y as tf.Tensor4D, x.batch, x.depth) : y;
  }

  toOnnx(_graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    return input;
  }
}

/**
 * smp's `ASPPPooling`: `0` AdaptiveAvgPool2d(1), `1` 1x1 conv, `2` batch norm, `3` ReLU, then
 * `F.interpolate(size=input size, mode='bilinear', align_corners=False)` (from 1 x 1: the value
 * repeated over the map).
 */
export class ASPPPooling extends Container {
  readonly name: string;
  private readonly items: Array<readonly [string, Module]>;

  constructor(inChannels: number, outChannels: number, rng: Rng) {
    super();
    const [[, conv] = ['', undefined], [, bn] = ['', undefined], [, relu] = ['', undefined]] = convBnReLU(
      inChannels,
      outChannels,
      1,
      1,
      rng,
    ).children();
    if (!conv || !bn || !relu) throw new Error('ASPPPooling: convBnReLU gave fewer than 3 modules');
    this.items = [
      ['0', new GlobalAvgPool2d()],
      ['1', conv],
      ['2', bn],
      ['3', relu],
    ];
    this.name = `ASPPPooling(${inChannels}->${outChannels})`;
  }

  children(): ReadonlyArray<readonly [string, Module]> {
    return this.items;
  }

  apply(x: Activation, ctx: ForwardContext): Activation {
    const t = asImages(x, this.name);
    const [, h, w] = t.shape;
    return tf.tidy(() => {
      let y: Activation = t;
      for (const [, m] of this.items) y = m.apply(y, ctx);
      return upsample2d(asImages(y, this.name), [h, w], 'bilinear', false);
    });
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    const v = onnxImage(input, this.name);
    let y: OnnxValue = v;
    for (const [key, m] of this.items) y = this.childToOnnx(graph, key, m, y);
    const name = resizeOnnx(graph, y.name, { size: [v.height, v.width] }, 'bilinear', false);
    return { ...onnxImage(y, this.name), name, height: v.height, width: v.width };
  }
}

export interface ASPPOptions {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly rates?: readonly [number, number, number];
  /** Dropout after the projection; default 0.5 (smp's). */
  readonly dropout?: number;
  readonly dropoutRng?: Rng;
  readonly rng: Rng;
}

/** smp's `ASPP`: `convs` (five branches), concatenated, then `project` (1x1 conv-BN-ReLU, Dropout). */
export class ASPP extends Container {
  readonly name: string;
  readonly convs: ModuleDict;
  readonly project: Sequential;
  private readonly branches: readonly Module[];

  constructor(options: ASPPOptions) {
    super();
    const { inChannels: cin, outChannels: cout, rng } = options;
    const rates = options.rates ?? ASPP_RATES;
    this.branches = [
      convBnReLU(cin, cout, 1, 1, rng),
      ...rates.map((r) => convBnReLU(cin, cout, 3, r, rng)),
      new ASPPPooling(cin, cout, rng),
    ];
    this.convs = new ModuleDict(this.branches);
    const [[, conv] = ['', undefined], [, bn] = ['', undefined], [, relu] = ['', undefined]] = convBnReLU(
      5 * cout,
      cout,
      1,
      1,
      rng,
    ).children();
    if (!conv || !bn || !relu) throw new Error('ASPP: convBnReLU gave fewer than 3 modules');
    const dropout = new Dropout({ p: options.dropout ?? 0.5, ...(options.dropoutRng ? { rng: options.dropoutRng } : {}) });
    this.project = new Sequential([conv, bn, relu, dropout]);
    this.name = `ASPP(${cin}->${cout}, rates ${rates.join('/')})`;
  }

  children(): ReadonlyArray<readonly [string, Module]> {
    return [
      ['convs', this.convs],
      ['project', this.project],
    ];
  }

  apply(x: Activation, ctx: ForwardContext): Activation {
    const t = asImages(x, this.name);
    return tf.tidy(() => {
      const maps = this.branches.map((b) => asImages(b.apply(t, ctx), this.name));
      return asImages(this.project.apply(concatChannels(maps), ctx), this.name);
    });
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    const maps = graph.scope('convs', () =>
      this.branches.map((b, i) =>
        onnxImage(
          graph.scope(String(i), () => b.toOnnx(graph, input)),
          this.name,
        ),
      ),
    );
    return this.childToOnnx(graph, 'project', this.project, concatOnnx(graph, maps));
  }
}

export interface DeepLabV3DecoderOptions {
  /** Channels of the encoder's deepest map. */
  readonly inChannels: number;
  /** smp's 256 times the width multiplier. */
  readonly channels: number;
  readonly rates?: readonly [number, number, number];
  readonly dropoutRng?: Rng;
  readonly rng: Rng;
}

/** DeepLabV3's decoder: the deepest encoder map (1/8 at output stride 8) to `channels` maps at the same size. */
export class DeepLabV3Decoder extends Container {
  readonly name: string;
  readonly outChannels: number;
  private readonly body: Sequential;

  constructor(options: DeepLabV3DecoderOptions) {
    super();
    const { inChannels, channels, rng } = options;
    const aspp = new ASPP({
      inChannels,
      outChannels: channels,
      ...(options.rates ? { rates: options.rates } : {}),
      ...(options.dropoutRng ? { dropoutRng: options.dropoutRng } : {}),
      rng,
    });
    this.body = new Sequential([
      aspp,
      ...convBnReLU(channels, channels, 3, 1, rng)
        .children()
        .map(([, m]) => m),
    ]);
    this.outChannels = channels;
    this.name = `DeepLabV3Decoder(${inChannels} -> ${channels})`;
  }

  children(): ReadonlyArray<readonly [string, Module]> {
    return this.body.children();
  }

  /** The decoder on the deepest encoder map alone ({@link DeepLabV3Decoder.decode} takes the whole list). */
  apply(x: Activation, ctx: ForwardContext): Activation {
    return this.body.apply(x, ctx);
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    return this.body.toOnnx(graph, input);
  }

  /** smp's `forward(*features)`: the last (deepest) map through ASPP and the 3x3 conv-BN-ReLU. */
  decode(features: readonly tf.Tensor4D[], ctx: ForwardContext): tf.Tensor4D {
    const deepest = features[features.length - 1];
    if (!deepest) throw new Error(`${this.name}: no feature maps`);
    if (ctx.training && deepest.shape[0] < 2) {
      throw new RangeError(
        `${this.name}: training needs a batch of at least 2 images (ASPP's pooling branch batch-normalises one value per image and channel), got ${deepest.shape[0]}`,
      );
    }
    return asImages(this.body.apply(deepest, ctx), this.name);
  }

  decodeToOnnx(graph: OnnxGraphBuilder, features: readonly OnnxValue[]): OnnxVolumeValue {
    const deepest = features[features.length - 1];
    if (!deepest) throw new Error(`${this.name}: no feature maps`);
    return onnxImage(this.body.toOnnx(graph, deepest), this.name);
  }
}
