import type { PreprocessCache } from './cache/preprocessCache.js';
import type { ReadOptions } from './readers/reader.js';
import { readVolume } from './readers/readVolume.js';
import { type ResampleMode, resampleVolume } from './transforms/resample.js';
import type { Shape3, Volume } from './volume.js';

/** The classifier's input grid for GPU users (method.md): 64 slices of 256 x 256. */
export const CMC_FULL_SHAPE: Shape3 = [64, 256, 256];

export interface PreprocessRecipe {
  /** Target [slices, rows, cols]. */
  readonly shape: Shape3;
  /** `linear` for images, `nearest` for masks. */
  readonly mode: ResampleMode;
  /** Storage of the result: `same` rounds back to the source type (uint8 stays uint8: 4x smaller). */
  readonly output: 'float32' | 'same';
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
  const compute = async (): Promise<Volume> => resampleVolume(await readVolume(path, options.read), recipe.shape, { mode: recipe.mode, output: recipe.output });
  if (options.cache === undefined) return { volume: await compute(), cached: false };
  const { volume, hit } = await options.cache.getOrCompute(path, { step: 'preprocessScan', ...recipe }, compute);
  return { volume, cached: hit };
}
