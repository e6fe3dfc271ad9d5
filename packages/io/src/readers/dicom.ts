/**
 * DICOM CT: a series folder (one file per slice) or a single file, parsed with daikon.
 *
 * - Every regular file of the folder is looked at (subfolders are not searched). Files that do
 *   not look like DICOM (no "DICM" marker at byte 128 and no bare dataset start) are stray and
 *   skipped, as are DICOMDIRs and other DICOM objects without pixel data (the latter with a
 *   warning). No DICOM file at all is an error.
 * - Slices are grouped by SeriesInstanceUID. With several series, the one with the most slices
 *   is read and a warning lists the others (choose with `seriesInstanceUid`).
 * - Slices are ordered by ImagePositionPatient projected on the slice normal
 *   (row cosine x column cosine of ImageOrientationPatient), ties by InstanceNumber; without
 *   positions, by InstanceNumber (with a warning).
 * - Values: HU = stored * RescaleSlope + RescaleIntercept (stored values masked / sign-extended
 *   to BitsStored; MONOCHROME1 is not inverted, inversion is for display only). Int16Array when
 *   slope and intercept are integers and the values fit, Int32Array when integral but wider,
 *   Float32Array otherwise. `intensity` is 'hu' for Modality CT, 'unknown' otherwise.
 * - Geometry (world RAS+, see volume.ts): the affine's columns are the row cosine x column
 *   spacing, the column cosine x row spacing, and the mean step between consecutive slice
 *   positions (so a gantry tilt stays in the affine as a shear), translated to the first slice's
 *   position; LPS is converted to RAS by negating x and y. `spacing` is
 *   [distance between slice planes along the normal, PixelSpacing[0] (rows), PixelSpacing[1]
 *   (cols)]; a single slice uses SpacingBetweenSlices, else SliceThickness, else 1.
 * - Transfer syntaxes: whatever daikon decodes (implicit/explicit little, explicit big endian,
 *   deflate, RLE, JPEG lossless, JPEG baseline, JPEG-LS, JPEG 2000). RLE, JPEG lossless and
 *   JPEG-LS lossless decode exactly; daikon's JPEG 2000 decoder is off by 1 on some pixels even
 *   for the lossless syntax, which is reported through `onWarning`. Multi-frame (enhanced) files
 *   and colour images are refused.
 */
import { open, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Image as DaikonImage } from 'daikon';
import { CovsevInputError } from '../errors.js';
import { cross, dot, scale, sub, unit, type Vec3 } from '../geometry/affine.js';
import { type Affine, type Intensity, makeVolume, type Spacing3, type Volume } from '../volume.js';
import { SUPPORTED_TRANSFER_SYNTAXES, walkDicom } from './dicomStructure.js';
import { HOST_LITTLE_ENDIAN, swapBytes } from './nifti.js';
import type { ReadOptions, VolumeReader } from './reader.js';
import { checkFinite, checkVolumeBytes, describeFsError, notRegularProblem, readRegularFile } from './safeRead.js';

/** Options of the DICOM readers. */
export interface DicomReadOptions extends ReadOptions {
  /** Read this series when the folder holds several (default: the series with the most slices). */
  readonly seriesInstanceUid?: string;
}

/** What covsev needs of one DICOM image, read from its header. */
interface DicomSlice {
  readonly file: string;
  readonly seriesUid: string;
  readonly seriesNumber: number | undefined;
  readonly seriesDescription: string | undefined;
  readonly instanceNumber: number | undefined;
  readonly rows: number;
  readonly cols: number;
  readonly bitsAllocated: 8 | 16 | 32;
  readonly bitsStored: number;
  readonly signed: boolean;
  readonly slope: number;
  readonly intercept: number;
  readonly position: Vec3 | undefined;
  /** Row cosine then column cosine (LPS), unnormalised as stored. */
  readonly orientation: readonly number[] | undefined;
  /** [between rows, between cols] in mm. */
  readonly pixelSpacing: readonly [number, number] | undefined;
  readonly sliceThickness: number | undefined;
  readonly spacingBetweenSlices: number | undefined;
  readonly modality: string | undefined;
  readonly rescaleType: string | undefined;
  readonly transferSyntax: string | undefined;
}

type Described = { kind: 'image'; slice: DicomSlice } | { kind: 'no-pixels'; dicomdir: boolean };

