import type { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import type { ForwardContext, Module, NamedVariable } from '../module.js';
import { attr, type OnnxGraphBuilder, type OnnxValue } from '../onnx/graph.js';
import { initValues, TORCH_DEFAULT_WEIGHT_INIT, torchDefaultBias, type WeightInit } from './init.js';
import { type Activation, mapSlices, windowOutputSize } from './volume.js';

export interface Conv1kkOptions {
  readonly inChannels: number;
  readonly outChannels: number;
  /** k: the kernel is 1 x k x k. */
  readonly kernel: number;
  /** s: stride (1, s, s); default 1. */
  readonly stride?: number;
  /** p: zero padding (0, p, p); default 0, like PyTorch. */
  readonly padding?: number;
  /**
   * d: dilation (1, d, d), PyTorch's `dilation`; default 1. With d > 1 the stride must be 1
   * (DeepLabV3's atrous convolutions; tfjs refuses both at once), except for a 1 x 1 kernel, where
   * dilation changes nothing and is ignored.
   */
  readonly dilation?: number;
  /** default 1; both channel counts must divide by it. */
  readonly groups?: number;
  /** default true, like PyTorch. */
  readonly bias?: boolean;
  /** Fused activation after the bias (tf.fused.conv2d); default none. */
  readonly activation?: 'linear' | 'relu';
  /**
   * How groups > 1 run, since tfjs conv2d has no groups: `split` (default) slices the input
   * channels, runs one conv per group and concatenates; `blockDiagonal` runs one dense conv with a
   * zero-filled block-diagonal filter (groups x the FLOPs, but no channel slicing or concat).
   */
  readonly groupMode?: 'split' | 'blockDiagonal';
  readonly rng: Rng;
  /** default PyTorch's kaiming uniform (a = sqrt(5)). */
  readonly weightInit?: WeightInit;
  /** default PyTorch's U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
  readonly biasInit?: WeightInit;
}

/**
 * A 3D convolution with a 1 x k x k kernel, run as a 2D convolution over the B*D slices of a
 * {@link Volume5} (or over a plain `[N, H, W, C]` batch).
 *
 * PyTorch equivalent:
 * `nn.Conv3d(in, out, (1, k, k), stride=(1, s, s), padding=(0, p, p), groups=g, bias=bias)`
 * (and `nn.Conv2d(in, out, k, s, p, groups=g, bias=bias)` on 2D batches).
 *
 * Variables: `weight` in tfjs' filter layout `[k, k, in/groups, out]` (PyTorch's Conv3d weight
 * `[out, in/groups, 1, k, k]` is its transpose; {@link Conv1kk.torchWeight} converts), `bias` `[out]`.
 * Group j uses input channels `j*in/g ...` and output channels `j*out/g ...`, as in PyTorch.
 */
export class Conv1kk implements Module {
  readonly name: string;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernel: number;
  readonly stride: number;
  readonly padding: number;
  readonly dilation: number;
  readonly groups: number;
  readonly activation: 'linear' | 'relu';
  readonly groupMode: 'split' | 'blockDiagonal';
  readonly weight: tf.Variable<tf.Rank.R4>;
  readonly bias: tf.Variable<tf.Rank.R1> | undefined;

  constructor(options: Conv1kkOptions) {
    const { inChannels, outChannels, kernel } = options;
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernel = kernel;
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    this.dilation = options.dilation ?? 1;
    this.groups = options.groups ?? 1;
    this.activation = options.activation ?? 'linear';
    this.groupMode = options.groupMode ?? 'split';
    for (const [what, v] of [
      ['inChannels', inChannels],
      ['outChannels', outChannels],
      ['kernel', kernel],
      ['stride', this.stride],
      ['dilation', this.dilation],
      ['groups', this.groups],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`Conv1kk: ${what} must be a positive integer, got ${v}`);
    }
    if (!Number.isInteger(this.padding) || this.padding < 0)
      throw new Error(`Conv1kk: padding must be >= 0, got ${this.padding}`);
    if (this.dilation > 1 && this.stride > 1 && kernel > 1)
      throw new Error(`Conv1kk: dilation ${this.dilation} needs stride 1, got stride ${this.stride}`);
    if (inChannels % this.groups || outChannels % this.groups) {
      throw new Error(`Conv1kk: channels ${inChannels} -> ${outChannels} do not divide by groups ${this.groups}`);
    }
    const inPerGroup = inChannels / this.groups;
    const fans = { fanIn: inPerGroup * kernel * kernel, fanOut: outChannels * kernel * kernel };
    const size = kernel * kernel * inPerGroup * outChannels;
    const w = initValues(options.weightInit ?? TORCH_DEFAULT_WEIGHT_INIT, size, fans, options.rng);
    this.weight = tf.variable(tf.tensor4d(w, [kernel, kernel, inPerGroup, outChannels]), true);
    if (options.bias ?? true) {
      const b = initValues(options.biasInit ?? torchDefaultBias(fans.fanIn), outChannels, fans, options.rng);
      this.bias = tf.variable(tf.tensor1d(b), true);
    }
    const g = this.groups > 1 ? `, g${this.groups}` : '';
    const d = this.dilation > 1 ? `, d${this.dilation}` : '';
    this.name = `Conv1kk(${inChannels}->${outChannels}, k${kernel}, s${this.stride}, p${this.padding}${d}${g})`;
  }

  parameters(): NamedVariable[] {
    const list: NamedVariable[] = [{ name: 'weight', variable: this.weight }];
    if (this.bias) list.push({ name: 'bias', variable: this.bias });
    return list;
  }

  buffers(): NamedVariable[] {
    return [];
  }

  /** Output height or width for an input one. */
  outSize(size: number): number {
    return windowOutputSize(this.name, size, this.effectiveDilation() * (this.kernel - 1) + 1, this.stride, this.padding);
  }

  /** The dilation that acts: 1 for a 1 x 1 kernel, whatever was asked. */
  private effectiveDilation(): number {
    return this.kernel === 1 ? 1 : this.dilation;
  }

  apply(x: Activation, _ctx: ForwardContext): Activation {
    return mapSlices(x, this.name, (t) => {
      if (t.shape[3] !== this.inChannels) throw new Error(`${this.name}: input has ${t.shape[3]} channels`);
      this.outSize(t.shape[1]);
      this.outSize(t.shape[2]);
      return tf.tidy(() => this.forward(t));
    });
  }

  private forward(x: tf.Tensor4D): tf.Tensor4D {
    const d = this.effectiveDilation();
    const conv = (input: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D | undefined): tf.Tensor4D => {
      if (d > 1) return dilatedConv2d(input, filter, bias, d, this.padding, this.activation);
      // Without bias or activation, the plain op: its gradient is one function per input, so tfjs
      // skips dx where the input needs none (the stem's, on the image), while the fused op's
      // gradient computes dx and dW together. A 16x64x64 CMC step: 3 of 69 input gradients fewer,
      // 598-641 -> 576-626 ms on the main thread (three alternating runs each).
      if (bias === undefined && this.activation === 'linear') return tf.conv2d(input, filter, this.stride, this.padding);
      return tf.fused.conv2d({
        x: input,
        filter,
        strides: [this.stride, this.stride],
        pad: this.padding,
        bias,
        activation: this.activation,
      });
    };
    if (this.groups === 1) return conv(x, this.weight, this.bias);
    if (this.groupMode === 'blockDiagonal') return conv(x, this.blockDiagonalFilter(), this.bias);
    const xs = tf.split(x, this.groups, 3);
    const ws = tf.split(this.weight, this.groups, 3);
    const bs = this.bias ? tf.split(this.bias, this.groups) : undefined;
    return tf.concat(
      xs.map((xi, j) => conv(xi as tf.Tensor4D, ws[j] as tf.Tensor4D, bs?.[j] as tf.Tensor1D | undefined)),
      3,
    ) as tf.Tensor4D;
  }

  /** The grouped filter as a dense `[k, k, in, out]` filter with zeros off the group blocks. */
  private blockDiagonalFilter(): tf.Tensor4D {
    const perIn = this.inChannels / this.groups;
    const ws = tf.split(this.weight, this.groups, 3);
    return tf.concat(
      ws.map((w, j) =>
        tf.pad(w, [
          [0, 0],
          [0, 0],
          [j * perIn, (this.groups - 1 - j) * perIn],
          [0, 0],
        ]),
      ),
      3,
    ) as tf.Tensor4D;
  }

  /** The weight in PyTorch's Conv2d layout `[out, in/groups, k, k]` (Conv3d adds a 1 after in/groups). */
  torchWeight(): Float32Array {
    return hwioToOihw(this.weight.dataSync() as Float32Array, this.weight.shape);
  }

  /** Loads a PyTorch-layout weight `[out, in/groups, (1,) k, k]`. */
  setTorchWeight(data: ArrayLike<number>): void {
    const [k, , ig, o] = this.weight.shape;
    if (data.length !== k * k * ig * o) throw new Error(`${this.name}: ${data.length} weight values, expected ${k * k * ig * o}`);
    const hwio = new Float32Array(data.length);
    for (let oi = 0; oi < o; oi++) {
      for (let ii = 0; ii < ig; ii++) {
        for (let p = 0; p < k * k; p++) hwio[(p * ig + ii) * o + oi] = data[(oi * ig + ii) * k * k + p] as number;
      }
    }
    this.weight.assign(tf.tensor4d(hwio, this.weight.shape));
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    if (input.kind !== 'volume') throw new Error(`${this.name}: ONNX input must be a volume`);
    if (input.channels !== this.inChannels) throw new Error(`${this.name}: ONNX input has ${input.channels} channels`);
    const k = this.kernel;
    const p = this.padding;
    let out = graph.addConv(
      input.name,
      this.torchWeight(),
      [this.outChannels, this.inChannels / this.groups, k, k],
      this.bias ? (this.bias.dataSync() as Float32Array) : undefined,
      {
        kernel_shape: attr.ints([k, k]),
        strides: attr.ints([this.stride, this.stride]),
        pads: attr.ints([p, p, p, p]),
        dilations: attr.ints([this.effectiveDilation(), this.effectiveDilation()]),
        group: attr.i(this.groups),
      },
    );
    if (this.activation === 'relu') out = graph.addNode('Relu', [out]);
    return {
      kind: 'volume',
      name: out,
      depth: input.depth,
      channels: this.outChannels,
      height: this.outSize(input.height),
      width: this.outSize(input.width),
    };
  }
}

/** tfjs filter `[kh, kw, i, o]` to PyTorch / ONNX `[o, i, kh, kw]`. */
export function hwioToOihw(data: ArrayLike<number>, shape: readonly number[]): Float32Array {
  const [kh, kw, i, o] = shape as [number, number, number, number];
  const out = new Float32Array(kh * kw * i * o);
  for (let oi = 0; oi < o; oi++) {
    for (let ii = 0; ii < i; ii++) {
      for (let p = 0; p < kh * kw; p++) out[(oi * i + ii) * kh * kw + p] = data[(p * i + ii) * o + oi] as number;
    }
  }
  return out;
}

/**
 * A stride-1 convolution with dilation d > 1 (PyTorch's `Conv2d(..., padding=p, dilation=d)` on
 * `[N, H, W, C]`), `act(conv(x, filter) + bias)`, with its gradients written out, since tfjs' own
 * conv2d gradient refuses dilations: every one of the three is a convolution the backends run
 * (covsev's wasm kernels included, on either convolution engine), so it is exact and no slower
 * than a forward pass:
 *
 * - forward: `tf.fused.conv2d` with `dilations: d`;
 * - dx: the dilated convolution of dz (dy through the activation) by the filter rotated 180 degrees
 *   with its channel axes swapped, padded by d(k-1) - p (where that is negative, unpadded and
 *   cropped instead);
 * - dW: `dW[i, j, ci, co] = sum over n, oh, ow of xPadded[n, oh + i d, ow + j d, ci] dz[n, oh, ow, co]`,
 *   a convolution of x as `[Ci, H, W, N]` by dz as `[OH, OW, N, Co]` with stride d (output k x k);
 * - dbias: the sum of dz.
 */
export function dilatedConv2d(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  bias: tf.Tensor1D | undefined,
  dilation: number,
  padding: number,
  activation: 'linear' | 'relu' = 'linear',
): tf.Tensor4D {
  const [k, kw] = filter.shape;
  if (k !== kw) throw new Error(`dilatedConv2d: the filter must be square, got [${filter.shape}]`);
  if (!Number.isInteger(dilation) || dilation < 1)
    throw new Error(`dilatedConv2d: dilation must be a positive integer, got ${dilation}`);
  if (!Number.isInteger(padding) || padding < 0) throw new Error(`dilatedConv2d: padding must be >= 0, got ${padding}`);
  const reach = dilation * (k - 1);
  const pad: [[number, number], [number, number], [number, number], [number, number]] = [
    [0, 0],
    [padding, padding],
    [padding, padding],
    [0, 0],
  ];
  const forward = (input: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D | undefined) =>
    tf.fused.conv2d({ x: input, filter: w, strides: 1, pad, dilations: dilation, bias: b, activation });
  const gradients = (dy: tf.Tensor4D, input: tf.Tensor4D, w: tf.Tensor4D, y: tf.Tensor4D): tf.Tensor[] => {
    const dz: tf.Tensor4D = activation === 'relu' ? tf.mul(dy, tf.step(y)) : dy;
    const [n, h, wd] = input.shape;
    // dx: the transposed convolution, itself a dilated convolution (stride 1).
    const flipped = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    const q = reach - padding;
    let dx: tf.Tensor4D = tf.conv2d(
      dz,
      flipped,
      1,
      q >= 0
        ? [
            [0, 0],
            [q, q],
            [q, q],
            [0, 0],
          ]
        : 'valid',
      'NHWC',
      dilation,
    );
    if (q < 0) dx = tf.slice(dx, [0, -q, -q, 0], [n, h, wd, dx.shape[3]]);
    // dW: x as [Ci, H, W, N] by dz as [OH, OW, N, Co], stride d: [Ci, k, k, Co].
    const xt = tf.transpose(input, [3, 1, 2, 0]) as tf.Tensor4D;
    const dzt = tf.transpose(dz, [1, 2, 0, 3]) as tf.Tensor4D;
    let dw = tf.conv2d(xt, dzt, dilation, pad);
    if (dw.shape[1] !== k || dw.shape[2] !== k) dw = tf.slice(dw, [0, 0, 0, 0], [dw.shape[0], k, k, dw.shape[3]]);
    const grads: tf.Tensor[] = [dx, tf.transpose(dw, [1, 2, 0, 3])];
    if (bias) grads.push(tf.sum(dz, [0, 1, 2]));
    return grads;
  };
  if (bias) {
    const f = tf.customGrad((...args: unknown[]) => {
      const [input, w, b, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.GradSaveFunc];
      const y = forward(input, w, b);
      save([input, w, y]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
          gradients(dy as tf.Tensor4D, saved[0] as tf.Tensor4D, saved[1] as tf.Tensor4D, saved[2] as tf.Tensor4D),
      };
    });
    return f(x, filter, bias) as tf.Tensor4D;
  }
  const f = tf.customGrad((...args: unknown[]) => {
    const [input, w, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    const y = forward(input, w, undefined);
    save([input, w, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        gradients(dy as tf.Tensor4D, saved[0] as tf.Tensor4D, saved[1] as tf.Tensor4D, saved[2] as tf.Tensor4D),
    };
  });
  return f(x, filter) as tf.Tensor4D;
}
