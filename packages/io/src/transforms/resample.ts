import { type Affine, makeVolume, type Shape3, type Spacing3, type Volume, type VoxelArray } from '../volume.js';

/**
 * `linear` is trilinear with half-pixel centres, the same grid as PyTorch's
 * `F.interpolate(mode='trilinear', align_corners=False)` (and OpenCV's INTER_LINEAR): for images.
 * `nearest` is PyTorch's `mode='nearest'` (source index = floor(dst * in / out)): for masks.
 */
export type ResampleMode = 'linear' | 'nearest';

export interface ResampleOptions {
  readonly mode?: ResampleMode;
  /**
   * `float32` (default for linear) keeps fractions; `same` rounds and clips to the input's
   * storage type (default for nearest, where values are copied, never mixed).
   */
  readonly output?: 'float32' | 'same';
}

/**
 * The taps of one axis: output index d reads source indices i0[d] and i1[d] with weights
 * 1 - w1[d] and w1[d] (nearest: i0 = i1, w1 = 0).
 */
export interface AxisTaps {
  readonly i0: Int32Array;
  readonly i1: Int32Array;
  readonly w1: Float32Array;
}

/** The taps that resample an axis of `inSize` to `outSize`. */
export function axisTaps(inSize: number, outSize: number, mode: ResampleMode): AxisTaps {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const w1 = new Float32Array(outSize);
  const scale = inSize / outSize;
  for (let d = 0; d < outSize; d++) {
    if (mode === 'nearest') {
      const s = Math.min(Math.floor(d * scale), inSize - 1);
      i0[d] = s;
      i1[d] = s;
      continue;
    }
    let src = (d + 0.5) * scale - 0.5;
    if (src < 0) src = 0;
    const lo = Math.min(Math.floor(src), inSize - 1);
    i0[d] = lo;
    i1[d] = lo < inSize - 1 ? lo + 1 : lo;
    w1[d] = src - lo;
  }
  return { i0, i1, w1 };
}

/**
 * The source indices an axis's taps actually read (sorted): with linear downsampling many source
 * slices carry no weight at all, so a reader can skip decoding them.
 */
export function tapSources(taps: AxisTaps): number[] {
  const used = new Set<number>();
  for (let d = 0; d < taps.i0.length; d++) {
    used.add(taps.i0[d] as number);
    if ((taps.w1[d] as number) !== 0) used.add(taps.i1[d] as number);
  }
  return [...used].sort((p, q) => p - q);
}

/**
 * Interpolates along one axis of a [a, n, b] array (n the axis, b the contiguous run after it)
 * into [a, m, b] with the given taps (m = taps length). One pass of the separable resampling.
 */
export function resampleAxis(src: ArrayLike<number>, a: number, n: number, b: number, taps: AxisTaps): Float32Array {
  const m = taps.i0.length;
  const out = new Float32Array(a * m * b);
  const { i0, i1, w1 } = taps;
  for (let outer = 0; outer < a; outer++) {
    const srcBase = outer * n * b;
    const dstBase = outer * m * b;
    for (let d = 0; d < m; d++) {
      const p0 = srcBase + (i0[d] as number) * b;
      const p1 = srcBase + (i1[d] as number) * b;
      const w = w1[d] as number;
      const q = dstBase + d * b;
      if (w === 0) {
        for (let k = 0; k < b; k++) out[q + k] = src[p0 + k] as number;
      } else {
        const v = 1 - w;
        for (let k = 0; k < b; k++) out[q + k] = v * (src[p0 + k] as number) + w * (src[p1 + k] as number);
      }
    }
  }
  return out;
}

/** Rounds and clips float values into a new array of `source`'s storage type. */
export function castLike(source: VoxelArray, values: Float32Array): VoxelArray {
  if (source instanceof Float32Array) return values;
  if (source instanceof Float64Array) return Float64Array.from(values);
  const Ctor = source.constructor as { new (n: number): VoxelArray };
  const out = new Ctor(values.length);
  // Typed integer arrays wrap on overflow: clip first, then round to nearest.
  const [min, max] =
    source instanceof Uint8Array
      ? [0, 255]
      : source instanceof Int16Array
        ? [-32768, 32767]
        : source instanceof Uint16Array
          ? [0, 65535]
          : [-2147483648, 2147483647];
  for (let i = 0; i < values.length; i++) {
    const v = Math.round(values[i] as number);
    out[i] = v < min ? min : v > max ? max : v;
  }
  return out;
}

/** The plan of a separable resampling: the taps of each axis and the order of the passes. */
export interface ResamplePlan {
  readonly taps: readonly [AxisTaps, AxisTaps, AxisTaps];
  /** Axes in pass order: the one that shrinks most first, so the intermediate arrays stay small. */
  readonly order: readonly number[];
}

export function planResample(from: Shape3, to: Shape3, mode: ResampleMode): ResamplePlan {
  const taps = [0, 1, 2].map((a) => axisTaps(from[a] as number, to[a] as number, mode)) as unknown as [
    AxisTaps,
    AxisTaps,
    AxisTaps,
  ];
  const order = [0, 1, 2]
    .filter((a) => from[a] !== to[a])
    .sort((p, q) => (to[p] as number) / (from[p] as number) - (to[q] as number) / (from[q] as number));
  return { taps, order };
}

/**
 * Runs a plan over C-order data of shape `from` (whose axis sizes must match the taps' sources).
 * Returns Float32 values, or `data` itself when the plan has no passes.
 */
