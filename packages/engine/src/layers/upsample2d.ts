import * as tf from '@tensorflow/tfjs';
import type { ForwardContext, Module, NamedVariable } from '../module.js';
import { attr, type OnnxGraphBuilder, type OnnxValue } from '../onnx/graph.js';
import { type Activation, mapSlices } from './volume.js';

export type UpsampleMode = 'nearest' | 'bilinear';

/**
 * For output index o of an axis resized from `inSize` to `outSize`, the input indices it reads and
 * their weights, as PyTorch's `F.interpolate` computes them:
 *
 * - nearest (PyTorch's legacy 'nearest', ONNX `asymmetric` + `floor`): src = min(floor(o * in / out), in - 1);
 * - bilinear, align_corners=False (half-pixel centres): src = max((o + 0.5) * in / out - 0.5, 0);
 * - bilinear, align_corners=True: src = o * (in - 1) / (out - 1) (0 when out is 1);
 *
 * then lo = floor(src), hi = min(lo + 1, in - 1), weights 1 - (src - lo) and src - lo. tfjs'
 * `resizeBilinear(halfPixelCenters)` / `resizeNearestNeighbor` compute the same forward.
 */
export function interpolationTaps(
  inSize: number,
  outSize: number,
  mode: UpsampleMode,
  alignCorners: boolean,
): { lo: Int32Array; hi: Int32Array; weightHi: Float64Array } {
  const lo = new Int32Array(outSize);
  const hi = new Int32Array(outSize);
  const weightHi = new Float64Array(outSize);
  for (let o = 0; o < outSize; o++) {
    if (mode === 'nearest') {
      const src = Math.min(Math.floor(o * (inSize / outSize)), inSize - 1);
      lo[o] = src;
      hi[o] = src;
      continue;
    }
    const src = alignCorners
      ? outSize > 1
        ? (o * (inSize - 1)) / (outSize - 1)
        : 0
      : Math.max((o + 0.5) * (inSize / outSize) - 0.5, 0);
    const l = Math.min(Math.floor(src), inSize - 1);
    lo[o] = l;
    hi[o] = Math.min(l + 1, inSize - 1);
    weightHi[o] = src - l;
  }
  return { lo, hi, weightHi };
}

function checkSize(who: string, size: readonly number[]): [number, number] {
  if (size.length !== 2 || size.some((s) => !Number.isInteger(s) || s < 1))
    throw new RangeError(`${who}: size must be [height, width] of positive integers, got [${size}]`);
  return [size[0] as number, size[1] as number];
}

/**
 * Resizes a `[N, H, W, C]` batch to `size` = [H', W'] with PyTorch's `F.interpolate(x, size, mode,
 * align_corners)` semantics (see {@link interpolationTaps}); for decoders that upsample to another
 * tensor's size. `alignCorners` only with 'bilinear' (PyTorch refuses it for 'nearest').
 *
 * Forward: tfjs' resize kernels. Gradient: written here, because tfjs 4.22's ResizeBilinearGrad
 * (cpu and wasm) ignores half-pixel centres and its cpu kernel swaps H and W: an integer nearest
 * upscale sums each f x f block (an average pool times f^2); any other resize is separable,
 * dx = A_h^T dy A_w with the interpolation matrices A, computed on host data
 * ({@link resizeAdjoint}: dy is read back from the backend, dx uploaded).
 */
export function upsample2d(
  x: tf.Tensor4D,
  size: readonly [number, number] | readonly number[],
  mode: UpsampleMode,
  alignCorners = false,
): tf.Tensor4D {
  const [oh, ow] = checkSize('upsample2d', size);
  if (mode !== 'nearest' && mode !== 'bilinear')
    throw new RangeError(`upsample2d: mode must be 'nearest' or 'bilinear', got '${mode}'`);
  if (alignCorners && mode === 'nearest') throw new RangeError("upsample2d: alignCorners needs mode 'bilinear' (as in PyTorch)");
  if (x.rank !== 4) throw new RangeError(`upsample2d: x must be [N, H, W, C], got shape [${x.shape}]`);
  const [, h, w] = x.shape;
  const resize = tf.customGrad((...args: unknown[]) => {
    const [input, save] = args as [tf.Tensor4D, tf.GradSaveFunc];
    save([]);
    const value =
      mode === 'nearest'
        ? tf.image.resizeNearestNeighbor(input, [oh, ow], false, false)
        : tf.image.resizeBilinear(input, [oh, ow], alignCorners, !alignCorners);
    return { value, gradFunc: (dy: tf.Tensor) => resizeGradient(dy as tf.Tensor4D, h, w, mode, alignCorners) };
  });
  return resize(x) as tf.Tensor4D;
}

