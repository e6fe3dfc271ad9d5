/**
 * Stage 1 (docs/method.md, "Segmentation") over many scans, with its outputs on disk and a cache.
 * The layout (the masks' folders are what stage 2's `readMasksOnGrid` reads, `<dir>/<scan>.nii.gz`):
 *
 * ```
 * <out>/lung/<scan>.nii.gz        lung mask, uint8 0/1, the scan's geometry
 * <out>/infection/<scan>.nii.gz   lesion mask, uint8 0/1 (when a lesion model ran)
 * <out>/overlays/<scan>.png       a montage of slices, lung in blue, infection in red
 * <out>/records/<scan>.json       the cache record, written last
 * ```
 *
 * The cache key is `PreprocessCache.key` of `@covsev/io` (the scan's source identity: its
 * absolute path and the name, size and mtime of each of its files) under a recipe holding the
 * models' hashes (SHA-256 of the ONNX file's or the weights' bytes and the card, `Segmenter.hash`)
 * and the intensity option. A scan whose record has the same key and whose files are all there is
 * read from the cache and reported so; another model, option or scan file is a miss. On a miss
 * the record is removed first, the masks and the overlay are written (each atomically: temporary
 * sibling, then rename), the record last; so after a crash a scan has no record, and is
 * recomputed, never served half-new.
 */
import { readFile, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  CovsevInputError,
  makeVolume,
  PreprocessCache,
  type ReadOptions,
  readVolume,
  type Volume,
  writeFileAtomic,
  writeMontagePng,
  writeNifti,
} from '@covsev/io';
import { resolveIntensity, type VolumeIntensity } from './modelInput.js';
import type { Segmenter } from './segmenter.js';
import { checkSegmenterTask, type SegmentProgress, segmentVolume } from './segmentVolume.js';

/** Bumped when the inference's output for the same models and scans changes (a miss for every old record). */
export const SEGMENT_CACHE_VERSION = 1;
/** What stands for the classical lung mask in the cache key (bump it when `classicalLungMask` changes). */
export const CLASSICAL_LUNG_IDENTITY = 'classical-lung-mask-1';

/** Folders under the output folder. */
export const SEGMENT_OUTPUT_FOLDERS = { lung: 'lung', infection: 'infection', overlays: 'overlays', records: 'records' } as const;

export interface ScanToSegment {
  /** Output names: `<out>/lung/<name>.nii.gz`, ... (the scan's folder name, `ct_scan_<n>`). */
  readonly name: string;
  /** The scan on disk, anything `readVolume` reads (a NIfTI file, a JPG slice folder, a DICOM series). */
  readonly path: string;
  /** What its numbers are, where its reader does not say (a JPG folder: `{ window: 'cov19ctdb' }`). */
  readonly intensity?: VolumeIntensity;
}

export interface SegmentScansProgress extends SegmentProgress {
  readonly scan: string;
  /** 0-based position of the scan in the list. */
  readonly index: number;
  readonly scans: number;
}

export interface SegmentScansOptions {
  /** The output folder. */
  readonly out: string;
  readonly lung: Segmenter | 'classical';
  readonly lesion?: Segmenter;
  readonly batchSize?: number;
  /** Intensity of every scan that does not state its own (see {@link ScanToSegment.intensity}). */
  readonly intensity?: VolumeIntensity;
  /** Write the PNG overlays (default true). */
  readonly overlays?: boolean;
  /** Use the cache (default true); false recomputes every scan (and rewrites its record). */
  readonly cache?: boolean;
  readonly readOptions?: ReadOptions;
  readonly onProgress?: (progress: SegmentScansProgress) => void;
  /** After each scan, with its report (its `message` says whether it came from the cache). */
  readonly onScan?: (report: ScanSegmentationReport) => void;
  readonly onWarning?: (message: string) => void;
}

export interface ScanSegmentationReport {
  readonly name: string;
  readonly key: string;
  /** True when the masks were already there for these models (nothing was computed). */
  readonly cached: boolean;
  readonly lungPath: string;
  readonly infectionPath?: string;
  readonly overlayPath?: string;
  readonly lungVoxels: number;
  readonly lesionVoxels?: number;
  readonly warnings: readonly string[];
  /** One line for a log: `ct_scan_3: read from the cache (...)` or `ct_scan_3: segmented (...)`. */
  readonly message: string;
}