export function runResample(data: ArrayLike<number>, from: Shape3, plan: ResamplePlan): ArrayLike<number> {
  const current = [from[0], from[1], from[2]];
  let out = data;
  for (const axis of plan.order) {
    const taps = plan.taps[axis] as AxisTaps;
    const n = current[axis] as number;
    const a = axis === 0 ? 1 : axis === 1 ? (current[0] as number) : (current[0] as number) * (current[1] as number);
    const b = axis === 0 ? (current[1] as number) * (current[2] as number) : axis === 1 ? (current[2] as number) : 1;
    out = resampleAxis(out, a, n, b, taps);
    current[axis] = taps.i0.length;
  }
  return out;
}

/**
 * Resamples a volume to `shape` ([slices, rows, cols]). Separable: one 1D pass per axis, the
 * axis that shrinks most first. Spacing and affine are updated so each output voxel keeps its
 * place in the world (the grid spans the same extent).
 */
export function resampleVolume(volume: Volume, shape: Shape3, options: ResampleOptions = {}): Volume {
  const mode = options.mode ?? 'linear';
  const output = options.output ?? (mode === 'nearest' ? 'same' : 'float32');
  checkShape(shape);
  const data = runResample(volume.data, volume.shape, planResample(volume.shape, shape, mode));
  let out: VoxelArray;
  if (data === volume.data) out = output === 'same' ? volume.data.slice() : Float32Array.from(volume.data);
  else out = output === 'same' ? castLike(volume.data, data as Float32Array) : (data as Float32Array);
  return makeVolume({
    data: out,
    shape,
    ...resampledGeometry(volume, shape),
    intensity: volume.intensity,
    ...(volume.source === undefined ? {} : { source: volume.source }),
  });
}

/** The grid of a volume that is read slice by slice: its full shape and geometry. */
export interface SliceGrid {
  readonly shape: Shape3;
  readonly spacing: Spacing3;
  readonly affine: Affine;
}

/**
 * Resamples a volume that is read on demand, slice by slice: `readSlices(indices)` is asked only
 * for the (sorted) source slices the slice-axis interpolation reads, and must return them as a
 * volume of shape [indices.length, rows, cols]. Going from 300 slices to 64, linear taps touch
 * at most 128, so the rest are never decoded and the full volume is never held in memory.
 * The result equals `resampleVolume` of the whole volume: same values, spacing and affine (from
 * `grid`); intensity and source come from what `readSlices` returned.
 */
export async function resampleSlices(
  grid: SliceGrid,
  readSlices: (indices: readonly number[]) => Promise<Volume>,
  shape: Shape3,
  options: ResampleOptions = {},
): Promise<Volume> {
  const mode = options.mode ?? 'linear';
  const output = options.output ?? (mode === 'nearest' ? 'same' : 'float32');
  checkShape(shape);
  const [, rows, cols] = grid.shape;
  const plan = planResample(grid.shape, shape, mode);
  const zTaps = plan.taps[0];
  const sources = tapSources(zTaps);
  const subset = await readSlices(sources);
  if (subset.shape[0] !== sources.length || subset.shape[1] !== rows || subset.shape[2] !== cols) {
    throw new RangeError(
      `readSlices returned shape [${subset.shape.join(', ')}] for ${sources.length} slices of ${rows}x${cols}`,
    );
  }
  // Point the slice taps at positions in the subset (an i1 of weight 0 is never read).
  const position = new Map(sources.map((z, i) => [z, i]));
  const local: AxisTaps = {
    i0: zTaps.i0.map((z) => position.get(z) as number),
    i1: zTaps.i1.map((z, d) => position.get(z) ?? (position.get(zTaps.i0[d] as number) as number)),
    w1: zTaps.w1,
  };
  const resampled = runResample(subset.data, [sources.length, rows, cols], {
    taps: [local, plan.taps[1], plan.taps[2]],
    order: plan.order,
  });
  const values = resampled === subset.data ? Float32Array.from(subset.data) : (resampled as Float32Array);
  const data = output === 'same' ? castLike(subset.data, values) : values;
  return makeVolume({
    data,
    shape,
    ...resampledGeometry(grid, shape),
    intensity: subset.intensity,
    ...(subset.source === undefined ? {} : { source: subset.source }),
  });
}

function checkShape(shape: Shape3): void {
  if (shape.some((n) => !Number.isInteger(n) || n <= 0))
    throw new RangeError(`target shape must be positive integers, got [${shape.join(', ')}]`);
}

/** Spacing and affine of `volume`'s grid resampled to `shape` (same world extent). */
export function resampledGeometry(
  volume: Pick<Volume, 'shape' | 'spacing' | 'affine'>,
  shape: Shape3,
): { spacing: Spacing3; affine: number[] } {
  const spacing = [0, 1, 2].map((i) => ((volume.spacing[i] as number) * (volume.shape[i] as number)) / (shape[i] as number));
  return { spacing: spacing as unknown as Spacing3, affine: rescaleAffine(volume, shape) };
}

/**
 * The affine of the resampled grid: voxel centres at half-pixel positions, so output voxel d
 * sits at input coordinate (d + 0.5) * in / out - 0.5 along each axis.
 */
function rescaleAffine(volume: Pick<Volume, 'shape' | 'affine'>, shape: Shape3): number[] {
  const A = volume.affine;
  // Columns of A act on (col, row, slice); factors per index axis.
  const f = [volume.shape[2] / shape[2], volume.shape[1] / shape[1], volume.shape[0] / shape[0]];
  const out = [...A];
  for (let r = 0; r < 3; r++) {
    let shift = 0;
    for (let c = 0; c < 3; c++) {
      const a = A[r * 4 + c] as number;
      out[r * 4 + c] = a * (f[c] as number);
      shift += a * (0.5 * (f[c] as number) - 0.5);
    }
    out[r * 4 + 3] = (A[r * 4 + 3] as number) + shift;
  }
  return out;
}