/** dx `[N, h, w, C]` of the resize to dy's size. */
function resizeGradient(dy: tf.Tensor4D, h: number, w: number, mode: UpsampleMode, alignCorners: boolean): tf.Tensor4D {
  const [n, oh, ow, c] = dy.shape;
  if (mode === 'nearest' && oh % h === 0 && ow % w === 0) {
    const fh = oh / h;
    const fw = ow / w;
    if (fh === 1 && fw === 1) return dy.clone();
    return tf.mul(tf.avgPool(dy, [fh, fw], [fh, fw], 'valid'), fh * fw);
  }
  return tf.tensor4d(resizeAdjoint(dy.dataSync() as Float32Array, [n, oh, ow, c], h, w, mode, alignCorners), [n, h, w, c]);
}

/**
 * dx = A_h^T dy A_w on host data, one axis at a time: every output row (then column) adds its
 * weighted values into the one or two input rows (columns) it was interpolated from. Linear in
 * the size of dy; the matrix products it replaces were two orders of magnitude slower on wasm.
 */
export function resizeAdjoint(
  dy: Float32Array,
  dyShape: readonly [number, number, number, number],
  h: number,
  w: number,
  mode: UpsampleMode,
  alignCorners: boolean,
): Float32Array {
  const [n, oh, ow, c] = dyShape;
  const rowsTaps = interpolationTaps(h, oh, mode, alignCorners);
  const colsTaps = interpolationTaps(w, ow, mode, alignCorners);
  // Rows: [N, OH, OW*C] -> [N, h, OW*C]; then columns: [N*h, OW, C] -> [N*h, w, C].
  const rows = adjointAlongAxis(dy, n, oh, h, ow * c, rowsTaps);
  return adjointAlongAxis(rows, n * h, ow, w, c, colsTaps);
}

export interface Upsample2dOptions {
  /** An integer factor for both axes (H' = s H); give this or `size`. */
  readonly scale?: number;
  /** A fixed output size [H', W']. */
  readonly size?: readonly [number, number];
  readonly mode: UpsampleMode;
  /** PyTorch's align_corners; only with 'bilinear'; default false. */
  readonly alignCorners?: boolean;
}

/**
 * 2D resizing of `[N, H, W, C]` batches (and Volume5 slices) with PyTorch's semantics
 * ({@link upsample2d}).
 *
 * PyTorch equivalent: `nn.Upsample(scale_factor=s | size=(h, w), mode, align_corners)`
 * (`nn.UpsamplingBilinear2d(scale_factor=s)` is bilinear with align_corners=True).
 * ONNX: `Resize` (opset 17) with `scales` [1, 1, s, s] or `sizes` [N, C, h, w] (N read with
 * `Shape`), `coordinate_transformation_mode` `half_pixel` / `align_corners` for bilinear
 * (`mode: linear`), `asymmetric` + `nearest_mode: floor` for nearest.
 */
export class Upsample2d implements Module {
  readonly name: string;
  readonly scale: number | undefined;
  readonly size: readonly [number, number] | undefined;
  readonly mode: UpsampleMode;
  readonly alignCorners: boolean;

  constructor(options: Upsample2dOptions) {
    const { scale, size, mode } = options;
    this.alignCorners = options.alignCorners ?? false;
    if ((scale === undefined) === (size === undefined)) throw new RangeError('Upsample2d: give either scale or size');
    if (scale !== undefined && (!Number.isInteger(scale) || scale < 1))
      throw new RangeError(`Upsample2d: scale must be a positive integer, got ${scale}`);
    if (mode !== 'nearest' && mode !== 'bilinear')
      throw new RangeError(`Upsample2d: mode must be 'nearest' or 'bilinear', got '${mode}'`);
    if (this.alignCorners && mode === 'nearest')
      throw new RangeError("Upsample2d: alignCorners needs mode 'bilinear' (as in PyTorch)");
    this.scale = scale;
    this.size = size === undefined ? undefined : checkSize('Upsample2d', size);
    this.mode = mode;
    const what = scale !== undefined ? `x${scale}` : `to ${size?.join('x')}`;
    this.name = `Upsample2d(${what}, ${mode}${this.alignCorners ? ', align_corners' : ''})`;
  }