const TAG = {
  mediaStorageSopClass: '00020002',
  transferSyntax: '00020010',
  sopClass: '00080016',
  modality: '00080060',
  seriesDescription: '0008103E',
  sliceThickness: '00180050',
  spacingBetweenSlices: '00180088',
  imagerPixelSpacing: '00181164',
  seriesUid: '0020000E',
  seriesNumber: '00200011',
  instanceNumber: '00200013',
  position: '00200032',
  orientation: '00200037',
  samplesPerPixel: '00280002',
  photometric: '00280004',
  frames: '00280008',
  rows: '00280010',
  cols: '00280011',
  pixelSpacing: '00280030',
  bitsAllocated: '00280100',
  bitsStored: '00280101',
  pixelRepresentation: '00280103',
  intercept: '00281052',
  slope: '00281053',
  rescaleType: '00281054',
  pixelData: '7FE00010',
} as const;

const DICOMDIR_SOP_CLASS = '1.2.840.10008.1.3.10';
/** JPEG 2000 (lossless-only and lossy): daikon's decoder is not bit-exact (values off by 1). */
const JPEG_2000_SYNTAXES = new Set(['1.2.840.10008.1.2.4.90', '1.2.840.10008.1.2.4.91']);
/** ImageOrientationPatient of slices of one series may differ by this much (rounding). */
const ORIENTATION_TOLERANCE = 1e-3;
/** Two slices closer than this (mm, along the normal) are at the same position. */
const SAME_POSITION_MM = 1e-3;
/** How many files `canRead` sniffs in a folder. */
const CAN_READ_SNIFF_LIMIT = 32;

/**
 * Reads the DICOM series in `folder` (a single file is read with `readDicomFile`). See the module
 * comment for what is skipped, how slices are ordered, and the geometry.
 */
export async function readDicomSeries(folder: string, options: DicomReadOptions = {}): Promise<Volume> {
  const info = await statOrThrow(folder);
  if (info.isFile()) return readDicomFile(folder, options);
  if (!info.isDirectory()) throw new CovsevInputError(folder, notRegularProblem(info, 'DICOM file or series folder'));
  const warn = warner(options);
  const { files, subfolders } = await listFiles(folder);
  const daikon = await loadDaikon();

  // Pass 1: headers only.
  const slices: DicomSlice[] = [];
  const stray: string[] = [];
  const withoutPixels: string[] = [];
  let dicomdirs = 0;
  for (const file of files) {
    const bytes = await readBytes(file);
    if (!looksLikeDicom(bytes)) {
      stray.push(basename(file));
      continue;
    }
    const described = describeImage(file, parseDicom(daikon, file, bytes));
    if (described.kind === 'image') slices.push(described.slice);
    else if (described.dicomdir) dicomdirs++;
    else {
      // A structurally broken file is refused, not skipped as an object without an image.
      const problem = walkDicom(bytes).problem;
      if (problem !== undefined && !problem.startsWith('no pixel data element')) throw new CovsevInputError(file, problem);
      withoutPixels.push(basename(file));
    }
  }
  if (slices.length === 0) {
    const hint =
      subfolders > 0 ? `; it has ${subfolders} subfolder(s), which are not searched: pass the series folder itself` : '';
    if (withoutPixels.length > 0) {
      throw new CovsevInputError(
        folder,
        `no pixel data: ${withoutPixels.length} DICOM file(s) but none holds an image (${listSome(withoutPixels)})`,
      );
    }
    if (dicomdirs > 0) {
      throw new CovsevInputError(folder, `no DICOM images, only a DICOMDIR (an index of other folders)${hint}`);
    }
    const looked =
      files.length === 0 ? 'the folder holds no files' : `${files.length} file(s) looked at, e.g. ${listSome(stray)}`;
    throw new CovsevInputError(folder, `no DICOM files in the folder (${looked})${hint}`);
  }
  if (withoutPixels.length > 0) {
    warn(`${folder}: skipped ${withoutPixels.length} DICOM file(s) without pixel data (${listSome(withoutPixels)})`);
  }

  const series = chooseSeries(folder, slices, options.seriesInstanceUid, warn);
  checkSameSize(folder, series);
  warnIfInexact(folder, series, warn);
  const geometry = seriesGeometry(folder, series, warn);

  // Pass 2: pixels of the chosen series, in slice order.
  const order = geometry.order;
  const [rows, cols] = [order[0]?.rows ?? 0, order[0]?.cols ?? 0];
  const output = allocateOutput(folder, order, rows * cols, options);
  for (let z = 0; z < order.length; z++) {
    const slice = order[z] as DicomSlice;
    const bytes = await readBytes(slice.file);
    const image = parseDicom(daikon, slice.file, bytes);
    decodeInto(slice, image, output.data, z * rows * cols, bytes);
    options.onProgress?.(z + 1, order.length);
  }
  const data = output.finish();
  checkFinite(folder, data, options, warn);
  return makeVolume({
    data,
    shape: [order.length, rows, cols],
    spacing: geometry.spacing,
    affine: geometry.affine,
    intensity: intensityOf(order),
    source: folder,
  });
}

