/**
 * The COVID-19-CT-Seg cohort, stage 1's training data (docs/formats.md, "COVID-19-CT-Seg"):
 *
 * ```
 * <dir>/ct_scans/<name>.nii(.gz)         the CT: HU, or 0..255 scaled from [-1250, 250] HU (Radiopaedia)
 * <dir>/lung_mask/<name>.nii(.gz)        1 left lung, 2 right lung
 * <dir>/infection_mask/<name>.nii(.gz)   1 infection
 * ```
 *
 * `@covsev/phantom` writes this layout (`pnpm phantom -- --layout ct-seg`). A mask is matched to
 * its scan by the same file name, or by the Kaggle copy's naming, where the scans carry `_org_`
 * (and Radiopaedia's `_org_covid-19-pneumonia-...-dcm`) and the masks do not
 * (`coronacases_org_001` <-> `coronacases_001`).
 *
 * Every CT is handed on in HU: a volume whose voxels all lie in 0..255 is one of the dataset's
 * Radiopaedia volumes, already windowed to 0..255 from `HU_WINDOWS.ctseg`, and is mapped back onto
 * that window's HU (`ctScale: 'ctseg-0-255'`), so one HU window (the model card's) serves both.
 *
 * Splits are by scan, never by slice (`splitCtSegScans`), seeded.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CovsevInputError, HU_WINDOWS, Rng, readNifti, type Volume } from '@covsev/io';
import { huVolume } from '../infer/segmentVolume.js';

export const CTSEG_SCANS_DIR = 'ct_scans';
export const CTSEG_LUNG_DIR = 'lung_mask';
export const CTSEG_INFECTION_DIR = 'infection_mask';

/** One scan of the cohort with its masks (all on the scan's grid). */
export interface CtSegScan {
  /** The CT file's name without `.nii` / `.nii.gz`. */
  readonly name: string;
  /** HU (float32 when mapped back from 0..255). */
  readonly ct: Volume;
  /** 1 left lung, 2 right lung, 0 elsewhere. */
  readonly lung: Volume;
  /** 1 infection, 0 elsewhere. */
  readonly infection: Volume;
  /** How the CT file stored its values: HU, or 0..255 from the ctseg window (mapped back to HU here). */
  readonly ctScale: 'hu' | 'ctseg-0-255';
  readonly paths: { readonly ct: string; readonly lung: string; readonly infection: string };
}

export interface LoadCtSegCohortOptions {
  /** Only these scans (by name), in this order; each must exist. Default: every scan, sorted by name. */
  readonly names?: readonly string[];
}

const NIFTI = /\.nii(\.gz)?$/;

/** A scan file's name without its NIfTI extension. */
function stem(file: string): string {
  return file.replace(NIFTI, '');
}

/**
 * The name a scan and its masks share in the Kaggle copy of COVID-19-CT-Seg, where the scans
 * carry `_org_` and the masks do not: `radiopaedia_org_covid-19-pneumonia-10_85902_1-dcm` ->
 * `radiopaedia_10_85902_1`, `coronacases_org_001` -> `coronacases_001`; other names unchanged.
 */
export function ctSegMatchKey(name: string): string {
  return name
    .replace(/_org_covid-19-pneumonia-/, '_')
    .replace(/_org_/, '_')
    .replace(/-dcm$/, '');
}

async function listNifti(folder: string, what: string): Promise<string[]> {
  let isDir = false;
  try {
    isDir = (await stat(folder)).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir)
    throw new CovsevInputError(
      folder,
      `no such folder: a COVID-19-CT-Seg cohort has ${what} there (ct_scans/, lung_mask/, infection_mask/ of <name>.nii.gz files)`,
    );
  return (await readdir(folder)).filter((f) => NIFTI.test(f)).sort();
}

/** The mask file of `name` in `files` (same name, else the Kaggle match key), or undefined. */
function findMask(name: string, files: readonly string[]): string | undefined {
  const exact = files.find((f) => stem(f) === name);
  if (exact !== undefined) return exact;
  const key = ctSegMatchKey(name);
  return files.find((f) => ctSegMatchKey(stem(f)) === key);
}

/** True when every voxel lies in 0..255 (a Radiopaedia volume, already windowed), never for HU CT with air. */
function isScaled0to255(data: ArrayLike<number>): boolean {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min >= 0 && max <= 255;
}

