/**
 * Writes a planned cohort to disk in the layout of a real dataset (docs/formats.md):
 *
 * - `cov19-ct-db`: `<out>/<split>/<class>/ct_scan_<n>/<k>.jpg` for train and val (class folder
 *   `mild|moderate|severe|critical` = the published label), `<out>/test/ct_scan_<n>/<k>.jpg`
 *   without labels, `train_partition_covid_categories.csv` and
 *   `val_partition_covid_categories.csv` (`Name;Category`). Slices are the HU volume windowed
 *   with HU_WINDOWS.cov19ctdb, grey JPEG quality 90, k = 0 the most inferior slice.
 * - `ct-seg`: `<out>/ct_scans/<name>.nii.gz` (HU, int16), `lung_mask/` (1 left, 2 right),
 *   `infection_mask/` (1), `lung_and_infection_mask/` (1 left, 2 right, 3 infection).
 *
 * Both write `<out>/phantom_truth.json`, the ground truth of every scan (true grade, published
 * label, exact involvement, ...), last, so its presence marks a complete output.
 */
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  applyHuWindow,
  CovsevInputError,
  HU_WINDOWS,
  makeVolume,
  SEVERITY_CLASSES,
  writeFileAtomic,
  writeLabelCsv,
  writeNifti,
} from '@covsev/io';
import sharp from 'sharp';
import { type CohortOptions, type PlannedScan, planCohort, type Split } from './cohort.js';
import { generateScan, type PhantomScan } from './generate.js';
import type { Category } from './types.js';

export const LAYOUTS = ['cov19-ct-db', 'ct-seg'] as const;
export type Layout = (typeof LAYOUTS)[number];

export const TRUTH_FILE = 'phantom_truth.json';
export const LABEL_FILES = { train: 'train_partition_covid_categories.csv', val: 'val_partition_covid_categories.csv' } as const;
export const CTSEG_FOLDERS = ['ct_scans', 'lung_mask', 'infection_mask', 'lung_and_infection_mask'] as const;
export const JPEG_QUALITY = 90;

/** Class folder of a category in the COV19-CT-DB layout: mild, moderate, severe, critical. */
export function classFolder(category: Category): string {
  return (SEVERITY_CLASSES[category - 1] as string).toLowerCase();
}

export interface TruthEntry {
  readonly name: string;
  readonly split: Split;
  /** The published label (CSV, class folder); differs from trueCategory only under label noise. */
  readonly category: Category;
  /** Table 1 grade of the measured involvement. */
  readonly trueCategory: Category;
  readonly labelFlipped: boolean;
  /** Infected lung voxels / lung voxels, exact. */
  readonly involvement: number;
  readonly targetInvolvement: number;
  readonly slices: number;
  readonly rows: number;
  readonly cols: number;
  /** [between slices, between rows, between cols] in mm. */
  readonly spacing: readonly number[];
  readonly lungVoxels: { readonly left: number; readonly right: number };
  readonly infectedVoxels: number;
  readonly seed: number;
  /** Where the scan is, relative to the output folder. */
  readonly path: string;
}

export interface TruthManifest {
  readonly format: 'covsev-phantom-truth';
  readonly version: 1;
  readonly layout: Layout;
  readonly seed: number;
  readonly scans: readonly TruthEntry[];
}

export interface CohortProgress {
  readonly done: number;
  readonly total: number;
  readonly scan: TruthEntry;
}

export interface WriteCohortOptions extends CohortOptions {
  readonly layout: Layout;
  readonly out: string;
  readonly onProgress?: (progress: CohortProgress) => void;
}

/**
 * Makes `out` ready: creates it, or clears the entries a previous phantom output left there.
 * Refuses a non-empty folder that is not a phantom output.
 */
async function prepareOut(out: string): Promise<void> {
  let entries: string[];
  try {
    const s = await stat(out);
    if (!s.isDirectory()) throw new CovsevInputError(out, 'output path exists and is not a folder');
    entries = await readdir(out);
  } catch (error) {
    if (error instanceof CovsevInputError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      await mkdir(out, { recursive: true });
      return;
    }
    throw new CovsevInputError(out, `cannot use output folder: ${(error as Error).message}`, { cause: error });
  }
  if (entries.length === 0) return;
  if (!entries.includes(TRUTH_FILE)) {
    throw new CovsevInputError(
      out,
      `output folder is not empty and holds no ${TRUTH_FILE} (not a phantom output); choose an empty or new folder`,
    );
  }
  const owned = new Set<string>([TRUTH_FILE, 'train', 'val', 'test', LABEL_FILES.train, LABEL_FILES.val, ...CTSEG_FOLDERS]);
  for (const entry of entries) if (owned.has(entry)) await rm(join(out, entry), { recursive: true, force: true });
}