/** Reads one DICOM file as a volume of one slice. */
export async function readDicomFile(path: string, options: DicomReadOptions = {}): Promise<Volume> {
  const warn = warner(options);
  const bytes = await readBytes(path);
  if (bytes.length === 0) throw new CovsevInputError(path, 'empty file (0 bytes), not a DICOM file');
  if (!looksLikeDicom(bytes)) throw new CovsevInputError(path, 'not a DICOM file (no "DICM" marker at byte 128)');
  const daikon = await loadDaikon();
  const image = parseDicom(daikon, path, bytes);
  const described = describeImage(path, image);
  if (described.kind !== 'image') {
    throw new CovsevInputError(
      path,
      described.dicomdir
        ? 'is a DICOMDIR (an index), not an image: read its series folder'
        : (walkDicom(bytes).problem ?? 'no pixel data element (7FE0,0010) that daikon could read'),
    );
  }
  const slice = described.slice;
  warnIfInexact(path, [slice], warn);
  const geometry = seriesGeometry(path, [slice], warn);
  const output = allocateOutput(path, [slice], slice.rows * slice.cols, options);
  decodeInto(slice, image, output.data, 0, bytes);
  const data = output.finish();
  checkFinite(path, data, options, warn);
  options.onProgress?.(1, 1);
  return makeVolume({
    data,
    shape: [1, slice.rows, slice.cols],
    spacing: geometry.spacing,
    affine: geometry.affine,
    intensity: intensityOf([slice]),
    source: path,
  });
}

/** Reads a folder holding a DICOM series, or a single DICOM file. */
export const dicomSeriesReader: VolumeReader = {
  name: 'dicom',
  async canRead(path: string): Promise<boolean> {
    try {
      const info = await stat(path);
      if (info.isFile()) return looksLikeDicom(await readHead(path));
      if (!info.isDirectory()) return false;
      const { files } = await listFiles(path);
      for (const file of files.slice(0, CAN_READ_SNIFF_LIMIT)) {
        if (looksLikeDicom(await readHead(file))) return true;
      }
      return false;
    } catch {
      return false;
    }
  },
  read(path: string, options?: DicomReadOptions): Promise<Volume> {
    return readDicomSeries(path, options);
  },
};

// ---------------------------------------------------------------------------------------------
// Files

type Daikon = typeof import('daikon');
let daikonModule: Promise<Daikon> | undefined;

/** daikon (and its JPEG decoders) load only when a DICOM is actually read. */
function loadDaikon(): Promise<Daikon> {
  daikonModule ??= import('daikon').then((module) => module.default);
  return daikonModule;
}

async function statOrThrow(path: string) {
  try {
    return await stat(path);
  } catch (error) {
    throw new CovsevInputError(path, describeFsError(error, 'DICOM file'), { cause: error });
  }
}

/** A regular file's bytes (a FIFO or a device is refused, not waited on). */
function readBytes(path: string): Promise<Uint8Array> {
  return readRegularFile(path, 'DICOM file');
}