function sameShape(a: Volume, b: Volume): boolean {
  return a.shape.every((n, i) => n === b.shape[i]);
}

/**
 * Reads a COVID-19-CT-Seg cohort (see the file comment). Errors (`CovsevInputError`): a missing
 * folder, no scans, a scan without its lung or infection mask (naming the scan and the folder
 * searched), a mask whose shape differs from its scan's (naming both files and both shapes).
 */
export async function loadCtSegCohort(dir: string, options: LoadCtSegCohortOptions = {}): Promise<CtSegScan[]> {
  const scanDir = join(dir, CTSEG_SCANS_DIR);
  const lungDir = join(dir, CTSEG_LUNG_DIR);
  const infectionDir = join(dir, CTSEG_INFECTION_DIR);
  const scanFiles = await listNifti(scanDir, 'the CT scans');
  const lungFiles = await listNifti(lungDir, 'the lung masks');
  const infectionFiles = await listNifti(infectionDir, 'the infection masks');
  if (scanFiles.length === 0) throw new CovsevInputError(scanDir, 'holds no .nii or .nii.gz scans');
  let chosen = scanFiles;
  if (options.names !== undefined) {
    chosen = options.names.map((name) => {
      const file = scanFiles.find((f) => stem(f) === name);
      if (file === undefined)
        throw new CovsevInputError(scanDir, `has no scan ${name} (scans: ${scanFiles.map(stem).join(', ')})`);
      return file;
    });
  }
  const scans: CtSegScan[] = [];
  for (const file of chosen) {
    const name = stem(file);
    const ctPath = join(scanDir, file);
    const lungFile = findMask(name, lungFiles);
    const infectionFile = findMask(name, infectionFiles);
    if (lungFile === undefined || infectionFile === undefined) {
      const missing = [lungFile === undefined ? lungDir : undefined, infectionFile === undefined ? infectionDir : undefined]
        .filter((d) => d !== undefined)
        .join(' and ');
      throw new CovsevInputError(ctPath, `scan ${name} has no mask in ${missing} (expected ${name}.nii.gz there)`);
    }
    const paths = { ct: ctPath, lung: join(lungDir, lungFile), infection: join(infectionDir, infectionFile) };
    const raw = await readNifti(paths.ct);
    const lung = await readNifti(paths.lung);
    const infection = await readNifti(paths.infection);
    for (const [mask, path] of [
      [lung, paths.lung],
      [infection, paths.infection],
    ] as const) {
      if (!sameShape(mask, raw))
        throw new CovsevInputError(
          path,
          `mask shape [${mask.shape.join(', ')}] differs from its scan ${paths.ct} [${raw.shape.join(', ')}] ([slices, rows, cols])`,
        );
    }
    const scaled = isScaled0to255(raw.data);
    scans.push({
      name,
      // A 0..255 volume of the ctseg window mapped back onto HU (float32).
      ct: scaled ? huVolume(raw, { kind: 'windowed', window: HU_WINDOWS.ctseg }) : raw,
      lung,
      infection,
      ctScale: scaled ? 'ctseg-0-255' : 'hu',
      paths,
    });
  }
  return scans;
}

export interface CtSegSplit {
  readonly train: string[];
  readonly val: string[];
}

export interface SplitCtSegOptions {
  readonly seed: number;
  /** Validation scans; default round(20 % of the scans), at least 1 when there are two or more. */
  readonly valScans?: number;
}

/**
 * A seeded split of scan names into train and validation, by scan (a scan's slices never sit on
 * both sides). The same names and seed give the same split; each side keeps the input order.
 */
export function splitCtSegScans(names: readonly string[], options: SplitCtSegOptions): CtSegSplit {
  const n = names.length;
  if (new Set(names).size !== n) throw new RangeError(`splitCtSegScans: scan names repeat (${names.join(', ')})`);
  const valScans = options.valScans ?? (n >= 2 ? Math.max(1, Math.round(0.2 * n)) : 0);
  if (!(Number.isInteger(valScans) && valScans >= 0 && valScans < n))
    throw new RangeError(`splitCtSegScans: valScans must be an integer in 0..${n - 1} for ${n} scans, got ${valScans}`);
  const order = Rng.fromSeed(options.seed).permutation(n);
  const val = new Set(order.slice(0, valScans));
  return {
    train: names.filter((_, i) => !val.has(i)),
    val: names.filter((_, i) => val.has(i)),
  };
}
