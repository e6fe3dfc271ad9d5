import * as tf from '@tensorflow/tfjs';
import type { ForwardContext, Module, NamedVariable } from '../module.js';
import { attr, type OnnxGraphBuilder, type OnnxValue } from '../onnx/graph.js';
import { type Activation, mapSlices, windowOutputSize } from './volume.js';

export interface MaxPool1kkOptions {
  /** k: window 1 x k x k; default 3. */
  readonly kernel?: number;
  /** s: stride (1, s, s); default 2. */
  readonly stride?: number;
  /** p: padding (0, p, p), never picked (padding counts as -inf); default 1. */
  readonly padding?: number;
}

/**
 * Max pooling within each slice (the ResNeSt stem's pool), as a 2D max pool over the B*D slices.
 *
 * PyTorch equivalent: `nn.MaxPool3d((1, k, k), stride=(1, s, s), padding=(0, p, p))`, by default
 * `nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))`; output size floor((H + 2p - k) / s) + 1.
 * ONNX: `MaxPool` on `[B*D, C, H, W]`.
 */
export class MaxPool1kk implements Module {
  readonly name: string;
  readonly kernel: number;
  readonly stride: number;
  readonly padding: number;

  constructor(options: MaxPool1kkOptions = {}) {
    this.kernel = options.kernel ?? 3;
    this.stride = options.stride ?? 2;
    this.padding = options.padding ?? 1;
    if (this.padding * 2 > this.kernel)
      throw new Error(`MaxPool1kk: padding ${this.padding} exceeds half the kernel ${this.kernel}`);
    this.name = `MaxPool1kk(k${this.kernel}, s${this.stride}, p${this.padding})`;
  }

  parameters(): NamedVariable[] {
    return [];
  }

  buffers(): NamedVariable[] {
    return [];
  }

  /** Output height or width for an input one. */
  outSize(size: number): number {
    return windowOutputSize(this.name, size, this.kernel, this.stride, this.padding);
  }

  apply(x: Activation, _ctx: ForwardContext): Activation {
    return mapSlices(x, this.name, (t) => {
      this.outSize(t.shape[1]);
      this.outSize(t.shape[2]);
      return this.pool(t);
    });
  }

  /**
   * tf.maxPool with a gradient that works around tfjs-backend-wasm 4.22's MaxPoolGrad, which
   * misplaces the gradient of a window that overlaps the padding when its maximum is negative:
   * where a probe finds that ({@link maxPoolGradHandlesNegatives}), the kernel gets inputs shifted
   * above zero (same argmax positions).
   */
  private pool(x: tf.Tensor4D): tf.Tensor4D {
    const attrs = { filterSize: [this.kernel, this.kernel], strides: [this.stride, this.stride], pad: this.padding };
    const pool = tf.customGrad((...args: unknown[]) => {
      const [input, save] = args as [tf.Tensor4D, tf.GradSaveFunc];
      const y = tf.maxPool(input, [this.kernel, this.kernel], [this.stride, this.stride], this.padding);
      save([input, y]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => maxPoolGrad(dy, saved[0] as tf.Tensor, saved[1] as tf.Tensor, attrs),
      };
    });
    return pool(x) as tf.Tensor4D;
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    if (input.kind !== 'volume') throw new Error(`${this.name}: ONNX input must be a volume`);
    const p = this.padding;
    const out = graph.addNode('MaxPool', [input.name], {
      kernel_shape: attr.ints([this.kernel, this.kernel]),
      strides: attr.ints([this.stride, this.stride]),
      pads: attr.ints([p, p, p, p]),
    });
    return { ...input, name: out, height: this.outSize(input.height), width: this.outSize(input.width) };
  }
}

type PoolAttrs = { filterSize: number[]; strides: number[]; pad: number };

function maxPoolGrad(dy: tf.Tensor, input: tf.Tensor, output: tf.Tensor, attrs: PoolAttrs): tf.Tensor {
  const kernel = (i: tf.Tensor, o: tf.Tensor) =>
    tf.engine().runKernel(tf.MaxPoolGrad, { dy, input: i, output: o }, attrs as never) as tf.Tensor;
  if (attrs.pad === 0 || maxPoolGradHandlesNegatives()) return kernel(input, output);
  // Shift every value above zero: the argmax positions stay, and padding can no longer win.
  return tf.tidy(() => {
    const shift = tf.sub(1, tf.min(input));
    return kernel(tf.add(input, shift), tf.add(output, shift));
  });
}

const handlesNegatives = new Map<string, boolean>();

/**
 * Whether the active backend's MaxPoolGrad finds a negative maximum in a window that overlaps the
 * padding (tfjs-backend-wasm 4.22 does not: it sends the gradient to the window's first position,
 * as if the padding held zeros); probed once per backend.
 */
export function maxPoolGradHandlesNegatives(): boolean {
  const backend = tf.getBackend();
  let ok = handlesNegatives.get(backend);
  if (ok === undefined) {
    ok = tf.tidy(() => {
      const x = tf.tensor4d([-4, -3, -2, -1], [1, 2, 2, 1]);
      const y = tf.maxPool(x, 3, 2, 1);
      const attrs = { filterSize: [3, 3], strides: [2, 2], pad: 1 };
      const dx = tf.engine().runKernel(tf.MaxPoolGrad, { dy: tf.onesLike(y), input: x, output: y }, attrs as never) as tf.Tensor;
      return Array.from(dx.dataSync()).join() === '0,0,0,1';
    });
    handlesNegatives.set(backend, ok);
  }
  return ok;
}