  parameters(): NamedVariable[] {
    return [];
  }

  buffers(): NamedVariable[] {
    return [];
  }

  /** Output [H', W'] for an input [H, W]. */
  outSize(h: number, w: number): [number, number] {
    return this.size !== undefined ? [this.size[0], this.size[1]] : [h * (this.scale as number), w * (this.scale as number)];
  }

  apply(x: Activation, _ctx: ForwardContext): Activation {
    return mapSlices(x, this.name, (t) => upsample2d(t, this.outSize(t.shape[1], t.shape[2]), this.mode, this.alignCorners));
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    if (input.kind !== 'volume') throw new Error(`${this.name}: ONNX input must be a volume`);
    const [height, width] = this.outSize(input.height, input.width);
    const name =
      this.scale !== undefined
        ? resizeOnnx(graph, input.name, { scale: this.scale }, this.mode, this.alignCorners)
        : resizeOnnx(graph, input.name, { size: [height, width] }, this.mode, this.alignCorners);
    return { ...input, name, height, width };
  }
}

/**
 * ONNX `Resize` of an NCHW value with PyTorch's semantics (see {@link Upsample2d}); by an integer
 * `scale` or to a `size` [H', W'] (the batch and channels are read from the input with `Shape`).
 */
export function resizeOnnx(
  graph: OnnxGraphBuilder,
  value: string,
  target: { readonly scale: number } | { readonly size: readonly [number, number] },
  mode: UpsampleMode,
  alignCorners: boolean,
): string {
  const attributes = {
    mode: attr.s(mode === 'nearest' ? 'nearest' : 'linear'),
    coordinate_transformation_mode: attr.s(mode === 'nearest' ? 'asymmetric' : alignCorners ? 'align_corners' : 'half_pixel'),
    ...(mode === 'nearest' ? { nearest_mode: attr.s('floor') } : {}),
  };
  if ('scale' in target) {
    const s = target.scale;
    const scales = graph.addInitializer('resize_scales', Float32Array.from([1, 1, s, s]), [4]);
    return graph.addNode('Resize', [value, '', scales], attributes);
  }
  const batchAndChannels = graph.addNode('Slice', [graph.addNode('Shape', [value]), graph.int64([0]), graph.int64([2])]);
  const sizes = graph.addNode('Concat', [batchAndChannels, graph.int64([...target.size])], { axis: attr.i(0) });
  return graph.addNode('Resize', [value, '', '', sizes], attributes);
}

/**
 * The adjoint of a 1D two-tap interpolation along the middle axis of `[outer, outLen, inner]`
 * data: each output position o spreads its value onto input positions `taps.lo[o]` and
 * `taps.hi[o]` with weights `1 - weightHi[o]` and `weightHi[o]`, giving `[outer, inLen, inner]`.
 */
function adjointAlongAxis(
  src: ArrayLike<number>,
  outer: number,
  outLen: number,
  inLen: number,
  inner: number,
  taps: ReturnType<typeof interpolationTaps>,
): Float32Array {
  const out = new Float32Array(outer * inLen * inner);
  for (let b = 0; b < outer; b++) {
    for (let o = 0; o < outLen; o++) {
      const from = (b * outLen + o) * inner;
      const wHi = taps.weightHi[o] as number;
      const wLo = 1 - wHi;
      const lo = (b * inLen + (taps.lo[o] as number)) * inner;
      const hi = (b * inLen + (taps.hi[o] as number)) * inner;
      for (let k = 0; k < inner; k++) {
        const v = src[from + k] as number;
        out[lo + k] = (out[lo + k] as number) + wLo * v;
        out[hi + k] = (out[hi + k] as number) + wHi * v;
      }
    }
  }
  return out;
}