/** The first 132 bytes (preamble and "DICM" marker). */
async function readHead(path: string): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const head = new Uint8Array(132);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** Regular files of a folder (following links), in natural name order, and how many subfolders it has. */
async function listFiles(folder: string): Promise<{ files: string[]; subfolders: number }> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(folder, { withFileTypes: true });
  } catch (error) {
    throw new CovsevInputError(folder, `cannot list DICOM folder: ${describeFsError(error, 'folder')}`, { cause: error });
  }
  const files: string[] = [];
  let subfolders = 0;
  for (const entry of entries) {
    const path = join(folder, entry.name);
    let isFile = entry.isFile();
    let isDirectory = entry.isDirectory();
    if (entry.isSymbolicLink()) {
      const target = await stat(path).catch(() => undefined);
      isFile = target?.isFile() ?? false;
      isDirectory = target?.isDirectory() ?? false;
    }
    if (isFile) files.push(path);
    else if (isDirectory) subfolders++;
  }
  files.sort((a, b) => basename(a).localeCompare(basename(b), 'en', { numeric: true }));
  return { files, subfolders };
}

/**
 * True when the bytes start like a DICOM file: the "DICM" marker after the 128-byte preamble,
 * or (old files without preamble) a little-endian group 0002/0008 tag at byte 0 followed by an
 * explicit VR or a short implicit length.
 */
export function looksLikeDicom(bytes: Uint8Array): boolean {
  if (bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d) {
    return true;
  }
  if (bytes.length < 8) return false;
  const group = (bytes[0] as number) | ((bytes[1] as number) << 8);
  if (group !== 0x0002 && group !== 0x0008) return false;
  const vr = String.fromCharCode(bytes[4] as number, bytes[5] as number);
  if (/^[A-Z]{2}$/.test(vr)) return true;
  const length = new DataView(bytes.buffer, bytes.byteOffset, 8).getUint32(4, true);
  return length > 0 && length < 1024;
}

function parseDicom(daikon: Daikon, path: string, bytes: Uint8Array): DaikonImage {
  // daikon slices `view.buffer` by absolute offsets: give it a buffer of its own.
  const buffer =
    bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer
      ? bytes.buffer
      : bytes.slice().buffer;
  let image: DaikonImage | null;
  daikon.Series.parserError = null;
  let failure: unknown;
  try {
    image = daikon.Series.parseImage(new DataView(buffer));
    if (image === null) failure = daikon.Series.parserError ?? new Error('unknown parser error');
  } catch (error) {
    image = null;
    failure = error;
  }
  if (image === null) {
    // Say what is wrong with the file (daikon's own errors are about its internals).
    const problem = walkDicom(bytes).problem;
    throw new CovsevInputError(
      path,
      `unreadable DICOM file: ${problem ?? `corrupt DICOM file: its elements look sound but the parser failed (${messageOf(failure)})`}`,
      { cause: failure },
    );
  }
  return image;
}

// ---------------------------------------------------------------------------------------------
// Header values

function values(image: DaikonImage, id: string): unknown[] | undefined {
  const value = image.tags[id]?.value;
  return Array.isArray(value) && value.length > 0 ? value : undefined;
}

function numberAt(image: DaikonImage, id: string, index = 0): number | undefined {
  const value = values(image, id)?.[index];
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number.parseFloat(value) : Number.NaN;
  return Number.isFinite(n) ? n : undefined;
}

function numbers(image: DaikonImage, id: string, count: number): number[] | undefined {
  const found = values(image, id);
  if (found === undefined || found.length < count) return undefined;
  const out = found.slice(0, count).map((v) => (typeof v === 'number' ? v : Number.parseFloat(String(v))));
  return out.every(Number.isFinite) ? out : undefined;
}

function text(image: DaikonImage, id: string): string | undefined {
  const found = values(image, id);
  if (found === undefined) return undefined;
  const joined = found.map(String).join('\\').trim();
  return joined === '' ? undefined : joined;
}

