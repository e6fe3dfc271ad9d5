/**
 * Binary erosion, dilation, opening and closing of masks, with the structuring elements
 * scipy.ndimage users reach for:
 * - `cross`, radius r: `iterate_structure(generate_binary_structure(rank, 1), r)`, the voxels
 *   within L1 distance r (a diamond; r = 1 is the face-neighbour cross);
 * - `box`, radius r: `np.ones((2r + 1,) * rank)`, the voxels within L-infinity distance r.
 * `planar: true` uses the rank-2 element in each slice (nothing crosses slices, as scipy with a
 * 3D structure of one plane); otherwise the element is 3D.
 *
 * Voxels outside the grid count as `borderValue` for the erosion (scipy's `border_value`,
 * default 0, so foreground touching the grid's edge erodes) and as background for the dilation.
 * Cross of radius r runs r single-step erosions (equivalent, the L1 ball being the r-fold sum of
 * the unit cross); box runs one sliding-window pass per axis, O(voxels) whatever r.
 */
import type { Shape3 } from '@covsev/io';
import { checkMask } from './connectivity.js';

export interface StructuringElement {
  readonly shape: 'cross' | 'box';
  /** Integer >= 0; 0 leaves the mask unchanged. */
  readonly radius: number;
  /** In-plane (per slice) element instead of a 3D one. Default false. */
  readonly planar?: boolean;
}

export interface ErosionOptions {
  /** What voxels outside the grid count as during erosion (scipy's `border_value`). Default 0. */
  readonly borderValue?: 0 | 1;
}

const UNIT_CROSS: StructuringElement = { shape: 'cross', radius: 1 };

function checkElement(fn: string, element: StructuringElement): void {
  if (element.shape !== 'cross' && element.shape !== 'box') {
    throw new RangeError(`${fn}: element.shape must be 'cross' or 'box', got ${String(element.shape)}`);
  }
  if (!Number.isInteger(element.radius) || element.radius < 0) {
    throw new RangeError(`${fn}: element.radius must be an integer >= 0, got ${element.radius}`);
  }
}

/** One erosion (`erode`) or dilation by the unit cross; outside voxels count as `border`. */
function crossStep(mask: Uint8Array, shape: Shape3, planar: boolean, erode: boolean, border: number): Uint8Array {
  const [slices, rows, cols] = shape;
  const plane = rows * cols;
  const out = new Uint8Array(mask.length);
  // Erosion: a voxel stays 1 unless a neighbour is 0. Dilation: it becomes 1 if a neighbour is 1.
  const want = erode ? 0 : 1;
  const at = (inside: boolean, j: number): boolean => (inside ? (mask[j] === 0 ? 0 : 1) : border) === want;
  for (let z = 0; z < slices; z++) {
    for (let y = 0; y < rows; y++) {
      let i = z * plane + y * cols;
      for (let x = 0; x < cols; x++, i++) {
        const v = mask[i] === 0 ? 0 : 1;
        if (erode ? v === 0 : v === 1) {
          out[i] = v;
          continue;
        }
        const hit =
          at(x > 0, i - 1) ||
          at(x < cols - 1, i + 1) ||
          at(y > 0, i - cols) ||
          at(y < rows - 1, i + cols) ||
          (!planar && (at(z > 0, i - plane) || at(z < slices - 1, i + plane)));
        out[i] = erode ? (hit ? 0 : 1) : hit ? 1 : 0;
      }
    }
  }
  return out;
}

/**
 * A sliding window of half-width r along one axis: erosion keeps a voxel when the whole window is
 * foreground, dilation sets it when any of it is; out-of-grid positions count as `border`.
 */
