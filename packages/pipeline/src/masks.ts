/**
 * Masks (lung or infection, stage 1's output or anyone's) read from NIfTI files and put on the
 * classifier grid, for the mask variants (`lung-cmc`, `infection-cmc`: [mask, CT]) and for the
 * outline of a CAM montage. A mask may be on any grid that covers its scan's field of view: it is
 * resampled to the classifier grid with nearest neighbour (labels stay labels), the same extent
 * as the scan's own resampling. Refused, naming the file:
 *
 * - a mask that is not labels (a value that is not an integer in 0..255);
 * - an affine that is not axis-aligned (an oblique or rotated grid cannot be laid over the
 *   scan's slices voxel by voxel);
 * - an in-plane aspect (rows : cols) that differs from the scan's by more than 2 %: another
 *   field of view, or rows and cols swapped.
 *
 * Also here: `scanFolders`, the scans of a folder of scan folders (a cohort's `test/`).
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CovsevInputError,
  compareScanNames,
  jpgFolderReader,
  jpgSize,
  listSliceFiles,
  makeVolume,
  readVolume,
  resampleVolume,
  type Shape3,
  type Volume,
} from '@covsev/io';
import type { CohortScan } from './stages/loadCohort.js';

/** How far a mask's in-plane aspect may be from its scan's (relative). */
export const MASK_ASPECT_TOLERANCE = 0.02;

/** The shape [slices, rows, cols] of a scan (a JPG slice folder, or any file `readVolume` reads). */
export async function scanShape(scan: string): Promise<Shape3> {
  if (await jpgFolderReader.canRead(scan)) {
    const files = await listSliceFiles(scan);
    const { rows, cols } = await jpgSize(files[0] as string);
    return [files.length, rows, cols];
  }
  return (await readVolume(scan)).shape;
}

/**
 * Checks that `mask` (read from `path`) can be laid over a scan of shape `scan` (see the module
 * comment) and puts it on `grid` (nearest neighbour, uint8 labels).
 */
export function maskOnGrid(mask: Volume, path: string, scan: Shape3, grid: Shape3): Volume<Uint8Array> {
  const labels = new Uint8Array(mask.data.length);
  for (let i = 0; i < mask.data.length; i++) {
    const v = mask.data[i] as number;
    if (!Number.isInteger(v) || v < 0 || v > 255)
      throw new CovsevInputError(path, `is not a mask: voxel ${i} holds ${v} (masks hold integer labels 0..255)`);
    labels[i] = v;
  }
  const a = (i: number): number => Math.abs(mask.affine[i] ?? 0);
  const offDiagonal = [1, 2, 4, 6, 8, 9].map(a);
  const scale = Math.max(a(0), a(5), a(10), 1e-12);
  if (offDiagonal.some((x) => x > 1e-6 * scale))
    throw new CovsevInputError(path, 'has an oblique (rotated) affine: its voxels cannot be matched to the scan slices');
  const [, rows, cols] = mask.shape;
  const [, scanRows, scanCols] = scan;
  const aspect = rows / cols;
  const scanAspect = scanRows / scanCols;
  if (Math.abs(aspect - scanAspect) > MASK_ASPECT_TOLERANCE * scanAspect)
    throw new CovsevInputError(
      path,
      `is ${mask.shape.join('x')} (rows x cols ${rows}x${cols}) and cannot be matched to its scan of ${scan.join('x')} ` +
        `(rows x cols ${scanRows}x${scanCols}): another field of view`,
    );
  const volume = makeVolume({ data: labels, shape: mask.shape, spacing: mask.spacing, affine: mask.affine, intensity: 'label' });
  return resampleVolume(volume, grid, { mode: 'nearest', output: 'same' }) as Volume<Uint8Array>;
}

/** Reads one mask NIfTI and puts it on the classifier grid, checked against its scan (a folder or file). */
export async function readMaskOnGrid(path: string, scan: string, grid: Shape3): Promise<Volume<Uint8Array>> {
  const mask = await readVolume(path);
  return maskOnGrid(mask, path, await scanShape(scan), grid);
}

/** `<dir>/<scan>.nii.gz` (or `.nii`), or undefined. */
async function findMaskFile(dir: string, name: string): Promise<string | undefined> {
  for (const ext of ['.nii.gz', '.nii']) {
    const path = join(dir, `${name}${ext}`);
    const info = await stat(path).catch(() => undefined);
    if (info?.isFile() === true) return path;
  }
  return undefined;
}

/**
 * Every scan's mask from a folder of NIfTI files, one per scan (`<dir>/<scan>.nii.gz` or
 * `.nii`), on the classifier grid, by scan name. A scan without its mask is refused by name.
 */
export async function readMasksOnGrid(
  scans: readonly Pick<CohortScan, 'name' | 'folder'>[],
  dir: string,
  grid: Shape3,
): Promise<Map<string, Volume<Uint8Array>>> {
  const info = await stat(dir).catch(() => undefined);
  if (info?.isDirectory() !== true) throw new CovsevInputError(dir, 'mask folder does not exist');
  const masks = new Map<string, Volume<Uint8Array>>();
  for (const scan of scans) {
    const path = await findMaskFile(dir, scan.name);
    if (path === undefined) throw new CovsevInputError(dir, `has no mask for scan ${scan.name} (expected ${scan.name}.nii.gz)`);
    masks.set(scan.name, await readMaskOnGrid(path, scan.folder, grid));
  }
  return masks;
}

/**
 * The scans of a folder of scan folders (a cohort's `test/`, or any such folder), in natural
 * name order (`ct_scan_2` before `ct_scan_10`), unlabelled. An empty or missing folder is refused.
 */
export async function scanFolders(dir: string): Promise<CohortScan[]> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (error) {
    throw new CovsevInputError(
      dir,
      `cannot list the scan folders: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  if (names.length === 0) throw new CovsevInputError(dir, 'holds no scan folders');
  return names.sort(compareScanNames).map((name) => ({ name, split: 'test', folder: join(dir, name) }));
}
