import type { PreprocessCache } from './cache/preprocessCache.js';
import { jpgFolderReader, jpgSize, listSliceFiles, readJpgFolder } from './readers/jpgFolder.js';
import type { ReadOptions } from './readers/reader.js';
import { readVolume } from './readers/readVolume.js';
import { type ResampleMode, resampleSlices, resampleVolume } from './transforms/resample.js';
import { diagonalAffine, type Shape3, type Volume } from './volume.js';

export interface PreprocessRecipe {
  /** Target [slices, rows, cols]. */
  readonly shape: Shape3;
  /** `linear` for images, `nearest` for masks. */
  readonly mode: ResampleMode;
  /** Storage of the result: `same` rounds back to the source type (uint8 stays uint8: 4x smaller). */
  readonly output: 'float32' | 'same';
}

/**
 * Reads a JPG scan folder straight onto a target grid. Identical to `readJpgFolder` followed by
 * `resampleVolume`, but decodes only the slices the slice-axis interpolation reads: going from
 * 300 slices to 64, linear taps touch at most 128 of them, so most slices are checked from their
 * headers and never decoded, and the full-resolution volume is never held in memory.
 */
export async function readJpgFolderResampled(folder: string, recipe: PreprocessRecipe, read: ReadOptions = {}): Promise<Volume> {
  const files = await listSliceFiles(folder);
  const { rows, cols } = await jpgSize(files[0] as string);
  const grid = { shape: [files.length, rows, cols] as Shape3, spacing: [1, 1, 1] as const, affine: diagonalAffine([1, 1, 1]) };
  return resampleSlices(grid, (slices) => readJpgFolder(folder, { ...read, onlySlices: slices }), recipe.shape, {
    mode: recipe.mode,
    output: recipe.output,
  });
}

/**
 * Reads a scan (any format `readVolume` knows) and resamples it to `recipe.shape`, through the
 * cache when one is given. This is the whole "decode once" step of the pipeline.
 */
export async function preprocessScan(
  path: string,
  recipe: PreprocessRecipe,
  options: { cache?: PreprocessCache; read?: ReadOptions } = {},
): Promise<{ volume: Volume; cached: boolean }> {
  const compute = async (): Promise<Volume> =>
    (await jpgFolderReader.canRead(path))
      ? readJpgFolderResampled(path, recipe, options.read)
      : resampleVolume(await readVolume(path, options.read), recipe.shape, { mode: recipe.mode, output: recipe.output });
  if (options.cache === undefined) return { volume: await compute(), cached: false };
  const { volume, hit } = await options.cache.getOrCompute(path, { step: 'preprocessScan', ...recipe }, compute);
  return { volume, cached: hit };
}