export interface SegmentScansResult {
  readonly scans: readonly ScanSegmentationReport[];
  readonly cached: number;
  readonly computed: number;
}

/** The record beside a scan's outputs (`records/<scan>.json`). */
interface SegmentationRecord {
  readonly format: 'covsev-segmentation-record';
  readonly version: number;
  readonly key: string;
  readonly scan: string;
  readonly recipe: unknown;
  /** Paths relative to the output folder. */
  readonly files: { readonly lung: string; readonly infection?: string; readonly overlay?: string };
  readonly lungVoxels: number;
  readonly lesionVoxels?: number;
  readonly warnings: readonly string[];
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function count(data: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < data.length; i++) n += data[i] === 0 ? 0 : 1;
  return n;
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** The record at `path` when it is whole, has `key` and its files exist; otherwise undefined (a miss). */
async function cachedRecord(out: string, path: string, key: string): Promise<SegmentationRecord | undefined> {
  let record: SegmentationRecord;
  try {
    record = JSON.parse(await readFile(path, 'utf8')) as SegmentationRecord;
  } catch {
    return undefined;
  }
  if (record?.format !== 'covsev-segmentation-record' || record.version !== SEGMENT_CACHE_VERSION || record.key !== key)
    return undefined;
  const files = [record.files?.lung, record.files?.infection, record.files?.overlay].filter(
    (f): f is string => typeof f === 'string',
  );
  if (files.length === 0) return undefined;
  for (const f of files) if (!(await exists(join(out, f)))) return undefined;
  return record;
}

/** Segments `scans` into `options.out` (see the file comment); scans are done one after another. */
export async function segmentScans(scans: readonly ScanToSegment[], options: SegmentScansOptions): Promise<SegmentScansResult> {
  const names = new Set<string>();
  for (const scan of scans) {
    if (!SAFE_NAME.test(scan.name))
      throw new RangeError(
        `segmentScans: scan name "${scan.name}" (${scan.path}) cannot be a file name (letters, digits, '.', '_', '-')`,
      );
    if (names.has(scan.name)) throw new RangeError(`segmentScans: two scans are named "${scan.name}"`);
    names.add(scan.name);
  }
  if (options.lung !== 'classical') checkSegmenterTask(options.lung, 'lung', 'lung');
  if (options.lesion !== undefined) checkSegmenterTask(options.lesion, 'lesion', 'lesion');
  const out = resolve(options.out);
  const overlays = options.overlays ?? true;
  const useCache = options.cache ?? true;
  const identity = new PreprocessCache(join(out, SEGMENT_OUTPUT_FOLDERS.records));
  const models = {
    lung: options.lung === 'classical' ? CLASSICAL_LUNG_IDENTITY : options.lung.hash(),
    lesion: options.lesion?.hash() ?? null,
  };
  const reports: ScanSegmentationReport[] = [];
  for (const [index, scan] of scans.entries()) {
    const intensity = scan.intensity ?? options.intensity ?? null;
    const recipe = { stage: 'segment', version: SEGMENT_CACHE_VERSION, models, intensity, overlays };
    let key: string;
    try {
      key = await identity.key(scan.path, recipe);
    } catch (error) {
      throw new CovsevInputError(scan.path, `cannot be read (${(error as Error).message})`, { cause: error });
    }
    const rel = {
      lung: join(SEGMENT_OUTPUT_FOLDERS.lung, `${scan.name}.nii.gz`),
      infection: join(SEGMENT_OUTPUT_FOLDERS.infection, `${scan.name}.nii.gz`),
      overlay: join(SEGMENT_OUTPUT_FOLDERS.overlays, `${scan.name}.png`),
    };
    const recordPath = join(out, SEGMENT_OUTPUT_FOLDERS.records, `${scan.name}.json`);
    const paths = (files: SegmentationRecord['files']) => ({
      lungPath: join(out, files.lung),
      ...(files.infection === undefined ? {} : { infectionPath: join(out, files.infection) }),
      ...(files.overlay === undefined ? {} : { overlayPath: join(out, files.overlay) }),
    });

    const hit = useCache ? await cachedRecord(out, recordPath, key) : undefined;
    if (hit !== undefined) {
      const report: ScanSegmentationReport = {
        name: scan.name,
        key,
        cached: true,
        ...paths(hit.files),
        lungVoxels: hit.lungVoxels,
        ...(hit.lesionVoxels === undefined ? {} : { lesionVoxels: hit.lesionVoxels }),
        warnings: hit.warnings,
        message: `${scan.name}: read from the cache (key ${key}, same scan files and models)`,
      };
      reports.push(report);
      options.onScan?.(report);
      continue;
    }

    await rm(recordPath, { force: true });
    const volume: Volume = await readVolume(scan.path, options.readOptions);
    const segmentation = await segmentVolume(volume, {
      lung: options.lung,
      ...(options.lesion === undefined ? {} : { lesion: options.lesion }),
      ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
      ...(intensity === null ? {} : { intensity }),
      onProgress: (p) => options.onProgress?.({ ...p, scan: scan.name, index, scans: scans.length }),
      ...(options.onWarning === undefined ? {} : { onWarning: options.onWarning }),
    });
    const { lung, lesion } = segmentation;
    await writeNifti(join(out, rel.lung), lung, { description: 'covsev lung mask' });
    if (lesion !== undefined) await writeNifti(join(out, rel.infection), lesion, { description: 'covsev infection mask' });
    else await rm(join(out, rel.infection), { force: true }); // never leave another model's mask beside this one's
    if (overlays) {
      await writeOverlay(join(out, rel.overlay), volume, lung, lesion, scan.name, intensity === null ? undefined : intensity);
    } else await rm(join(out, rel.overlay), { force: true });
    const files: SegmentationRecord['files'] = {
      lung: rel.lung,
      ...(lesion === undefined ? {} : { infection: rel.infection }),
      ...(overlays ? { overlay: rel.overlay } : {}),
    };
    const lungVoxels = count(lung.data);
    const lesionVoxels = lesion === undefined ? undefined : count(lesion.data);
    const record: SegmentationRecord = {
      format: 'covsev-segmentation-record',
      version: SEGMENT_CACHE_VERSION,
      key,
      scan: resolve(scan.path),
      recipe,
      files,
      lungVoxels,
      ...(lesionVoxels === undefined ? {} : { lesionVoxels }),
      warnings: segmentation.warnings,
    };
    await writeFileAtomic(recordPath, `${JSON.stringify(record, null, 2)}\n`);
    const report: ScanSegmentationReport = {
      name: scan.name,
      key,
      cached: false,
      ...paths(files),
      lungVoxels,
      ...(lesionVoxels === undefined ? {} : { lesionVoxels }),
      warnings: segmentation.warnings,
      message: `${scan.name}: segmented (${lungVoxels} lung voxels${lesionVoxels === undefined ? '' : `, ${lesionVoxels} infection voxels`}; key ${key})`,
    };
    reports.push(report);
    options.onScan?.(report);
  }
  const cached = reports.filter((r) => r.cached).length;
  return { scans: reports, cached, computed: reports.length - cached };
}

/**
 * The overlay PNG: 9 evenly spaced slices, lung filled in blue (label 1 of `MASK_COLOURS`),
 * infection in red (label 3), shown through the lung window for scans in HU.
 */
async function writeOverlay(
  path: string,
  volume: Volume,
  lung: Volume<Uint8Array>,
  lesion: Volume<Uint8Array> | undefined,
  name: string,
  intensity: VolumeIntensity | undefined,
): Promise<void> {
  const labels = new Uint8Array(lung.data.length);
  for (let i = 0; i < labels.length; i++) labels[i] = lesion?.data[i] ? 3 : lung.data[i] ? 1 : 0;
  const mask = makeVolume({
    data: labels,
    shape: volume.shape,
    spacing: volume.spacing,
    affine: volume.affine,
    intensity: 'label',
  });
  // An 8-bit scan is shown as its bytes; a scan in HU through the COV19-CT-DB window.
  const shown = resolveIntensity(volume, intensity).kind === 'hu' ? { ...volume, intensity: 'hu' as const } : volume;
  await writeMontagePng(path, shown, {
    mask,
    slices: 9,
    alpha: 0.4,
    window: 'cov19ctdb',
    caption: `${name}: lung blue, infection red`,
  });
}
