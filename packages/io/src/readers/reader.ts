import type { Volume } from '../volume.js';

/** Options every reader accepts. */
export interface ReadOptions {
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
