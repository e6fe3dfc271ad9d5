/**
 * Neighbourhoods shared by the binary morphology of stage 1 (docs/method.md, "Segmentation").
 *
 * Masks are `Uint8Array`s over a volume's grid, `[slices, rows, cols]` in C order with `cols`
 * fastest (docs/conventions.md, "Axis order"); any non-zero byte is foreground.
 *
 * A connectivity is the number of neighbours of a voxel, as in scipy.ndimage's
 * `generate_binary_structure(rank, k)`:
 * - in-plane (2D, per slice): 4 (edges) or 8 (edges and corners); components never cross slices;
 * - 3D: 6 (faces), 18 (faces and edges) or 26 (faces, edges and corners).
 */
import type { Shape3 } from '@covsev/io';

export type Connectivity2d = 4 | 8;
export type Connectivity3d = 6 | 18 | 26;
export type Connectivity = Connectivity2d | Connectivity3d;

export const CONNECTIVITIES: readonly Connectivity[] = [4, 8, 6, 18, 26];

/** True for the per-slice connectivities (4 and 8). */
export function isInPlane(connectivity: Connectivity): connectivity is Connectivity2d {
  return connectivity === 4 || connectivity === 8;
}

/** Throws a RangeError naming the function when `connectivity` is not one of 4, 8, 6, 18, 26. */
export function checkConnectivity(fn: string, connectivity: number): asserts connectivity is Connectivity {
  if (!(CONNECTIVITIES as readonly number[]).includes(connectivity)) {
    throw new RangeError(`${fn}: connectivity must be one of ${CONNECTIVITIES.join(', ')}, got ${String(connectivity)}`);
  }
}

/** Throws a RangeError naming the function when the mask does not fit the shape. */
export function checkMask(fn: string, mask: Uint8Array, shape: Shape3): void {
  if (!(mask instanceof Uint8Array)) throw new TypeError(`${fn}: mask must be a Uint8Array`);
  if (shape.length !== 3 || shape.some((n) => !Number.isInteger(n) || n <= 0)) {
    throw new RangeError(`${fn}: shape must be three positive integers [slices, rows, cols], got [${shape.join(', ')}]`);
  }
  const n = shape[0] * shape[1] * shape[2];
  if (mask.length !== n) {
    throw new RangeError(`${fn}: mask has ${mask.length} voxels but shape [${shape.join(', ')}] needs ${n}`);
  }
}

/** A neighbour offset (dz, dy, dx). */
export type Offset3 = readonly [dz: number, dy: number, dx: number];

/** Every neighbour offset of a connectivity (without (0, 0, 0)). */
export function neighbourOffsets(connectivity: Connectivity): Offset3[] {
  const offsets: Offset3[] = [];
  const zRange = isInPlane(connectivity) ? [0] : [-1, 0, 1];
  // Squared distance allowed: 4 and 6 -> faces (1); 8 and 18 -> up to edges (2); 26 -> corners (3).
  const maxOrder = connectivity === 4 || connectivity === 6 ? 1 : connectivity === 26 ? 3 : 2;
  for (const dz of zRange) {
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const order = Math.abs(dz) + Math.abs(dy) + Math.abs(dx);
        if (order > 0 && order <= maxOrder) offsets.push([dz, dy, dx]);
      }
    }
  }
  return offsets;
}

/** The offsets that come earlier in raster order (half of the neighbourhood), for one-pass labelling. */
export function backwardOffsets(connectivity: Connectivity): Offset3[] {
  return neighbourOffsets(connectivity).filter(([dz, dy, dx]) => dz < 0 || (dz === 0 && (dy < 0 || (dy === 0 && dx < 0))));
}
