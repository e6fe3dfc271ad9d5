/**
 * The phantom's anatomical frame and how voxels map onto it.
 *
 * Anatomy is modelled in millimetres in a patient frame:
 * - `u`: towards the patient's LEFT (image right in radiological display; column index grows),
 * - `v`: towards POSTERIOR (image down; row index grows),
 * - `w`: towards SUPERIOR (slice index grows).
 * The body's axis is at u = v = 0; w = 0 is the middle of the nominal scan range.
 *
 * World coordinates (NIfTI, RAS+) are x = -u, y = -v, z = w, so the affine has negative x and y
 * steps, as a CT exported from DICOM usually has.
 */
import type { Affine, Spacing3 } from './types.js';

/** A regular grid of voxel centres of one axial plane, in patient-frame mm. */
export interface PlaneGrid {
  readonly rows: number;
  readonly cols: number;
  /** u of column c is u0 + c * du. */
  readonly u0: number;
  readonly du: number;
  /** v of row r is v0 + r * dv. */
  readonly v0: number;
  readonly dv: number;
  /** In-plane pixel size used for anti-aliasing (mm). */
  readonly px: number;
  /** Half of the slab thickness each slice integrates over (mm), for thin structures. */
  readonly halfSlab: number;
}

/** Where the grid of a scan sits in the patient frame. */
export interface ScanFrame {
  readonly slices: number;
  readonly rows: number;
  readonly cols: number;
  readonly spacing: Spacing3;
  /** Patient-frame v of the image's centre row (body drawn above the centre when > 0). */
  readonly vCentre: number;
  /** Patient-frame w of the centre slice. */
  readonly wCentre: number;
}

export function planeGrid(frame: ScanFrame, stride = 1): PlaneGrid {
  const [sz, sy, sx] = frame.spacing;
  const cols = Math.ceil(frame.cols / stride);
  const rows = Math.ceil(frame.rows / stride);
  return {
    rows,
    cols,
    u0: -((frame.cols - 1) / 2) * sx,
    du: sx * stride,
    v0: frame.vCentre - ((frame.rows - 1) / 2) * sy,
    dv: sy * stride,
    px: Math.max(sx, sy),
    halfSlab: 0.35 * sz,
  };
}

/** Patient-frame w of slice z. */
export function sliceW(frame: ScanFrame, z: number): number {
  return frame.wCentre + (z - (frame.slices - 1) / 2) * frame.spacing[0];
}

/** The NIfTI-style voxel (col, row, slice) to world RAS+ affine of a frame. */
export function frameAffine(frame: ScanFrame): Affine {
  const [sz, sy, sx] = frame.spacing;
  return [
    -sx,
    0,
    0,
    ((frame.cols - 1) / 2) * sx,
    0,
    -sy,
    0,
    -(frame.vCentre - ((frame.rows - 1) / 2) * sy),
    0,
    0,
    sz,
    frame.wCentre - ((frame.slices - 1) / 2) * sz,
    0,
    0,
    0,
    1,
  ];
}

/** Index range [lo, hi] of grid positions x0 + i*dx (0 <= i < n) inside [a, b]; lo > hi if none. */
export function indexRange(x0: number, dx: number, n: number, a: number, b: number): [number, number] {
  let lo = Math.ceil((a - x0) / dx);
  let hi = Math.floor((b - x0) / dx);
  if (lo < 0) lo = 0;
  if (hi > n - 1) hi = n - 1;
  return [lo, hi];
}
