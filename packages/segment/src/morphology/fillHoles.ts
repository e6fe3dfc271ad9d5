/**
 * Hole filling, as scipy.ndimage.binary_fill_holes: background that cannot reach the border of
 * the grid through background becomes foreground. A breadth-first flood from the border with an
 * explicit Int32Array queue (no recursion).
 */
import type { Shape3 } from '@covsev/io';
import { type Connectivity, checkConnectivity, checkMask, isInPlane, neighbourOffsets } from './connectivity.js';

/**
 * Fills the holes of `mask` (a new 0/1 mask). `connectivity` is that of the background (scipy's
 * `structure`): with 4 or 8 each slice is filled on its own and its border is the slice's edge
 * (a hole only needs to be closed in-plane); with 6, 18 or 26 the border is the six faces of the
 * volume (a hole must be closed in 3D). Defaults to 4, the per-slice fill stage 1 uses for lungs.
 */
export function fillHoles(mask: Uint8Array, shape: Shape3, connectivity: Connectivity = 4): Uint8Array {
  checkMask('fillHoles', mask, shape);
  checkConnectivity('fillHoles', connectivity);
  const [slices, rows, cols] = shape;
  const plane = rows * cols;
  const offsets = neighbourOffsets(connectivity);
  const outside = new Uint8Array(mask.length); // background reached from the border
  const queue = new Int32Array(mask.length);
  let head = 0;
  let tail = 0;
  const seed = (i: number): void => {
    if (mask[i] === 0 && outside[i] === 0) {
      outside[i] = 1;
      queue[tail++] = i;
    }
  };
  const inPlane = isInPlane(connectivity);
  for (let z = 0; z < slices; z++) {
    const zFace = !inPlane && (z === 0 || z === slices - 1);
    for (let y = 0; y < rows; y++) {
      const yFace = y === 0 || y === rows - 1;
      const base = z * plane + y * cols;
      if (zFace || yFace) for (let x = 0; x < cols; x++) seed(base + x);
      else {
        seed(base);
        seed(base + cols - 1);
      }
    }
  }
  while (head < tail) {
    const i = queue[head++] as number;
    const z = Math.floor(i / plane);
    const rest = i - z * plane;
    const y = Math.floor(rest / cols);
    const x = rest - y * cols;
    for (const [oz, oy, ox] of offsets) {
      const nz = z + oz;
      const ny = y + oy;
      const nx = x + ox;
      if (nz < 0 || nz >= slices || ny < 0 || ny >= rows || nx < 0 || nx >= cols) continue;
      seed(nz * plane + ny * cols + nx);
    }
  }
  const out = new Uint8Array(mask.length);
  for (let i = 0; i < out.length; i++) out[i] = outside[i] === 1 ? 0 : 1;
  return out;
}
