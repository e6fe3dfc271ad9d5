/**
 * NIfTI-1 and NIfTI-2 single-file volumes (`.nii`, `.nii.gz`).
 *
 * The header is parsed here directly (it is a fixed 348- or 540-byte layout) rather than through
 * nifti-reader-js, because that library prefers the qform over the sform whenever
 * qform_code > sform_code, whereas covsev must agree with nibabel's `get_best_affine`
 * (sform if sform_code != 0, else qform if qform_code != 0, else the centred, x-flipped pixdim
 * diagonal of `get_base_affine`).
 *
 * Axes: NIfTI voxel (i, j, k) is (x, y, z) = (col, row, slice) with i fastest on disk, which is
 * exactly covsev's C-order [slices, rows, cols]; the data are used in file order, never
 * transposed. See volume.ts.
 */
import type { FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { createGunzip } from 'node:zlib';
import { CovsevInputError } from '../errors.js';
import { affineColumnNorm, qformToAffine } from '../geometry/affine.js';
import {
  DATATYPE_BY_CODE,
  INTENSITY_TAGS,
  NIFTI_DATATYPES,
  NIFTI_INTENT_LABEL,
  NIFTI1_LAYOUT,
  NIFTI2_LAYOUT,
  type NiftiDatatypeName,
  type NiftiHeader,
  readNiftiFields,
  readNiftiString,
  UNSUPPORTED_DATATYPES,
} from '../nifti/header.js';
import { type Affine, type Intensity, makeVolume, type Spacing3, type Volume, type VoxelArray } from '../volume.js';
import type { ReadOptions, VolumeReader } from './reader.js';
import { checkFinite, checkVolumeBytes, grouped, openRegularFile } from './safeRead.js';

export { describeFsError } from './safeRead.js';

/** True when this machine stores numbers little-endian (all platforms Node ships for, in practice). */
export const HOST_LITTLE_ENDIAN = endianness() === 'LE';

export {
  COVSEV_INTENT_PREFIX,
  INTENSITY_TAGS,
  NIFTI_DATATYPES,
  NIFTI_INTENT_LABEL,
  type NiftiDatatypeName,
  type NiftiHeader,
} from '../nifti/header.js';

const NIFTI_SUFFIX = /\.nii(\.gz)?$/i;

/** Bytes a header needs at most (NIfTI-2); the header is parsed from this much of the file. */
const HEADER_READ_BYTES = NIFTI2_LAYOUT.headerBytes;
/**
 * Bytes after the voxels that are tolerated (and ignored, as nibabel does). More means the header
 * does not describe the data (wrong dims or datatype), and a .nii.gz stops inflating there.
 */
export const NIFTI_TRAILING_SLACK_BYTES = 1 << 20;
/** Header extensions (between the header and vox_offset) larger than this are a corrupt vox_offset. */
export const NIFTI_MAX_EXTENSION_BYTES = 64 << 20;

/**
 * Reads a `.nii` or `.nii.gz` file (gzip is detected from the bytes, not the suffix).
 *
 * The header is read first (for a .nii.gz, from the first inflated bytes) and the voxel count
 * times the voxel size is checked against `maxBytes` (default 2 GiB) before the voxels are read
 * or inflated; a .nii.gz is inflated as a stream that stops as soon as it holds more than the
 * header promises (plus 1 MiB of slack). Float voxels that are NaN or infinite are refused, or
 * replaced with `nonFinite: 'replace'` (see `ReadOptions`). Only regular files are read: a FIFO
 * named `x.nii` is refused, not waited on.
 */
export async function readNifti(path: string, options: ReadOptions = {}): Promise<Volume> {
  const { handle, size } = await openRegularFile(path, 'NIfTI file');
  let volume: Volume;
  try {
    if (size === 0) throw new CovsevInputError(path, 'empty file (0 bytes), not a NIfTI volume');
    const magic = new Uint8Array(2);
    await readExactly(handle, magic, 0);
    volume = isGzip(magic) ? await readGzipped(path, handle, options) : await readPlain(path, handle, size, options);
  } finally {
    await handle.close();
  }
  options.onProgress?.(1, 1);
  return volume;
}

/** Reads NIfTI-1/NIfTI-2 single-file volumes. */
export const niftiReader: VolumeReader = {
  name: 'nifti',
  async canRead(path: string): Promise<boolean> {
    return NIFTI_SUFFIX.test(path);
  },
  read(path: string, options?: ReadOptions): Promise<Volume> {
    return readNifti(path, options);
  },
};

/** Decodes the (already gunzipped) bytes of a single-file NIfTI. `path` is for messages only. */
export function decodeNifti(path: string, bytes: Uint8Array, options: ReadOptions = {}): Volume {
  const header = parseNiftiHeader(path, bytes);
  const plan = planVoxels(path, header, options);
  const available = Math.max(0, bytes.length - plan.offset);
  checkAmount(path, plan, available);
  // Copy into a fresh, aligned buffer (vox_offset need not be a multiple of the voxel size, and
  // the copy releases the file bytes). (Not bytes.slice: on a Node Buffer that is a view, not a copy.)
  const raw = new Uint8Array(plan.needed);
  raw.set(bytes.subarray(plan.offset, plan.offset + plan.needed));
  return decodeVoxels(path, header, plan, raw, options);
}

/** What the header says about the voxels: where they start, how many bytes, in which type. */
interface VoxelPlan {
  readonly shape: [number, number, number];
  readonly datatypeName: NiftiDatatypeName;
  readonly bytesPerVoxel: number;
  readonly count: number;
  readonly offset: number;
  readonly needed: number;
  /** "4x3x2 int16 voxels", for messages. */
  readonly claim: string;
}

/** Checks the header's datatype, dims, offset and size (against `maxBytes`) before any voxel is read. */
function planVoxels(path: string, header: NiftiHeader, options: ReadOptions): VoxelPlan {
  if (header.magic === 'ni1' || header.magic === 'ni2') {
    throw new CovsevInputError(
      path,
      `is the header of a .hdr/.img pair (magic "${header.magic}"); covsev reads single-file .nii/.nii.gz only`,
    );
  }
  const datatypeName = DATATYPE_BY_CODE.get(header.datatype);
  if (datatypeName === undefined) {
    const name = UNSUPPORTED_DATATYPES[header.datatype] ?? `code ${header.datatype}`;
    throw new CovsevInputError(
      path,
      `unsupported NIfTI datatype ${name}; covsev reads uint8, int8, int16, uint16, int32, float32 and float64`,
    );
  }
  const { bytes: bytesPerVoxel } = NIFTI_DATATYPES[datatypeName];
  const shape = volumeShape(path, header);
  const count = shape[0] * shape[1] * shape[2];
  const claim = `${shape[2]}x${shape[1]}x${shape[0]} ${datatypeName} voxels`;
  const needed = count * bytesPerVoxel;
  checkVolumeBytes(path, `the header says ${claim}`, needed, options);

  // nibabel moves a single-file offset that is too small up to the minimum (352 / 544).
  const minOffset = (header.version === 1 ? NIFTI1_LAYOUT : NIFTI2_LAYOUT).minVoxOffset;
  const offset = header.voxOffset < minOffset ? minOffset : header.voxOffset;
  if (!Number.isInteger(offset))
    throw new CovsevInputError(path, `vox_offset ${header.voxOffset} is not a whole number of bytes`);
  if (offset - minOffset > NIFTI_MAX_EXTENSION_BYTES) {
    throw new CovsevInputError(
      path,
      `vox_offset ${grouped(offset)} leaves more than ${grouped(NIFTI_MAX_EXTENSION_BYTES)} bytes of header extensions before the voxels (a corrupt header?)`,
    );
  }
  return { shape, datatypeName, bytesPerVoxel, count, offset, needed, claim };
}

/** Refuses fewer voxel bytes than the plan needs, or far more. */
function checkAmount(path: string, plan: VoxelPlan, available: number, atLeast = false): void {
  if (available < plan.needed) {
    throw new CovsevInputError(
      path,
      `truncated: the header says ${grouped(plan.needed)} bytes of voxels (${plan.claim} after byte ${grouped(plan.offset)}), the file has ${grouped(available)}`,
    );
  }
  if (available - plan.needed > NIFTI_TRAILING_SLACK_BYTES) {
    throw new CovsevInputError(
      path,
      `more data than the header says: ${plan.claim} (${grouped(plan.needed)} bytes) after byte ${grouped(plan.offset)}, but the file holds ${atLeast ? 'more than ' : ''}${grouped(available)} bytes there (wrong dims or datatype in the header?)`,
    );
  }
}

/** Byte order, scaling, the non-finite check and the geometry, over the voxel bytes `raw` (owned). */
function decodeVoxels(path: string, header: NiftiHeader, plan: VoxelPlan, raw: Uint8Array, options: ReadOptions): Volume {
  const { count, datatypeName, bytesPerVoxel, shape } = plan;
  if (header.littleEndian !== HOST_LITTLE_ENDIAN) swapBytes(raw, bytesPerVoxel);
  let data: VoxelArray = typedArrayOver(datatypeName, raw.buffer, count);

  const scaling = slopeInter(path, header);
  if (scaling !== undefined) {
    const scaled = new Float32Array(count);
    for (let i = 0; i < count; i++) scaled[i] = (data[i] as number) * scaling.slope + scaling.inter;
    data = scaled;
  }
  checkFinite(path, data, options, warner(options));

  const affine = bestAffine(path, header, shape);
  return makeVolume({
    data,
    shape,
    spacing: spacingFromPixdim(header, affine),
    affine,
    intensity: intensityFromHeader(header),
    source: path,
  });
}

function warner(options: ReadOptions): (message: string) => void {
  return options.onWarning ?? ((message: string) => process.emitWarning(message, { code: 'COVSEV_NIFTI' }));
}

/** Reads `into.length` bytes at `position`; fewer is a truncated file. */
async function readExactly(handle: FileHandle, into: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** An uncompressed .nii: the header, then exactly the voxel bytes it describes. */
async function readPlain(path: string, handle: FileHandle, size: number, options: ReadOptions): Promise<Volume> {
  const head = new Uint8Array(Math.min(size, HEADER_READ_BYTES));
  const got = await readExactly(handle, head, 0);
  const header = parseNiftiHeader(path, head.subarray(0, got));
  const plan = planVoxels(path, header, options);
  checkAmount(path, plan, Math.max(0, size - plan.offset));
  const raw = new Uint8Array(plan.needed);
  const read = await readExactly(handle, raw, plan.offset);
  if (read < plan.needed) checkAmount(path, plan, read); // the file shrank while being read
  return decodeVoxels(path, header, plan, raw, options);
}

/**
 * A .nii.gz, inflated as a stream: the header is parsed from the first inflated bytes and checked
 * before more is inflated; the voxels are copied into a buffer of exactly the size the header
 * says, and inflating stops as soon as the stream holds more than that plus the slack.
 */
async function readGzipped(path: string, handle: FileHandle, options: ReadOptions): Promise<Volume> {
  const source = handle.createReadStream({ start: 0, autoClose: false });
  const gunzip = createGunzip();
  source.on('error', (error) => gunzip.destroy(error));
  source.pipe(gunzip);
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let header: NiftiHeader | undefined;
  let plan: VoxelPlan | undefined;
  let raw: Uint8Array | undefined;
  let total = 0;
  const take = (chunk: Uint8Array, at: number) => {
    const p = plan as VoxelPlan;
    const from = Math.max(at, p.offset);
    const to = Math.min(at + chunk.length, p.offset + p.needed);
    if (to > from) (raw as Uint8Array).set(chunk.subarray(from - at, to - at), from - p.offset);
    if (at + chunk.length - p.offset - p.needed > NIFTI_TRAILING_SLACK_BYTES) {
      checkAmount(path, p, at + chunk.length - p.offset, true);
    }
  };
  const start = () => {
    const head = Buffer.concat(pending, pendingBytes);
    pending = [];
    header = parseNiftiHeader(path, head);
    plan = planVoxels(path, header, options);
    raw = new Uint8Array(plan.needed);
    take(head, 0);
  };
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      if (plan === undefined) {
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes >= HEADER_READ_BYTES) start();
      } else take(chunk, total);
      total += chunk.length;
    }
  } catch (error) {
    if (error instanceof CovsevInputError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    if (/unexpected end of file/i.test(message)) {
      const got =
        plan === undefined
          ? ''
          : `; ${grouped(Math.max(0, total - plan.offset))} of the ${grouped(plan.needed)} voxel bytes the header says arrived`;
      throw new CovsevInputError(
        path,
        `truncated .nii.gz: ${message} (the gzip stream ends early; an interrupted download or copy?${got})`,
        { cause: error },
      );
    }
    throw new CovsevInputError(path, `corrupt gzip data: ${message}`, { cause: error });
  } finally {
    source.unpipe(gunzip);
    source.destroy();
    gunzip.destroy();
  }
  if (total === 0) throw new CovsevInputError(path, 'empty file after gunzip, not a NIfTI volume');
  if (plan === undefined) start();
  const p = plan as unknown as VoxelPlan;
  checkAmount(path, p, Math.max(0, total - p.offset));
  return decodeVoxels(path, header as unknown as NiftiHeader, p, raw as unknown as Uint8Array, options);
}