/** Reads what covsev needs from the header, refusing images it cannot turn into CT slices. */
function describeImage(file: string, image: DaikonImage): Described {
  const sopClass = text(image, TAG.mediaStorageSopClass) ?? text(image, TAG.sopClass);
  const transferSyntax = text(image, TAG.transferSyntax)?.replace(/\0+$/, '');
  const pixelTag = image.tags[TAG.pixelData];
  if (pixelTag === undefined || pixelTag.value === null || pixelTag.value === undefined) {
    return { kind: 'no-pixels', dicomdir: sopClass === DICOMDIR_SOP_CLASS || basename(file).toUpperCase() === 'DICOMDIR' };
  }
  if (transferSyntax !== undefined && !SUPPORTED_TRANSFER_SYNTAXES.has(transferSyntax)) {
    throw new CovsevInputError(
      file,
      `unsupported transfer syntax ${transferSyntax.replace(/[^\x20-\x7e]/g, '?')} (covsev reads implicit/explicit VR little endian, explicit big endian, deflate, RLE, JPEG baseline, JPEG lossless, JPEG-LS and JPEG 2000)`,
    );
  }
  const rows = numberAt(image, TAG.rows) ?? 0;
  const cols = numberAt(image, TAG.cols) ?? 0;
  if (!(rows > 0 && cols > 0)) throw new CovsevInputError(file, `no image size (Rows ${rows}, Columns ${cols})`);
  const samples = numberAt(image, TAG.samplesPerPixel) ?? 1;
  if (samples !== 1) {
    throw new CovsevInputError(
      file,
      `colour image (${samples} samples per pixel, ${text(image, TAG.photometric) ?? 'unknown photometric interpretation'}); covsev reads greyscale CT`,
    );
  }
  const photometric = text(image, TAG.photometric);
  if (photometric === 'PALETTE COLOR') throw new CovsevInputError(file, 'palette colour image; covsev reads greyscale CT');
  const frames = numberAt(image, TAG.frames) ?? 1;
  if (frames > 1) {
    throw new CovsevInputError(
      file,
      `multi-frame DICOM (${frames} frames in one file, e.g. enhanced CT) is not supported; convert it to NIfTI (e.g. with dcm2niix) or to one file per slice`,
    );
  }
  const bitsAllocated = numberAt(image, TAG.bitsAllocated) ?? 16;
  if (bitsAllocated !== 8 && bitsAllocated !== 16 && bitsAllocated !== 32) {
    throw new CovsevInputError(file, `unsupported BitsAllocated ${bitsAllocated} (covsev reads 8, 16 or 32)`);
  }
  const storedTag = numberAt(image, TAG.bitsStored);
  const bitsStored = storedTag !== undefined && storedTag >= 1 && storedTag <= bitsAllocated ? storedTag : bitsAllocated;
  const slope = numberAt(image, TAG.slope);
  const spacing = numbers(image, TAG.pixelSpacing, 2) ?? numbers(image, TAG.imagerPixelSpacing, 2);
  const position = numbers(image, TAG.position, 3);
  const orientation = numbers(image, TAG.orientation, 6);
  return {
    kind: 'image',
    slice: {
      file,
      seriesUid: text(image, TAG.seriesUid) ?? '',
      seriesNumber: numberAt(image, TAG.seriesNumber),
      seriesDescription: text(image, TAG.seriesDescription),
      instanceNumber: numberAt(image, TAG.instanceNumber),
      rows,
      cols,
      bitsAllocated,
      bitsStored,
      signed: numberAt(image, TAG.pixelRepresentation) === 1,
      // A zero slope is invalid; treat it as absent (1), as daikon and most viewers do.
      slope: slope === undefined || slope === 0 ? 1 : slope,
      intercept: numberAt(image, TAG.intercept) ?? 0,
      position: position === undefined ? undefined : [position[0] as number, position[1] as number, position[2] as number],
      orientation,
      pixelSpacing:
        spacing === undefined || !spacing.every((s) => s > 0) ? undefined : [spacing[0] as number, spacing[1] as number],
      sliceThickness: positive(numberAt(image, TAG.sliceThickness)),
      spacingBetweenSlices: positive(numberAt(image, TAG.spacingBetweenSlices)),
      modality: text(image, TAG.modality),
      rescaleType: text(image, TAG.rescaleType),
      transferSyntax,
    },
  };
}

function positive(x: number | undefined): number | undefined {
  return x !== undefined && x > 0 ? x : undefined;
}

function intensityOf(slices: readonly DicomSlice[]): Intensity {
  const first = slices[0];
  if (first === undefined) return 'unknown';
  const ct = first.modality?.toUpperCase() === 'CT';
  const hu = first.rescaleType === undefined || first.rescaleType.toUpperCase() === 'HU';
  return ct && hu ? 'hu' : 'unknown';
}

// ---------------------------------------------------------------------------------------------
// Series and geometry