function truthEntry(plan: PlannedScan, scan: PhantomScan, path: string): TruthEntry {
  const [slices, rows, cols] = scan.ct.shape;
  return {
    name: plan.name,
    split: plan.split,
    category: scan.label,
    trueCategory: scan.trueCategory,
    labelFlipped: scan.labelFlipped,
    involvement: scan.involvement,
    targetInvolvement: scan.targetInvolvement,
    slices,
    rows,
    cols,
    spacing: [...scan.ct.spacing],
    lungVoxels: scan.lungVoxels,
    infectedVoxels: scan.infectedVoxels,
    seed: plan.seed,
    path,
  };
}

/** Writes the slices of a scan as `<k>.jpg`, windowed like COV19-CT-DB. */
export async function writeJpgSlices(folder: string, scan: PhantomScan, concurrency = 4): Promise<void> {
  await mkdir(folder, { recursive: true });
  const grey = applyHuWindow(scan.ct, HU_WINDOWS.cov19ctdb);
  const [slices, rows, cols] = grey.shape;
  const plane = rows * cols;
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let k = next++; k < slices; k = next++) {
      const pixels = grey.data.subarray(k * plane, (k + 1) * plane);
      await sharp(pixels, { raw: { width: cols, height: rows, channels: 1 } })
        .toColourspace('b-w')
        .jpeg({ quality: JPEG_QUALITY })
        .toFile(join(folder, `${k}.jpg`));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, slices) }, worker));
}

/** Writes the four COVID-19-CT-Seg files of one scan. */
export async function writeCtSegScan(out: string, name: string, scan: PhantomScan): Promise<void> {
  const combined = new Uint8Array(scan.lungMask.data.length);
  const lung = scan.lungMask.data;
  const infection = scan.infectionMask.data;
  for (let i = 0; i < combined.length; i++) combined[i] = (infection[i] as number) > 0 ? 3 : (lung[i] as number);
  const { shape, spacing, affine } = scan.ct;
  const both = makeVolume({ data: combined, shape, spacing, affine, intensity: 'label' });
  const file = `${name}.nii.gz`;
  await writeNifti(join(out, 'ct_scans', file), scan.ct);
  await writeNifti(join(out, 'lung_mask', file), scan.lungMask);
  await writeNifti(join(out, 'infection_mask', file), scan.infectionMask);
  await writeNifti(join(out, 'lung_and_infection_mask', file), both);
}

/** Default names: `ct_scan_<i>` for COV19-CT-DB, `phantom_<iii>` (1-based) for CT-Seg. */
export function defaultName(layout: Layout): (index: number) => string {
  return layout === 'ct-seg' ? (i) => `phantom_${String(i + 1).padStart(3, '0')}` : (i) => `ct_scan_${i}`;
}

/** Plans, generates and writes a cohort; returns its truth manifest (also written to disk). */
export async function writeCohort(options: WriteCohortOptions): Promise<TruthManifest> {
  if (!(LAYOUTS as readonly string[]).includes(options.layout)) {
    throw new RangeError(`unknown layout "${options.layout}"; known: ${LAYOUTS.join(', ')}`);
  }
  const plan = planCohort({ ...options, name: options.name ?? defaultName(options.layout) });
  const out = options.out;
  await prepareOut(out);
  const entries: TruthEntry[] = [];
  const labels: Record<'train' | 'val', { name: string; category: Category }[]> = { train: [], val: [] };
  for (const planned of plan) {
    const scan = generateScan(planned.spec, planned.seed);
    let path: string;
    if (options.layout === 'cov19-ct-db') {
      path = planned.split === 'test' ? join('test', planned.name) : join(planned.split, classFolder(scan.label), planned.name);
      await writeJpgSlices(join(out, path), scan);
      if (planned.split !== 'test') labels[planned.split].push({ name: planned.name, category: scan.label });
    } else {
      path = join('ct_scans', `${planned.name}.nii.gz`);
      await writeCtSegScan(out, planned.name, scan);
    }
    const entry = truthEntry(planned, scan, path.split('\\').join('/'));
    entries.push(entry);
    options.onProgress?.({ done: entries.length, total: plan.length, scan: entry });
  }
  if (options.layout === 'cov19-ct-db') {
    await writeLabelCsv(join(out, LABEL_FILES.train), labels.train);
    await writeLabelCsv(join(out, LABEL_FILES.val), labels.val);
  }
  const manifest: TruthManifest = {
    format: 'covsev-phantom-truth',
    version: 1,
    layout: options.layout,
    seed: options.seed,
    scans: entries,
  };
  await writeFileAtomic(join(out, TRUTH_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}