/** Parses the NIfTI-1 (348-byte) or NIfTI-2 (540-byte) header, detecting version and byte order. */
export function parseNiftiHeader(path: string, bytes: Uint8Array): NiftiHeader {
  if (bytes.length < 4) throw new CovsevInputError(path, `only ${bytes.length} bytes, too short for a NIfTI header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const sizeLE = view.getInt32(0, true);
  const sizeBE = view.getInt32(0, false);
  const [v1, v2] = [NIFTI1_LAYOUT.headerBytes, NIFTI2_LAYOUT.headerBytes];
  const version = sizeLE === v1 || sizeBE === v1 ? 1 : sizeLE === v2 || sizeBE === v2 ? 2 : undefined;
  if (version === undefined) {
    throw new CovsevInputError(
      path,
      `not a NIfTI file: wrong magic (header size field is ${sizeLE}, expected 348 for NIfTI-1 or 540 for NIfTI-2)`,
    );
  }
  const layout = version === 1 ? NIFTI1_LAYOUT : NIFTI2_LAYOUT;
  const le = sizeLE === layout.headerBytes;
  const headerSize = layout.headerBytes;
  if (bytes.length < headerSize) {
    throw new CovsevInputError(path, `truncated NIfTI-${version} header: ${bytes.length} of ${headerSize} bytes`);
  }
  return version === 1 ? parseNifti1(path, bytes, le) : parseNifti2(path, bytes, le);
}

function parseNifti1(path: string, bytes: Uint8Array, le: boolean): NiftiHeader {
  const magic = readNiftiString(bytes, NIFTI1_LAYOUT.fields.magic);
  if (magic !== 'n+1' && magic !== 'ni1') {
    throw new CovsevInputError(
      path,
      `wrong magic "${printable(magic)}" at byte 344 (expected "n+1"); an Analyze 7.5 file or a corrupt header?`,
    );
  }
  return readNiftiFields(path, NIFTI1_LAYOUT, bytes, le);
}

function parseNifti2(path: string, bytes: Uint8Array, le: boolean): NiftiHeader {
  const magic = readNiftiString(bytes, NIFTI2_LAYOUT.fields.magic);
  if (magic !== 'n+2' && magic !== 'ni2') {
    throw new CovsevInputError(path, `wrong magic "${printable(magic)}" at byte 4 (expected "n+2")`);
  }
  return readNiftiFields(path, NIFTI2_LAYOUT, bytes, le);
}

/** [slices, rows, cols] = [dim3, dim2, dim1]; refuses anything but 3D (trailing axes of length 1 are fine). */
function volumeShape(path: string, h: NiftiHeader): [number, number, number] {
  const ndim = h.dim[0] ?? 0;
  if (ndim < 1 || ndim > 7) throw new CovsevInputError(path, `invalid dim[0] = ${ndim} (must be 1..7)`);
  const sizes = h.dim.slice(1, ndim + 1);
  const bad = sizes.findIndex((n) => !Number.isInteger(n) || n < 1);
  if (bad >= 0) throw new CovsevInputError(path, `invalid dim[${bad + 1}] = ${sizes[bad]} (axis lengths must be >= 1)`);
  if (ndim < 3) {
    throw new CovsevInputError(path, `is ${ndim}D (dims ${sizes.join('x')}); covsev needs a 3D volume`);
  }
  const extra = sizes.slice(3);
  if (extra.some((n) => n !== 1)) {
    throw new CovsevInputError(
      path,
      `is ${ndim}D with dims ${sizes.join('x')} (${extra.reduce((a, b) => a * b, 1)} volumes); covsev needs a single 3D volume`,
    );
  }
  return [sizes[2] as number, sizes[1] as number, sizes[0] as number];
}

/** The voxel scaling to apply, or undefined for none (slope 0/NaN/inf means unscaled, as in nibabel). */
function slopeInter(path: string, h: NiftiHeader): { slope: number; inter: number } | undefined {
  const slope = h.sclSlope;
  if (slope === 0 || !Number.isFinite(slope)) return undefined;
  const inter = h.sclInter;
  if (!Number.isFinite(inter)) throw new CovsevInputError(path, `valid scl_slope ${slope} but invalid scl_inter ${inter}`);
  if (slope === 1 && inter === 0) return undefined;
  return { slope, inter };
}

/**
 * [slice, row, col] spacing from pixdim[3], pixdim[2], pixdim[1] (absolute values). A pixdim that
 * is unset (0) or not finite falls back to the length of the affine's column, else 1.
 */
function spacingFromPixdim(h: NiftiHeader, affine: Affine): Spacing3 {
  const pick = (n: 1 | 2 | 3) => {
    const value = Math.abs(h.pixdim[n] ?? 0);
    if (Number.isFinite(value) && value > 0) return value;
    const column = affineColumnNorm(affine, n - 1);
    return Number.isFinite(column) && column > 0 ? column : 1;
  };
  return [pick(3), pick(2), pick(1)];
}

/** nibabel's `Nifti1Header.get_best_affine`, row-major 4x4. */
function bestAffine(path: string, h: NiftiHeader, shape: readonly [number, number, number]): Affine {
  if (h.sformCode !== 0) return [...h.srow, 0, 0, 0, 1];
  if (h.qformCode !== 0) return qformAffine(path, h);
  // Analyze-style: x flipped, origin at the centre of the grid (nibabel's shape_zoom_affine).
  const dims = [shape[2], shape[1], shape[0]];
  const zooms = [1, 2, 3].map((n) => h.pixdim[n] ?? 1);
  zooms[0] = -(zooms[0] as number);
  const t = dims.map((n, a) => -((n - 1) / 2) * (zooms[a] as number));
  return [
    zooms[0] as number,
    0,
    0,
    t[0] as number,
    0,
    zooms[1] as number,
    0,
    t[1] as number,
    0,
    0,
    zooms[2] as number,
    t[2] as number,
    0,
    0,
    0,
    1,
  ];
}

/** nibabel's `get_qform`: rotation from the quaternion, zooms from pixdim (qfac flips z). */
function qformAffine(path: string, h: NiftiHeader): Affine {
  const [b, c, d] = h.quatern;
  const w2 = 1 - (b * b + c * c + d * d);
  const threshold = -3 * (h.version === 1 ? 2 ** -23 : Number.EPSILON);
  if (w2 < threshold) {
    throw new CovsevInputError(path, `invalid qform quaternion (b, c, d) = (${b}, ${c}, ${d}): b^2 + c^2 + d^2 > 1`);
  }
  // nibabel resets a qfac other than -1 or 1 to 1 when it loads a file; it refuses negative
  // pixdims, which covsev (like nifti1_io) reads as their absolute values.
  const qfac = h.pixdim[0] === -1 ? -1 : 1;
  const zooms = [Math.abs(h.pixdim[1] ?? 1), Math.abs(h.pixdim[2] ?? 1), Math.abs(h.pixdim[3] ?? 1) * qfac] as const;
  return qformToAffine(w2 < 0 ? 0 : Math.sqrt(w2), h.quatern, zooms, h.qoffset);
}

/** What the header says about the numbers: covsev's own tag, a label intent, or "HU" in the description. */
function intensityFromHeader(h: NiftiHeader): Intensity {
  for (const [intensity, tag] of Object.entries(INTENSITY_TAGS) as [Intensity, string][]) {
    if (h.intentName === tag) return intensity;
  }
  if (h.intentCode === NIFTI_INTENT_LABEL) return 'label';
  if (/\bHU\b|hounsfield/i.test(h.description)) return 'hu';
  return 'unknown';
}

function typedArrayOver(name: NiftiDatatypeName, buffer: ArrayBufferLike, count: number): VoxelArray {
  switch (name) {
    case 'uint8':
      return new Uint8Array(buffer, 0, count);
    case 'int8':
      // covsev has no Int8 volumes: widen losslessly.
      return Int16Array.from(new Int8Array(buffer, 0, count));
    case 'int16':
      return new Int16Array(buffer, 0, count);
    case 'uint16':
      return new Uint16Array(buffer, 0, count);
    case 'int32':
      return new Int32Array(buffer, 0, count);
    case 'float32':
      return new Float32Array(buffer, 0, count);
    case 'float64':
      return new Float64Array(buffer, 0, count);
  }
}

/** Reverses the byte order of each `size`-byte element in place. */
export function swapBytes(bytes: Uint8Array, size: number): void {
  if (size === 1) return;
  for (let i = 0; i + size <= bytes.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a] as number;
      bytes[a] = bytes[b] as number;
      bytes[b] = t;
    }
  }
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}
