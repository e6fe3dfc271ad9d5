/**
 * FPN's decoder (docs/method.md, "Segmentation": the FPN model), with segmentation_models_pytorch's
 * structure and state-dict names, so its checkpoints load by name:
 *
 * - `p5`: 1x1 conv of the deepest map to `pyramidChannels`;
 * - `p4`, `p3`, `p2` ({@link FPNBlock}): nearest x2 upsample of the coarser pyramid level plus a
 *   1x1 conv (`skip_conv`) of the encoder map at that level;
 * - `seg_blocks.{i}` ({@link SegmentationBlock}) for p5, p4, p3, p2: 3, 2, 1, 1
 *   {@link Conv3x3GNReLU} (3x3 conv, GroupNorm, ReLU), of which 3, 2, 1, 0 end with a bilinear x2
 *   upsample (align_corners=True), bringing every level to 1/4 of the input; keys
 *   `seg_blocks.{i}.block.{j}.block.{0 conv, 1 GroupNorm}`;
 * - merge 'add' (the four maps summed), then Dropout2d(0.2): identity in eval mode and in ONNX;
 *   in training it zeroes whole channels with probability 0.2 and scales the rest by 1 / 0.8,
 *   its masks drawn from the seeded `Rng` given as `dropoutRng` (docs/conventions.md, "Seeds").
 *   Without one, training runs without dropout (stated here, not silently: the model's options
 *   say so).
 *
 * GroupNorm(32) is written here ({@link GroupNorm}); the width multiplier would break "32 divides
 * the channels", so the group count is {@link groupNormGroups}: min(32, channels / 4), which is 32
 * at smp's sizes (128 channels) and divides every channel count the width rounding produces (a
 * multiple of 4).
 */