function boxAxis(mask: Uint8Array, shape: Shape3, axis: 0 | 1 | 2, r: number, erode: boolean, border: number): Uint8Array {
  const [slices, rows, cols] = shape;
  const length = shape[axis];
  const stride = axis === 0 ? rows * cols : axis === 1 ? cols : 1;
  const out = new Uint8Array(mask.length);
  const line = new Int32Array(length + 1); // prefix sums of foreground along the line
  const width = 2 * r + 1;
  const doLine = (start: number): void => {
    for (let k = 0; k < length; k++) line[k + 1] = (line[k] as number) + (mask[start + k * stride] === 0 ? 0 : 1);
    for (let k = 0; k < length; k++) {
      const lo = k - r;
      const hi = k + r;
      const a = lo < 0 ? 0 : lo;
      const b = hi > length - 1 ? length - 1 : hi;
      const ones = (line[b + 1] as number) - (line[a] as number);
      const total = border === 1 ? ones + (a - lo) + (hi - b) : ones;
      out[start + k * stride] = erode ? (total === width ? 1 : 0) : total > 0 ? 1 : 0;
    }
  };
  // Every line along `axis`: its first voxel runs over the other two axes.
  const zEnd = axis === 0 ? 1 : slices;
  const yEnd = axis === 1 ? 1 : rows;
  const xEnd = axis === 2 ? 1 : cols;
  for (let z = 0; z < zEnd; z++) for (let y = 0; y < yEnd; y++) for (let x = 0; x < xEnd; x++) doLine((z * rows + y) * cols + x);
  return out;
}

function morph(
  fn: string,
  mask: Uint8Array,
  shape: Shape3,
  element: StructuringElement,
  erode: boolean,
  border: number,
): Uint8Array {
  checkMask(fn, mask, shape);
  checkElement(fn, element);
  const planar = element.planar === true;
  let out: Uint8Array = Uint8Array.from(mask, (v) => (v === 0 ? 0 : 1));
  if (element.radius === 0) return out;
  if (element.shape === 'cross') {
    for (let step = 0; step < element.radius; step++) out = crossStep(out, shape, planar, erode, border);
    return out;
  }
  const axes: (0 | 1 | 2)[] = planar ? [1, 2] : [0, 1, 2];
  for (const axis of axes) out = boxAxis(out, shape, axis, element.radius, erode, border);
  return out;
}

/** Binary erosion (a new 0/1 mask); `scipy.ndimage.binary_erosion(mask, structure, border_value)`. */
export function erodeMask(
  mask: Uint8Array,
  shape: Shape3,
  element: StructuringElement = UNIT_CROSS,
  options: ErosionOptions = {},
): Uint8Array {
  return morph('erodeMask', mask, shape, element, true, options.borderValue ?? 0);
}

/** Binary dilation (a new 0/1 mask); `scipy.ndimage.binary_dilation(mask, structure)`. */
export function dilateMask(mask: Uint8Array, shape: Shape3, element: StructuringElement = UNIT_CROSS): Uint8Array {
  return morph('dilateMask', mask, shape, element, false, 0);
}

/** Erosion then dilation; `scipy.ndimage.binary_opening` with the erosion's `border_value`. */
export function openMask(
  mask: Uint8Array,
  shape: Shape3,
  element: StructuringElement = UNIT_CROSS,
  options: ErosionOptions = {},
): Uint8Array {
  return dilateMask(erodeMask(mask, shape, element, options), shape, element);
}

/**
 * Dilation then erosion; `scipy.ndimage.binary_closing` with its default `border_value` 0, which
 * erodes foreground at the grid's edge. `borderValue: 1` closes without touching the edges (e.g. a
 * 3D closing of a scan with few slices): it is the erosion's border alone, i.e.
 * `binary_erosion(binary_dilation(m, s), s, border_value=1)`, not scipy's
 * `binary_closing(border_value=1)`, which also fills the grid's edge in its dilation.
 */
export function closeMask(
  mask: Uint8Array,
  shape: Shape3,
  element: StructuringElement = UNIT_CROSS,
  options: ErosionOptions = {},
): Uint8Array {
  return erodeMask(dilateMask(mask, shape, element), shape, element, options);
}
