import type { Volume } from '../volume.js';

/**
 * The default of `ReadOptions.maxBytes`: 2 GiB of voxels, four times a 512 x 512 x 1000 int16 CT
 * (512 MiB) and room for 1024 x 1024 x 1000 int16. A header that claims more is refused before
 * anything that large is allocated or inflated; pass a larger `maxBytes` for bigger volumes.
 */
export const DEFAULT_MAX_VOLUME_BYTES = 2 ** 31;

/** Options every reader accepts. */
export interface ReadOptions {
  /**
   * The most bytes of voxels one volume may hold, as its header or slices claim them (stored
   * type: NIfTI's datatype, DICOM's output type, 1 byte per JPG pixel). A larger claim is a
   * CovsevInputError naming the claim, raised before the voxels are read. Default
   * `DEFAULT_MAX_VOLUME_BYTES` (2 GiB).
   */
  readonly maxBytes?: number;
  /**
   * NaN or infinite voxels (float NIfTI, an overflowing rescale): `'error'` (default) refuses the
   * volume with their count; `'replace'` puts the smallest finite value of the volume in their
   * place (air, for CT, rather than 0 HU water) and reports the count through `onWarning`.
   */
  readonly nonFinite?: 'error' | 'replace';
  /** JPG folders: resize slices whose size differs from the first (bilinear), instead of refusing. */
  readonly resizeMismatched?: boolean;
  /** Called after each slice or chunk, for progress displays. */
  readonly onProgress?: (done: number, total: number) => void;
  /**
   * Told about choices a reader made without failing (which of several DICOM series was read,
   * files skipped, uneven slice spacing). Default: `process.emitWarning`.
   */
  readonly onWarning?: (message: string) => void;
}

/**
 * One way of reading CT from disk. `canRead` looks only at the path (suffix, or what a folder
 * holds) and never throws; `read` either returns a volume in the documented axis order
 * ([slices, rows, cols], see volume.ts) or throws a CovsevInputError naming the path and the problem.
 */
export interface VolumeReader {
  readonly name: string;
  canRead(path: string): Promise<boolean>;
  read(path: string, options?: ReadOptions): Promise<Volume>;
}
