import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../atomic.js';
import { type Intensity, makeVolume, type Shape3, type Spacing3, type Volume, type VoxelArray } from '../volume.js';
import { readNpy, writeNpy } from './npy.js';

/**
 * A preprocessing cache: each scan is decoded and resampled once, then loaded from disk.
 *
 * Layout: `<root>/<key>.npy` (the voxels, `numpy.load` gives [slices, rows, cols]) beside
 * `<key>.json` (shape, spacing, affine, intensity, source, recipe, key inputs).
 * Key: SHA-256 (first 24 hex digits) of the JSON of
 * `{ version, source: absolute path, files: [[name, size, mtimeMs], ...], recipe }`, where
 * `files` lists the source file, or every file of a source folder, and `recipe` is whatever
 * describes the preprocessing (target shape, window, mode, ...). Touching a slice or changing the
 * recipe gives a new key; stale entries are simply never read again (`clear` removes all).
 * Writes are atomic (temp file + rename), .npy before .json, so a half-written entry is a miss.
 *
 * A bad entry (a .json that is not JSON, a .npy that is missing, truncated or has a wrong header,
 * or whose shape or dtype differ from its .json) is never fatal: it is a miss, reported through
 * `onWarning` and counted in `warnings`, and `getOrCompute` rewrites it.
 */
export const CACHE_FORMAT_VERSION = 1;

interface CacheMeta {
  readonly version: number;
  readonly key: string;
  readonly shape: Shape3;
  /** The .npy's element type (`uint8`, `float32`...); absent in entries written before it was recorded. */
  readonly dtype?: string;
  readonly spacing: Spacing3;
  readonly affine: readonly number[];
  readonly intensity: Intensity;
  readonly source: string;
  readonly recipe: unknown;
}

async function fingerprint(source: string): Promise<[string, number, number][]> {
  const info = await stat(source);
  if (!info.isDirectory()) return [[source, info.size, info.mtimeMs]];
  const names = (await readdir(source)).sort();
  const out: [string, number, number][] = [];
  for (const name of names) {
    const s = await stat(join(source, name));
    if (s.isFile()) out.push([name, s.size, s.mtimeMs]);
  }
  return out;
}

/** The dtype name of a voxel array (`Uint8Array` -> `uint8`). */
function dtypeOf(data: { constructor: { name: string } }): string {
  return data.constructor.name.replace(/Array$/, '').toLowerCase();
}

export interface PreprocessCacheOptions {
  /** Told, in a sentence naming the file, about each bad entry that is recomputed; default: none. */
  onWarning?: (message: string) => void;
}

export class PreprocessCache {
  /** Bad entries found (and treated as misses) by this instance. */
  warnings = 0;
  private readonly onWarning: ((message: string) => void) | undefined;

  constructor(
    readonly root: string,
    options: PreprocessCacheOptions = {},
  ) {
    this.onWarning = options.onWarning;
  }

  /** The cache key of a source path under a recipe. */
  async key(source: string, recipe: unknown): Promise<string> {
    const absolute = resolve(source);
    const files = await fingerprint(absolute);
    const text = JSON.stringify({ version: CACHE_FORMAT_VERSION, source: absolute, files, recipe });
    return createHash('sha256').update(text).digest('hex').slice(0, 24);
  }

  /** The cached volume, or undefined on a miss (a bad entry is a miss, with a warning). */
  async get(source: string, recipe: unknown): Promise<Volume | undefined> {
    const key = await this.key(source, recipe);
    const jsonPath = join(this.root, `${key}.json`);
    const npyPath = join(this.root, `${key}.npy`);
    let text: string;
    try {
      text = await readFile(jsonPath, 'utf8');
    } catch {
      return undefined; // no entry, or one whose .json was never written: a plain miss
    }
    let meta: CacheMeta;
    try {
      meta = JSON.parse(text) as CacheMeta;
    } catch (error) {
      return this.bad(`${jsonPath}: is not valid JSON (${(error as Error).message})`);
    }
    if (meta?.version !== CACHE_FORMAT_VERSION || meta.key !== key) return undefined;
    let npy: { data: VoxelArray; shape: number[] };
    try {
      npy = await readNpy(npyPath);
    } catch (error) {
      return this.bad((error as Error).message);
    }
    const { data, shape } = npy;
    if (!Array.isArray(meta.shape) || shape.join() !== meta.shape.join())
      return this.bad(`${npyPath}: has shape [${shape}], its .json says [${meta.shape}]`);
    if (meta.dtype !== undefined && dtypeOf(data) !== meta.dtype)
      return this.bad(`${npyPath}: has dtype ${dtypeOf(data)}, its .json says ${meta.dtype}`);
    return makeVolume({
      data,
      shape: meta.shape,
      spacing: meta.spacing,
      affine: meta.affine,
      intensity: meta.intensity,
      source: meta.source,
    });
  }

  private bad(problem: string): undefined {
    this.warnings++;
    this.onWarning?.(`preprocessing cache: ${problem}; the entry is recomputed`);
    return undefined;
  }

  /** Stores a volume under (source, recipe). */
  async put(source: string, recipe: unknown, volume: Volume): Promise<string> {
    const key = await this.key(source, recipe);
    await writeNpy(join(this.root, `${key}.npy`), volume.data, volume.shape);
    const meta: CacheMeta = {
      version: CACHE_FORMAT_VERSION,
      key,
      shape: volume.shape,
      dtype: dtypeOf(volume.data),
      spacing: volume.spacing,
      affine: volume.affine,
      intensity: volume.intensity,
      source: resolve(source),
      recipe,
    };
    await writeFileAtomic(join(this.root, `${key}.json`), `${JSON.stringify(meta, null, 2)}\n`);
    return key;
  }

  /** Loads from the cache, or computes, stores and returns. `hit` says which happened. */
  async getOrCompute(source: string, recipe: unknown, compute: () => Promise<Volume>): Promise<{ volume: Volume; hit: boolean }> {
    const cached = await this.get(source, recipe);
    if (cached !== undefined) return { volume: cached, hit: true };
    const volume = await compute();
    await this.put(source, recipe, volume);
    return { volume, hit: false };
  }
}
