import * as tf from '@tensorflow/tfjs';
import type { ForwardContext, Module, NamedVariable } from '../module.js';
import type { OnnxGraphBuilder, OnnxValue } from '../onnx/graph.js';
import { AvgPool3d } from './avgPool3d.js';
import { type Activation, isVolume5, mapSlices, tensorOf } from './volume.js';

/**
 * Global average pool that keeps the spatial axes: `[N, H, W, C]` to `[N, 1, 1, C]` (per slice of
 * a Volume5), for decoders that go on convolving the pooled map (DeepLabV3's ASPP pooling branch).
 *
 * PyTorch equivalent: `nn.AdaptiveAvgPool2d(1)`. ONNX: `GlobalAveragePool`.
 * (GlobalAvgPool3d is the classifier's pool to a `[B, C]` matrix.)
 */
export class GlobalAvgPool2d implements Module {
  readonly name = 'GlobalAvgPool2d';

  parameters(): NamedVariable[] {
    return [];
  }

  buffers(): NamedVariable[] {
    return [];
  }

  apply(x: Activation, _ctx: ForwardContext): Activation {
    return mapSlices(x, this.name, (t) => tf.mean(t, [1, 2], true) as tf.Tensor4D);
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    if (input.kind !== 'volume') throw new Error(`${this.name}: ONNX input must be a volume`);
    return { ...input, name: graph.addNode('GlobalAveragePool', [input.name]), height: 1, width: 1 };
  }
}

export interface AvgPool2dOptions {
  /** k: a k x k window. */
  readonly kernel: number;
  /** s: default the kernel, like PyTorch. */
  readonly stride?: number;
  /** p: zero padding on every side, counted in the divisor; default 0. */
  readonly padding?: number;
}

/**
 * 2D average pooling of `[N, H, W, C]` batches (and Volume5 slices), padding counted in the
 * divisor. It is {@link AvgPool3d} with a 1 x k x k window (same forward, gradient and ONNX).
 *
 * PyTorch equivalent: `nn.AvgPool2d(k, s, p)` with its defaults `count_include_pad=True`,
 * `ceil_mode=False` (DenseNet's transitions: `AvgPool2d(2, 2)`). ONNX: `AveragePool`
 * (`count_include_pad=1`).
 */
export class AvgPool2d implements Module {
  readonly name: string;
  readonly kernel: number;
  readonly stride: number;
  readonly padding: number;
  private readonly pool: AvgPool3d;

  constructor(options: AvgPool2dOptions) {
    this.kernel = options.kernel;
    this.stride = options.stride ?? options.kernel;
    this.padding = options.padding ?? 0;
    for (const [what, v, min] of [
      ['kernel', this.kernel, 1],
      ['stride', this.stride, 1],
      ['padding', this.padding, 0],
    ] as const) {
      if (!Number.isInteger(v) || v < min) throw new RangeError(`AvgPool2d: ${what} must be an integer >= ${min}, got ${v}`);
    }
    if (this.padding * 2 > this.kernel)
      throw new RangeError(`AvgPool2d: padding ${this.padding} exceeds half the kernel ${this.kernel}`);
    this.pool = new AvgPool3d({
      kernel: [1, this.kernel, this.kernel],
      stride: [1, this.stride, this.stride],
      padding: [0, this.padding, this.padding],
    });
    this.name = `AvgPool2d(k${this.kernel}, s${this.stride}, p${this.padding})`;
  }

  parameters(): NamedVariable[] {
    return [];
  }

  buffers(): NamedVariable[] {
    return [];
  }

  /** Output height or width for an input one (PyTorch's floor rule). */
  outSize(size: number): number {
    const out = Math.floor((size + 2 * this.padding - this.kernel) / this.stride) + 1;
    if (out < 1) throw new Error(`${this.name}: input size ${size} is too small`);
    return out;
  }

  apply(x: Activation, ctx: ForwardContext): Activation {
    const y = this.pool.apply(x, ctx);
    return isVolume5(x) ? y : tensorOf(y);
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    return this.pool.toOnnx(graph, input);
  }
}