import {
  type Activation,
  Container,
  Conv1kk,
  type ForwardContext,
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
  Upsample2d,
  upsample2d,
  volume,
} from '@covsev/engine';
import type { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { DECODER_CONV_INIT, ModuleDict, segmentationHead } from '../common.js';

/** smp's `initialize_decoder` for convs with a bias: kaiming-uniform weight (fan_in, relu gain), zero bias. */
const DECODER_INIT = { weightInit: DECODER_CONV_INIT, biasInit: { kind: 'constant', value: 0 } } as const;

/** The group count of a GroupNorm over `channels`: min(32, channels / 4) (see the file comment). */
export function groupNormGroups(channels: number): number {
  if (!Number.isInteger(channels) || channels < 4 || channels % 4 !== 0) {
    throw new RangeError(`groupNormGroups: channels must be a positive multiple of 4, got ${channels}`);
  }
  return Math.min(32, channels / 4);
}

export interface GroupNormOptions {
  readonly groups: number;
  readonly channels: number;
  /** default 1e-5, PyTorch's */
  readonly eps?: number;
}

/**
 * Group normalisation over `[N, H, W, C]` batches (or the slices of a Volume5): the channels are
 * split into `groups` consecutive groups and each (image, group) is normalised by its own mean and
 * biased variance over H x W x C/groups, then scaled and shifted per channel.
 *
 * PyTorch equivalent: `nn.GroupNorm(groups, channels, eps)` (affine). Variables `weight` (ones)
 * and `bias` (zeros), `[C]`. Same in training and eval (no running statistics). The gradient is
 * tfjs autodiff through the moments (reshape, mean, squared difference, rsqrt: all have wasm
 * kernels). ONNX (opset 17 has no GroupNormalization): Reshape to `[B, G, C/G*H*W]`,
 * InstanceNormalization (scale 1, bias 0), Reshape back, Mul by weight and Add bias as `[C, 1, 1]`.
 */
export class GroupNorm implements Module {
  readonly name: string;
  readonly groups: number;
  readonly channels: number;
  readonly eps: number;
  readonly weight: tf.Variable<tf.Rank.R1>;
  readonly bias: tf.Variable<tf.Rank.R1>;

  constructor(options: GroupNormOptions) {
    const { groups, channels } = options;
    if (!Number.isInteger(groups) || groups < 1)
      throw new RangeError(`GroupNorm: groups must be a positive integer, got ${groups}`);
    if (!Number.isInteger(channels) || channels < 1 || channels % groups !== 0) {
      throw new RangeError(`GroupNorm: channels (${channels}) must be a positive multiple of groups (${groups})`);
    }
    this.groups = groups;
    this.channels = channels;
    this.eps = options.eps ?? 1e-5;
    this.weight = tf.variable(tf.ones([channels]), true);
    this.bias = tf.variable(tf.zeros([channels]), true);
    this.name = `GroupNorm(${groups}, ${channels})`;
  }

  parameters(): NamedVariable[] {
    return [
      { name: 'weight', variable: this.weight },
      { name: 'bias', variable: this.bias },
    ];
  }

  buffers(): NamedVariable[] {
    return [];
  }

  apply(x: Activation, _ctx: ForwardContext): Activation {
    const t = isVolume5(x) ? x.tensor : x;
    if (t.rank !== 4 || t.shape[3] !== this.channels) {
      throw new Error(`${this.name}: expects [N, H, W, ${this.channels}], got [${t.shape}]`);
    }
    const [n, h, w, c] = t.shape as [number, number, number, number];
    const g = this.groups;
    const y = tf.tidy(() => {
      const grouped = tf.reshape(t, [n, h * w, g, c / g]);
      const { mean, variance } = tf.moments(grouped, [1, 3], true);
      const normed = tf.mul(tf.sub(grouped, mean), tf.rsqrt(tf.add(variance, this.eps)));
      return tf.add(tf.mul(tf.reshape(normed, [n, h, w, c]), this.weight), this.bias) as tf.Tensor4D;
    });
    return isVolume5(x) ? volume(y, x.batch, x.depth) : y;
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    if (input.kind !== 'volume' || input.channels !== this.channels) {
      throw new Error(`${this.name}: ONNX input must be a volume of ${this.channels} channels`);
    }
    const { channels: c, height: h, width: w } = input;
    const g = this.groups;
    const grouped = graph.addNode('Reshape', [input.name, graph.int64([-1, g, (c / g) * h * w])]);
    const normed = graph.addNode(
      'InstanceNormalization',
      [
        grouped,
        graph.addInitializer('group_scale', new Float32Array(g).fill(1), [g]),
        graph.addInitializer('group_shift', new Float32Array(g), [g]),
      ],
      { epsilon: { f: this.eps } },
    );
    const back = graph.addNode('Reshape', [normed, graph.int64([-1, c, h, w])]);
    const scaled = graph.addNode('Mul', [
      back,
      graph.addInitializer('weight', this.weight.dataSync() as Float32Array, [c, 1, 1]),
    ]);
    const shifted = graph.addNode('Add', [scaled, graph.addInitializer('bias', this.bias.dataSync() as Float32Array, [c, 1, 1])]);
    return { ...input, name: shifted };
  }
}

/**
 * smp's `SegmentationHead(kernel_size=1, upsampling=scale)`: `0` the 1x1 conv (H3's
 * {@link segmentationHead} init: xavier-uniform weight, zero bias), `1` a bilinear x`scale`
 * (align_corners=True). FPN uses x4, DeepLabV3 x8.
 */
export function upsamplingSegmentationHead(inChannels: number, classes: number, scale: number, rng: Rng): Sequential {
  const [[, conv] = ['', undefined]] = segmentationHead(inChannels, classes, rng, 1).children();
  if (!conv) throw new Error('upsamplingSegmentationHead: segmentationHead gave no conv');
  return new Sequential([conv, new Upsample2d({ scale, mode: 'bilinear', alignCorners: true })]);
}

function asVolumeValue(v: OnnxValue, who: string): OnnxVolumeValue {
  if (v.kind !== 'volume') throw new Error(`${who}: ONNX input must be a volume`);
  return v;
}

function asImages(x: Activation, who: string): tf.Tensor4D {
  const t = isVolume5(x) ? x.tensor : x;
  if (t.rank !== 4) throw new Error(`${who}: expects a [N, H, W, C] batch, got [${t.shape}]`);
  return t as tf.Tensor4D;
}

/** smp's `Conv3x3GNReLU`: `block` = (3x3 conv without bias, GroupNorm, ReLU), then an optional bilinear x2 (align_corners=True). */
export class Conv3x3GNReLU extends Container {
  readonly name: string;
  readonly block: Sequential;
  private readonly up = new Upsample2d({ scale: 2, mode: 'bilinear', alignCorners: true });

  constructor(
    inChannels: number,
    outChannels: number,
    readonly upsample: boolean,
    rng: Rng,
  ) {
    super();
    this.block = new Sequential([
      new Conv1kk({ inChannels, outChannels, kernel: 3, padding: 1, bias: false, rng, weightInit: DECODER_CONV_INIT }),
      new GroupNorm({ groups: groupNormGroups(outChannels), channels: outChannels }),
      new ReLU(),
    ]);
    this.name = `Conv3x3GNReLU(${inChannels}->${outChannels}${upsample ? ', x2' : ''})`;
  }

  children(): ReadonlyArray<readonly [string, Module]> {
    return [['block', this.block]];
  }

  apply(x: Activation, ctx: ForwardContext): Activation {
    const y = asImages(this.block.apply(x, ctx), this.name);
    if (!this.upsample) return y;
    const up = this.up.apply(y, ctx);
    if (!ctx.training) y.dispose();
    return up;
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    const y = asVolumeValue(this.childToOnnx(graph, 'block', this.block, input), this.name);
    return this.upsample ? graph.scope('upsample', () => this.up.toOnnx(graph, y)) : y;
  }
}

/** smp's `SegmentationBlock`: `block` = `max(1, upsamples)` Conv3x3GNReLU, the first `upsamples` of them upsampling x2. */
export class SegmentationBlock extends Sequential {
  constructor(inChannels: number, outChannels: number, upsamples: number, rng: Rng) {
    const blocks = [new Conv3x3GNReLU(inChannels, outChannels, upsamples > 0, rng)];
    for (let i = 1; i < upsamples; i++) blocks.push(new Conv3x3GNReLU(outChannels, outChannels, true, rng));
    super({ block: new Sequential(blocks) });
  }
}

/** smp's `FPNBlock`: nearest x2 of the coarser level plus `skip_conv` (1x1, with bias) of the encoder map. */
export class FPNBlock extends Container {
  readonly name: string;
  readonly skipConv: Conv1kk;

  constructor(pyramidChannels: number, skipChannels: number, rng: Rng) {
    super();
    this.skipConv = new Conv1kk({ inChannels: skipChannels, outChannels: pyramidChannels, kernel: 1, rng, ...DECODER_INIT });
    this.name = `FPNBlock(${skipChannels}->${pyramidChannels})`;
  }

  children(): ReadonlyArray<readonly [string, Module]> {
    return [['skip_conv', this.skipConv]];
  }

  /** The block takes two inputs: use {@link FPNBlock.merge}. */
  apply(_x: Activation, _ctx: ForwardContext): Activation {
    throw new Error(`${this.name}: takes the coarser level and a skip map; call merge(x, skip, ctx)`);
  }

  toOnnx(_graph: OnnxGraphBuilder, _input: OnnxValue): OnnxValue {
    throw new Error(`${this.name}: takes the coarser level and a skip map; call mergeToOnnx(graph, x, skip)`);
  }

  merge(x: tf.Tensor4D, skip: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    const [, h, w] = x.shape;
    return tf.tidy(() => tf.add(upsample2d(x, [2 * h, 2 * w], 'nearest'), asImages(this.skipConv.apply(skip, ctx), this.name)));
  }

  mergeToOnnx(graph: OnnxGraphBuilder, x: OnnxVolumeValue, skip: OnnxVolumeValue): OnnxVolumeValue {
    const up = {
      ...x,
      name: resizeOnnx(graph, x.name, { scale: 2 }, 'nearest', false),
      height: 2 * x.height,
      width: 2 * x.width,
    };
    const s = asVolumeValue(this.childToOnnx(graph, 'skip_conv', this.skipConv, skip), this.name);
    if (s.height !== up.height || s.width !== up.width) {
      throw new Error(
        `${this.name}: skip map ${s.height}x${s.width} does not match the upsampled level ${up.height}x${up.width}`,
      );
    }
    return { ...up, name: graph.addNode('Add', [up.name, s.name]) };
  }
}

export interface FPNDecoderOptions {
  /** The encoder's `outChannels` (map 0 is the input; the last four maps are used). */
  readonly encoderChannels: readonly number[];
  /** smp's 256 times the width multiplier. */
  readonly pyramidChannels: number;
  /** smp's 128 times the width multiplier; a multiple of 4 (GroupNorm groups, see the file comment). */
  readonly segmentationChannels: number;
  /** Dropout2d probability after the merge; default 0.2 (smp's). */
  readonly dropout?: number;
  /** Stream of the training dropout masks; absent: no dropout in training either. */
  readonly dropoutRng?: Rng;
  readonly rng: Rng;
}

/** FPN's decoder: the last four encoder maps (1/4 ... 1/32) to `segmentationChannels` maps at 1/4. */
export class FPNDecoder extends Container {
  readonly name: string;
  readonly outChannels: number;
  readonly dropout: number;
  readonly p5: Conv1kk;
  readonly p4: FPNBlock;
  readonly p3: FPNBlock;
  readonly p2: FPNBlock;
  readonly segBlocks: ModuleDict;
  private readonly segBlockList: readonly SegmentationBlock[];
  private readonly dropoutRng: Rng | undefined;

  constructor(options: FPNDecoderOptions) {
    super();
    const { encoderChannels, pyramidChannels, segmentationChannels, rng } = options;
    if (encoderChannels.length < 5) {
      throw new RangeError(`FPNDecoder: needs an encoder with at least 5 maps (1/1 ... 1/16), got ${encoderChannels.length}`);
    }
    const [c2, c3, c4, c5] = encoderChannels.slice(-4) as [number, number, number, number];
    this.dropout = options.dropout ?? 0.2;
    if (!(this.dropout >= 0 && this.dropout < 1))
      throw new RangeError(`FPNDecoder: dropout must be in [0, 1), got ${this.dropout}`);
    this.dropoutRng = options.dropoutRng;
    this.p5 = new Conv1kk({ inChannels: c5, outChannels: pyramidChannels, kernel: 1, rng, ...DECODER_INIT });
    this.p4 = new FPNBlock(pyramidChannels, c4, rng);
    this.p3 = new FPNBlock(pyramidChannels, c3, rng);
    this.p2 = new FPNBlock(pyramidChannels, c2, rng);
    this.segBlockList = [3, 2, 1, 0].map((n) => new SegmentationBlock(pyramidChannels, segmentationChannels, n, rng));
    this.segBlocks = new ModuleDict(this.segBlockList);
    this.outChannels = segmentationChannels;
    this.name = `FPNDecoder(${[c2, c3, c4, c5].join(',')} -> ${pyramidChannels} -> ${segmentationChannels})`;
  }

  children(): ReadonlyArray<readonly [string, Module]> {
    return [
      ['p5', this.p5],
      ['p4', this.p4],
      ['p3', this.p3],
      ['p2', this.p2],
      ['seg_blocks', this.segBlocks],
    ];
  }

  /** The decoder reads several encoder maps: use {@link FPNDecoder.decode}. */
  apply(_x: Activation, _ctx: ForwardContext): Activation {
    throw new Error(`${this.name}: takes the encoder's feature maps; call decode(features, ctx)`);
  }

  toOnnx(_graph: OnnxGraphBuilder, _input: OnnxValue): OnnxValue {
    throw new Error(`${this.name}: takes the encoder's feature maps; call decodeToOnnx(graph, features)`);
  }

  decode(features: readonly tf.Tensor4D[], ctx: ForwardContext): tf.Tensor4D {
    if (features.length < 4) throw new Error(`${this.name}: needs 4 feature maps, got ${features.length}`);
    const [c2, c3, c4, c5] = features.slice(-4) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    return tf.tidy(() => {
      const p5 = asImages(this.p5.apply(c5, ctx), this.name);
      const p4 = this.p4.merge(p5, c4, ctx);
      const p3 = this.p3.merge(p4, c3, ctx);
      const p2 = this.p2.merge(p3, c2, ctx);
      const levels = [p5, p4, p3, p2].map((p, i) => asImages((this.segBlockList[i] as Module).apply(p, ctx), this.name));
      const merged = tf.addN(levels) as tf.Tensor4D;
      return ctx.training ? this.dropChannels(merged) : merged;
    });
  }

  /** Dropout2d in training: whole (image, channel) maps zeroed with probability `dropout`, the rest scaled by 1 / (1 - dropout). */
  private dropChannels(x: tf.Tensor4D): tf.Tensor4D {
    if (!this.dropoutRng || this.dropout === 0) return x;
    const [n, , , c] = x.shape;
    const keep = 1 - this.dropout;
    const mask = tf.div(tf.floor(tf.add(tf.randomUniform([n, 1, 1, c], 0, 1, 'float32', tfSeed(this.dropoutRng)), keep)), keep);
    return tf.mul(x, mask) as tf.Tensor4D;
  }

  decodeToOnnx(graph: OnnxGraphBuilder, features: readonly OnnxValue[]): OnnxVolumeValue {
    if (features.length < 4) throw new Error(`${this.name}: needs 4 feature maps, got ${features.length}`);
    const [c2, c3, c4, c5] = features.slice(-4).map((f) => asVolumeValue(f, this.name)) as [
      OnnxVolumeValue,
      OnnxVolumeValue,
      OnnxVolumeValue,
      OnnxVolumeValue,
    ];
    const p5 = asVolumeValue(this.childToOnnx(graph, 'p5', this.p5, c5), this.name);
    const p4 = graph.scope('p4', () => this.p4.mergeToOnnx(graph, p5, c4));
    const p3 = graph.scope('p3', () => this.p3.mergeToOnnx(graph, p4, c3));
    const p2 = graph.scope('p2', () => this.p2.mergeToOnnx(graph, p3, c2));
    const levels = graph.scope('seg_blocks', () =>
      [p5, p4, p3, p2].map((p, i) =>
        asVolumeValue(
          graph.scope(String(i), () => (this.segBlockList[i] as Module).toOnnx(graph, p)),
          this.name,
        ),
      ),
    );
    const first = levels[0] as OnnxVolumeValue;
    return {
      ...first,
      name: graph.addNode(
        'Sum',
        levels.map((l) => l.name),
      ),
    };
  }
}
