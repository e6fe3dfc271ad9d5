import { makeVolume, type Volume, type VoxelArray } from '../volume.js';

/**
 * The in-plane affine map from an output pixel (x = col, y = row) to the source pixel it reads:
 * `srcX = m[0] * x + m[1] * y + m[2]`, `srcY = m[3] * x + m[4] * y + m[5]`.
 */
export type PlaneMatrix = readonly [number, number, number, number, number, number];

export interface WarpOptions {
  readonly rows: number;
  readonly cols: number;
  /** `linear` for images (bilinear), `nearest` for masks. */
  readonly mode: 'linear' | 'nearest';
  /**
   * Outside the source: `fill` writes `fillValue` (rotation), `clamp` repeats the nearest pixel
   * of the box `[x0, x1] x [y0, y1]` (crop-and-resize reads only inside its crop).
   */
  readonly border: { kind: 'fill'; value: number } | { kind: 'clamp'; x0: number; x1: number; y0: number; y1: number };
}

/**
 * Applies one in-plane affine map to every slice (the same map for all slices: what a 2D
 * augmentation of a 3D scan needs). Output keeps the input's storage type; linear results are
 * rounded for integer types. Geometry: spacing and affine are carried over unchanged, since an
 * augmentation makes a training sample, not a new acquisition.
 */
export function warpSlices<T extends VoxelArray>(volume: Volume<T>, m: PlaneMatrix, options: WarpOptions): Volume<T> {
  const [slices, inRows, inCols] = volume.shape;
  const { rows, cols, mode, border } = options;
  const src = volume.data;
  const Ctor = src.constructor as { new (n: number): T };
  const out = new Ctor(slices * rows * cols);
  const isFloat = src instanceof Float32Array || src instanceof Float64Array;
  const [lo, hi] =
    src instanceof Uint8Array
      ? [0, 255]
      : src instanceof Int16Array
        ? [-32768, 32767]
        : src instanceof Uint16Array
          ? [0, 65535]
          : [-Infinity, Infinity];
  const bx0 = border.kind === 'clamp' ? border.x0 : 0;
  const bx1 = border.kind === 'clamp' ? border.x1 : inCols - 1;
  const by0 = border.kind === 'clamp' ? border.y0 : 0;
  const by1 = border.kind === 'clamp' ? border.y1 : inRows - 1;
  const fill = border.kind === 'fill' ? border.value : 0;
  // The source offsets and weights depend only on (y, x): compute them once, apply to every slice.
  const n = rows * cols;
  const off = new Int32Array(n * 4).fill(-1);
  const wts = new Float32Array(n * 4);
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      const p = y * cols + x;
      let sx = m[0] * x + m[1] * y + m[2];
      let sy = m[3] * x + m[4] * y + m[5];
      if (border.kind === 'clamp') {
        sx = sx < bx0 ? bx0 : sx > bx1 ? bx1 : sx;
        sy = sy < by0 ? by0 : sy > by1 ? by1 : sy;
      }
      if (mode === 'nearest') {
        const ix = Math.round(sx);
        const iy = Math.round(sy);
        if (ix >= bx0 && ix <= bx1 && iy >= by0 && iy <= by1) {
          off[p * 4] = iy * inCols + ix;
          wts[p * 4] = 1;
        }
        continue;
      }
      // Bilinear: a tap outside the image reads the fill value (weights kept, offset -1).
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const taps: [number, number, number][] = [
        [x0, y0, (1 - fx) * (1 - fy)],
        [x0 + 1, y0, fx * (1 - fy)],
        [x0, y0 + 1, (1 - fx) * fy],
        [x0 + 1, y0 + 1, fx * fy],
      ];
      let anyInside = false;
      for (let t = 0; t < 4; t++) {
        const [tx, ty, w] = taps[t] as [number, number, number];
        wts[p * 4 + t] = w;
        if (tx >= bx0 && tx <= bx1 && ty >= by0 && ty <= by1) {
          off[p * 4 + t] = ty * inCols + tx;
          anyInside = true;
        } else if (border.kind === 'clamp') {
          off[p * 4 + t] = Math.min(Math.max(ty, by0), by1) * inCols + Math.min(Math.max(tx, bx0), bx1);
          anyInside = true;
        }
      }
      if (!anyInside) off.fill(-2, p * 4, p * 4 + 4); // wholly outside: fill
    }
  }
  const inPlane = inRows * inCols;
  for (let z = 0; z < slices; z++) {
    const sBase = z * inPlane;
    const oBase = z * n;
    for (let p = 0; p < n; p++) {
      let v = 0;
      const o0 = off[p * 4] as number;
      if (o0 === -2 || (mode === 'nearest' && o0 === -1)) {
        out[oBase + p] = fill;
        continue;
      }
      const taps = mode === 'nearest' ? 1 : 4;
      for (let t = 0; t < taps; t++) {
        const o = off[p * 4 + t] as number;
        const w = wts[p * 4 + t] as number;
        v += w * (o < 0 ? fill : (src[sBase + o] as number));
      }
      if (!isFloat) {
        v = Math.round(v);
        v = v < lo ? lo : v > hi ? hi : v;
      }
      out[oBase + p] = v;
    }
  }
  return makeVolume({
    data: out,
    shape: [slices, rows, cols],
    spacing: volume.spacing,
    affine: volume.affine,
    intensity: volume.intensity,
    ...(volume.source === undefined ? {} : { source: volume.source }),
  });
}
