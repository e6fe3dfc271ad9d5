/**
 * The one volume type of covsev.
 *
 * Axis order, everywhere in covsev: `shape = [slices, rows, cols]`, i.e. `[z, y, x]`, stored
 * C-order with `cols` fastest, so voxel (z, y, x) lives at `data[(z * rows + y) * cols + x]`.
 * A JPG slice folder is `slices` images of `rows x cols` pixels; a NIfTI voxel (i, j, k) is
 * (x, y, z) = (col, row, slice); a DICOM series is one file per slice, rows x columns pixels.
 *
 * World coordinates follow NIfTI and nibabel: millimetres, RAS+ (+x = patient's Right,
 * +y = Anterior, +z = Superior). DICOM's LPS+ is converted on reading (x and y negated).
 * `affine` maps the voxel index column vector (col, row, slice, 1) to world (x, y, z, 1); it is
 * the NIfTI sform/qform matrix, row-major, 4 x 4.
 */

/** Voxel storage types covsev reads and writes. */
export type VoxelArray = Uint8Array | Int16Array | Uint16Array | Int32Array | Float32Array | Float64Array;

/**
 * What the numbers in a volume mean.
 * - `hu`: Hounsfield units (air -1000, water 0).
 * - `uint8-windowed`: 0..255 after an HU window (COV19-CT-DB JPGs, Radiopaedia NIfTIs).
 * - `normalised`: (x/255 - mean) / std, the classifier's input scaling.
 * - `label`: integer mask labels (0 = background).
 * - `unknown`: the file did not say.
 */
export type Intensity = 'hu' | 'uint8-windowed' | 'normalised' | 'label' | 'unknown';

export type Shape3 = readonly [slices: number, rows: number, cols: number];
/** Voxel size in mm, in the same order as the shape: [between slices, between rows, between cols]. */
export type Spacing3 = readonly [sliceMm: number, rowMm: number, colMm: number];
/** 4 x 4 row-major voxel-to-world (RAS+, mm) matrix acting on (col, row, slice, 1). */
export type Affine = readonly number[];

export interface Volume<T extends VoxelArray = VoxelArray> {
  readonly data: T;
  readonly shape: Shape3;
  readonly spacing: Spacing3;
  readonly affine: Affine;
  readonly intensity: Intensity;
  /** Where it came from (a path), for error messages and provenance. */
  readonly source?: string;
}

/** Number of voxels of a shape. */
export function voxelCount(shape: Shape3): number {
  return shape[0] * shape[1] * shape[2];
}

/** The affine of an axis-aligned grid: spacing on the diagonal, origin in the last column. */
export function diagonalAffine(spacing: Spacing3, origin: readonly [number, number, number] = [0, 0, 0]): Affine {
  const [sz, sy, sx] = spacing;
  return [sx, 0, 0, origin[0], 0, sy, 0, origin[1], 0, 0, sz, origin[2], 0, 0, 0, 1];
}

/** Builds a volume, checking that the data length matches the shape. */
export function makeVolume<T extends VoxelArray>(args: {
  data: T;
  shape: Shape3;
  spacing?: Spacing3;
  affine?: Affine;
  intensity: Intensity;
  source?: string;
}): Volume<T> {
  const { data, shape } = args;
  if (shape.some((n) => !Number.isInteger(n) || n <= 0)) {
    throw new RangeError(`volume shape must be three positive integers, got [${shape.join(', ')}]`);
  }
  if (data.length !== voxelCount(shape)) {
    throw new RangeError(`volume data has ${data.length} voxels but shape [${shape.join(', ')}] needs ${voxelCount(shape)}`);
  }
  const spacing = args.spacing ?? [1, 1, 1];
  const volume: Volume<T> = {
    data,
    shape: [shape[0], shape[1], shape[2]],
    spacing: [spacing[0], spacing[1], spacing[2]],
    affine: args.affine ?? diagonalAffine(spacing),
    intensity: args.intensity,
  };
  return args.source === undefined ? volume : { ...volume, source: args.source };
}

/** The same geometry with other data (for transforms that keep the grid). */
export function withData<T extends VoxelArray>(volume: Volume, data: T, intensity: Intensity = volume.intensity): Volume<T> {
  return makeVolume({
    data,
    shape: volume.shape,
    spacing: volume.spacing,
    affine: volume.affine,
    intensity,
    ...(volume.source === undefined ? {} : { source: volume.source }),
  });
}

/** A view of slice z (rows x cols) without copying. */
export function sliceView<T extends VoxelArray>(volume: Volume<T>, z: number): T {
  const [slices, rows, cols] = volume.shape;
  if (!Number.isInteger(z) || z < 0 || z >= slices) throw new RangeError(`slice ${z} outside 0..${slices - 1}`);
  return volume.data.subarray(z * rows * cols, (z + 1) * rows * cols) as T;
}
