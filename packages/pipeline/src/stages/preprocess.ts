/**
 * Stage "preprocess": every scan read once and resampled to the classifier's grid (uint8,
 * trilinear), through the run's cache (`<run>/cache`): a second run reads each scan from the
 * cache instead of its JPG slices.
 */
import { PreprocessCache, preprocessScan, type Shape3, type Volume } from '@covsev/io';
import { beginStage, type StageContext } from '../stage.js';
import type { CohortScan } from './loadCohort.js';

export interface PreprocessOptions {
  /** The classifier grid [slices, rows, cols] (the method's: 64 x 256 x 256). */
  readonly grid: Shape3;
  /** The cache folder (`runFolder(run).cache`). */
  readonly cacheDir: string;
}

export interface Preprocessed {
  /** Each scan on the grid, by name. */
  readonly volumes: ReadonlyMap<string, Volume<Uint8Array>>;
  readonly cacheHits: number;
}

/** Puts the scans on the classifier grid. */
export async function preprocessScans(
  scans: readonly CohortScan[],
  options: PreprocessOptions,
  context: StageContext = {},
): Promise<Preprocessed> {
  const stage = beginStage(context, 'preprocess', scans.length, { grid: options.grid.join('x'), cache: options.cacheDir });
  // A bad cache entry (truncated, mangled) is recomputed; what was wrong goes into the stage's warnings.
  const warnings: string[] = [];
  const cache = new PreprocessCache(options.cacheDir, { onWarning: (message) => warnings.push(message) });
  const volumes = new Map<string, Volume<Uint8Array>>();
  let cacheHits = 0;
  for (const [i, scan] of scans.entries()) {
    const { volume, cached } = await preprocessScan(
      scan.folder,
      { shape: options.grid, mode: 'linear', output: 'same' },
      { cache },
    );
    if (!(volume.data instanceof Uint8Array))
      throw new TypeError(`${scan.folder}: preprocessing gave ${volume.data.constructor.name}, expected 8-bit slices`);
    if (cached) cacheHits++;
    volumes.set(scan.name, volume as Volume<Uint8Array>);
    stage.progress(i + 1, scan.name, cached);
  }
  stage.end([options.cacheDir], { scans: scans.length, cacheHits }, warnings);
  return { volumes, cacheHits };
}
