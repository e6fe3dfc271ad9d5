import type { PreprocessCache } from './cache/preprocessCache.js';
import { jpgFolderReader, jpgSize, listSliceFiles, readJpgFolder } from './readers/jpgFolder.js';
import type { ReadOptions } from './readers/reader.js';
import { readVolume } from './readers/readVolume.js';
import {
  castLike,
  planResample,
  type ResampleMode,
  resampledGeometry,
  resampleVolume,
  runResample,
  tapSources,
} from './transforms/resample.js';
import { diagonalAffine, makeVolume, type Shape3, type Volume } from './volume.js';

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
  const plan = planResample([files.length, rows, cols], recipe.shape, recipe.mode);
  const sources = tapSources(plan.taps[0]);
  const subset = await readJpgFolder(folder, { ...read, onlySlices: sources });
  // Point the slice taps at positions in the decoded subset (an i1 of weight 0 is never read).
  const position = new Map(sources.map((z, i) => [z, i]));
  const zTaps = plan.taps[0];
  const local = {
    i0: zTaps.i0.map((z) => position.get(z) as number),
    i1: zTaps.i1.map((z, d) => position.get(z) ?? (position.get(zTaps.i0[d] as number) as number)),
    w1: zTaps.w1,
  };
  const resampled = runResample(subset.data, [sources.length, rows, cols], {
    taps: [local, plan.taps[1], plan.taps[2]],
    order: plan.order,
  });
  const values = resampled === subset.data ? Float32Array.from(subset.data) : (resampled as Float32Array);
  const data = recipe.output === 'same' ? castLike(subset.data, values) : values;
  const geometry = resampledGeometry(
    { shape: [files.length, rows, cols], spacing: [1, 1, 1], affine: diagonalAffine([1, 1, 1]) },
    recipe.shape,
  );
  return makeVolume({ data, shape: recipe.shape, ...geometry, intensity: subset.intensity, source: folder });
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