function chooseSeries(
  folder: string,
  slices: readonly DicomSlice[],
  wanted: string | undefined,
  warn: (message: string) => void,
): DicomSlice[] {
  const groups = new Map<string, DicomSlice[]>();
  for (const slice of slices) {
    const group = groups.get(slice.seriesUid);
    if (group === undefined) groups.set(slice.seriesUid, [slice]);
    else group.push(slice);
  }
  const ranked = [...groups.entries()].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]));
  const describe = ([uid, group]: [string, DicomSlice[]]) => {
    const first = group[0];
    const label = [first?.seriesNumber === undefined ? '' : `#${first.seriesNumber}`, first?.seriesDescription ?? '']
      .filter((s) => s !== '')
      .join(' ');
    return `${uid === '' ? '(no SeriesInstanceUID)' : uid} (${group.length} slice${group.length === 1 ? '' : 's'}${label === '' ? '' : `, ${label}`})`;
  };
  if (wanted !== undefined) {
    const group = groups.get(wanted);
    if (group === undefined) {
      throw new CovsevInputError(folder, `no series ${wanted} in the folder; it holds: ${ranked.map(describe).join('; ')}`);
    }
    return group;
  }
  const best = ranked[0] as [string, DicomSlice[]];
  if (ranked.length > 1) {
    warn(
      `${folder}: the folder holds ${ranked.length} series; reading the largest, ${describe(best)}. Others: ${ranked
        .slice(1)
        .map(describe)
        .join('; ')} (choose one with seriesInstanceUid)`,
    );
  }
  return best[1];
}

function warnIfInexact(where: string, slices: readonly DicomSlice[], warn: (message: string) => void): void {
  const count = slices.filter((s) => s.transferSyntax !== undefined && JPEG_2000_SYNTAXES.has(s.transferSyntax)).length;
  if (count > 0) {
    warn(
      `${where}: ${count} slice(s) are JPEG 2000 compressed; daikon's JPEG 2000 decoder is not bit-exact (values may be off by 1), even for the lossless syntax`,
    );
  }
}

function checkSameSize(folder: string, slices: readonly DicomSlice[]): void {
  const first = slices[0] as DicomSlice;
  const other = slices.find((s) => s.rows !== first.rows || s.cols !== first.cols);
  if (other !== undefined) {
    throw new CovsevInputError(
      folder,
      `slices of one series differ in size: ${basename(first.file)} is ${first.rows}x${first.cols} (rows x columns) but ${basename(other.file)} is ${other.rows}x${other.cols}`,
    );
  }
}

interface Geometry {
  readonly order: DicomSlice[];
  readonly spacing: Spacing3;
  readonly affine: Affine;
}

/** Slice order, spacing and RAS affine of one series (or of a single file, `where` its path). */
function seriesGeometry(where: string, slices: readonly DicomSlice[], warn: (message: string) => void): Geometry {
  const first = slices[0] as DicomSlice;
  let rowCos: Vec3 = [1, 0, 0];
  let colCos: Vec3 = [0, 1, 0];
  if (first.orientation !== undefined) {
    const o = first.orientation;
    rowCos = unit([o[0] as number, o[1] as number, o[2] as number]) ?? rowCos;
    colCos = unit([o[3] as number, o[4] as number, o[5] as number]) ?? colCos;
    const tilted = slices.find((s) => s.orientation?.some((v, i) => Math.abs(v - (o[i] as number)) > ORIENTATION_TOLERANCE));
    if (tilted !== undefined) {
      throw new CovsevInputError(
        where,
        `slices of one series have different ImageOrientationPatient: ${basename(first.file)} [${o.join(', ')}] but ${basename(tilted.file)} [${tilted.orientation?.join(', ')}] (a localizer mixed in?)`,
      );
    }
  }
  const normal = cross(rowCos, colCos);

  const pixelSpacing = first.pixelSpacing;
  if (pixelSpacing === undefined) warn(`${where}: no PixelSpacing; assuming 1 mm`);
  const [rowMm, colMm] = pixelSpacing ?? [1, 1];
  const differentSpacing = slices.find(
    (s) =>
      s.pixelSpacing !== undefined && (Math.abs(s.pixelSpacing[0] - rowMm) > 1e-4 || Math.abs(s.pixelSpacing[1] - colMm) > 1e-4),
  );
  if (differentSpacing !== undefined) {
    throw new CovsevInputError(
      where,
      `slices of one series have different PixelSpacing: ${basename(first.file)} [${rowMm}, ${colMm}] but ${basename(differentSpacing.file)} [${differentSpacing.pixelSpacing?.join(', ')}]`,
    );
  }

  const nominal = first.spacingBetweenSlices ?? first.sliceThickness ?? 1;
  let order: DicomSlice[];
  let sliceMm: number;
  let step: Vec3;
  const positioned = first.orientation !== undefined && slices.every((s) => s.position !== undefined);
  if (positioned) {
    const keyed = slices.map((slice) => ({ slice, along: dot(slice.position as Vec3, normal) }));
    keyed.sort((a, b) => a.along - b.along || (a.slice.instanceNumber ?? 0) - (b.slice.instanceNumber ?? 0));
    for (let i = 1; i < keyed.length; i++) {
      const [a, b] = [keyed[i - 1], keyed[i]] as [(typeof keyed)[number], (typeof keyed)[number]];
      if (b.along - a.along < SAME_POSITION_MM) {
        throw new CovsevInputError(
          where,
          `two slices share one position (${a.along.toFixed(3)} mm along the slice normal): ${basename(a.slice.file)} and ${basename(b.slice.file)}; the series holds more than one volume (several phases or echoes?) or duplicate files`,
        );
      }
    }
    order = keyed.map((k) => k.slice);
    const n = keyed.length;
    if (n >= 2) {
      const firstPos = (order[0] as DicomSlice).position as Vec3;
      const lastPos = (order[n - 1] as DicomSlice).position as Vec3;
      sliceMm = ((keyed[n - 1]?.along ?? 0) - (keyed[0]?.along ?? 0)) / (n - 1);
      step = scale(sub(lastPos, firstPos), 1 / (n - 1));
      const steps = keyed.slice(1).map((k, i) => k.along - (keyed[i]?.along ?? 0));
      const worst = Math.max(...steps.map((d) => Math.abs(d - sliceMm)));
      // Rounded positions jitter by a few percent; a missing slice makes a step twice as long.
      if (worst > Math.max(0.01, 0.1 * sliceMm)) {
        warn(
          `${where}: uneven slice spacing (steps from ${Math.min(...steps).toFixed(3)} to ${Math.max(...steps).toFixed(3)} mm; missing slices?); the volume assumes a regular ${sliceMm.toFixed(3)} mm grid`,
        );
      }
    } else {
      sliceMm = nominal;
      step = scale(normal, sliceMm);
    }
  } else {
    if (slices.length > 1) {
      warn(`${where}: slices lack ImagePositionPatient/ImageOrientationPatient; ordered by InstanceNumber, ${nominal} mm apart`);
    }
    order = [...slices].sort(
      (a, b) =>
        (a.instanceNumber ?? Number.POSITIVE_INFINITY) - (b.instanceNumber ?? Number.POSITIVE_INFINITY) ||
        basename(a.file).localeCompare(basename(b.file), 'en', { numeric: true }),
    );
    sliceMm = nominal;
    step = scale(normal, sliceMm);
  }
  const origin = (order[0] as DicomSlice).position ?? [0, 0, 0];

  // LPS columns: +col along the row cosine, +row along the column cosine, +slice along `step`.
  const cCol = scale(rowCos, colMm);
  const cRow = scale(colCos, rowMm);
  // LPS -> RAS: negate the x and y rows (the + 0 turns -0 into 0).
  const ras = (v: number) => -v + 0;
  const affine = [
    ...[cCol[0], cRow[0], step[0], origin[0]].map(ras),
    ...[cCol[1], cRow[1], step[1], origin[1]].map(ras),
    ...[cCol[2], cRow[2], step[2], origin[2]],
    ...[0, 0, 0, 1],
  ];
  return { order, spacing: [sliceMm, rowMm, colMm], affine };
}

// ---------------------------------------------------------------------------------------------
// Pixels

interface Output {
  readonly data: Int16Array | Int32Array | Float32Array;
  /** The final array (Int32 data narrowed to Int16 when the values fit). */
  finish(): Int16Array | Int32Array | Float32Array;
}

/** Picks the output type from the stored-value ranges and rescale parameters of all slices. */
function allocateOutput(where: string, slices: readonly DicomSlice[], perSlice: number, options: ReadOptions): Output {
  const count = slices.length * perSlice;
  const first = slices[0] as DicomSlice;
  const integral = slices.every((s) => Number.isInteger(s.slope) && Number.isInteger(s.intercept));
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const s of slices) {
    const [rawLo, rawHi] = s.signed ? [-(2 ** (s.bitsStored - 1)), 2 ** (s.bitsStored - 1) - 1] : [0, 2 ** s.bitsStored - 1];
    const ends = [rawLo * s.slope + s.intercept, rawHi * s.slope + s.intercept];
    lo = Math.min(lo, ...ends);
    hi = Math.max(hi, ...ends);
  }
  const kind = !integral || lo < -(2 ** 31) || hi > 2 ** 31 - 1 ? 'float32' : lo >= -32768 && hi <= 32767 ? 'int16' : 'int32';
  // Checked before anything is allocated: a corrupt Rows/Columns must not ask for gigabytes.
  checkVolumeBytes(
    where,
    `${slices.length} slice(s) of ${first.cols}x${first.rows} ${kind} voxels`,
    count * (kind === 'int16' ? 2 : 4),
    options,
  );
  if (kind === 'float32') {
    const data = new Float32Array(count);
    return { data, finish: () => data };
  }
  if (kind === 'int16') {
    const data = new Int16Array(count);
    return { data, finish: () => data };
  }
  const data = new Int32Array(count);
  return {
    data,
    finish: () => {
      let min = 0;
      let max = 0;
      for (let i = 0; i < data.length; i++) {
        const v = data[i] as number;
        if (v < min) min = v;
        else if (v > max) max = v;
      }
      return min >= -32768 && max <= 32767 ? Int16Array.from(data) : data;
    },
  };
}

/** Decodes one slice's stored values, rescales them, and writes them at `offset`. */
function decodeInto(
  slice: DicomSlice,
  image: DaikonImage,
  out: Int16Array | Int32Array | Float32Array,
  offset: number,
  file: Uint8Array,
): void {
  let raw: ArrayBuffer;
  try {
    raw = image.getRawData();
  } catch (error) {
    const problem = walkDicom(file).problem;
    throw new CovsevInputError(
      slice.file,
      `cannot decode the pixel data (transfer syntax ${image.getTransferSyntax() ?? 'unknown'}): ${problem ?? `corrupt compressed data (${messageOf(error)})`}`,
      { cause: error },
    );
  }
  const count = slice.rows * slice.cols;
  const bytesPer = slice.bitsAllocated / 8;
  if (!(raw instanceof ArrayBuffer) || raw.byteLength < count * bytesPer) {
    const got = raw instanceof ArrayBuffer ? raw.byteLength : 0;
    throw new CovsevInputError(
      slice.file,
      `pixel data is ${got} bytes but ${slice.rows}x${slice.cols} pixels of ${slice.bitsAllocated} bits need ${count * bytesPer} (truncated file?)`,
    );
  }
  let bytes = new Uint8Array(raw, 0, count * bytesPer);
  if (bytesPer > 1 && image.littleEndian !== HOST_LITTLE_ENDIAN) {
    bytes = bytes.slice();
    swapBytes(bytes, bytesPer);
  }
  const stored =
    bytesPer === 1
      ? bytes
      : bytesPer === 2
        ? new Uint16Array(bytes.buffer, bytes.byteOffset, count)
        : new Uint32Array(bytes.buffer, bytes.byteOffset, count);
  const { slope, intercept, signed, bitsStored } = slice;
  const shift = 32 - bitsStored;
  const mask = bitsStored >= 32 ? 0xffffffff : 2 ** bitsStored - 1;
  for (let i = 0; i < count; i++) {
    const u = stored[i] as number;
    const value = signed ? (u << shift) >> shift : bitsStored >= 32 ? u : u & mask;
    out[offset + i] = value * slope + intercept;
  }
}

// ---------------------------------------------------------------------------------------------

function warner(options: DicomReadOptions): (message: string) => void {
  return options.onWarning ?? ((message: string) => process.emitWarning(message, { code: 'COVSEV_DICOM' }));
}

function listSome(names: readonly string[], max = 3): string {
  if (names.length === 0) return 'none';
  return `${names.slice(0, max).join(', ')}${names.length > max ? `, ... (${names.length} in all)` : ''}`;
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (error === null || error === undefined) return 'unknown parser error';
  return String(error);
}
