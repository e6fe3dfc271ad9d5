/**
 * Writes a volume as a single-file NIfTI-1 (`.nii`, or gzipped when the path ends in `.gz`).
 *
 * - datatype from the TypedArray (uint8, int16, uint16, int32, float32, float64), little-endian;
 * - dim = [3, cols, rows, slices], pixdim[1..3] = spacing (col, row, slice), xyzt_units = mm;
 * - sform = the volume's affine (sform_code 1, scanner anatomical) and a qform derived from it
 *   the way nibabel's `set_qform` does (qform_code 1; shears, which a qform cannot hold, are
 *   dropped from the qform only);
 * - scl_slope 1, scl_inter 0 (the stored values are the values);
 * - the intensity kind goes into intent_name as `covsev:<kind>` (and label volumes get
 *   intent_code NIFTI_INTENT_LABEL), so `readNifti` gives it back.
 *
 * The write is atomic and durable (`replaceFileAtomic`): the bytes stream into
 * `<path>.tmp-<pid>-<random>`, which is fsynced, renamed over `path`, and the folder fsynced; on
 * any failure the temporary file is removed and an existing file at `path` is left untouched.
 * Parent folders are created.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { replaceFileAtomic } from '../atomic.js';
import { CovsevInputError } from '../errors.js';
import { affineLinear, det3, qformFromAffine } from '../geometry/affine.js';
import {
  INTENSITY_TAGS,
  NIFTI_DATATYPES,
  NIFTI_INTENT_LABEL,
  NIFTI_UNITS_MM,
  NIFTI_XFORM_SCANNER_ANAT,
  NIFTI1_LAYOUT,
  type NiftiDatatypeName,
  type NiftiField,
  writeNiftiNumbers,
  writeNiftiString,
} from '../nifti/header.js';
import { HOST_LITTLE_ENDIAN, swapBytes } from '../readers/nifti.js';
import type { Volume, VoxelArray } from '../volume.js';

/** The qform written for an affine (nibabel's `set_qform`); lives in geometry/affine.ts. */
export { qformFromAffine };

export interface WriteNiftiOptions {
  /** Header `descrip` (at most 79 bytes of UTF-8 are kept). Default: "covsev". */
  readonly description?: string;
  /** gzip level 1..9 for `.nii.gz` (default 6). */
  readonly gzipLevel?: number;
}

/** Header plus the 4-byte extension flag (no extensions). */
const VOX_OFFSET = NIFTI1_LAYOUT.minVoxOffset;
/** Data are streamed in chunks of this many bytes. */
const CHUNK_BYTES = 1 << 22;
/** NIfTI-1 stores each axis length as int16. */
const MAX_DIM = 32767;

/** Writes `volume` to `path` (`.nii` or `.nii.gz`) atomically. */
export async function writeNifti(path: string, volume: Volume, options: WriteNiftiOptions = {}): Promise<void> {
  const data = volume.data;
  const datatype = datatypeOf(path, data);
  checkVolume(path, volume, data);
  const header = buildNiftiHeader(volume, datatype, options.description ?? 'covsev');
  const gzip = /\.gz$/i.test(path);

  try {
    await mkdir(dirname(path), { recursive: true });
  } catch (error) {
    throw fsError(path, 'cannot create the parent folder', error);
  }
  try {
    await replaceFileAtomic(path, async (tmp) => {
      const source = Readable.from(voxelChunks(header, data));
      const sink = createWriteStream(tmp, { flags: 'wx' });
      if (gzip) await pipeline(source, createGzip({ level: options.gzipLevel ?? 6 }), sink);
      else await pipeline(source, sink);
    });
  } catch (error) {
    // File-system failures (ENOSPC, EACCES, ...) are the user's to fix: name the file. Anything
    // else (a bug, a throwing data source) propagates as it is.
    if (isSystemError(error)) throw fsError(path, 'cannot write NIfTI', error);
    throw error;
  }
}

/** The 352 bytes before the voxel data: the NIfTI-1 header and an empty extension flag. */
export function buildNiftiHeader(volume: Volume, datatype: NiftiDatatypeName, description: string): Uint8Array {
  const bytes = new Uint8Array(VOX_OFFSET);
  const v = new DataView(bytes.buffer);
  const le = true;
  const f = NIFTI1_LAYOUT.fields;
  const set = (field: NiftiField, ...values: number[]) => writeNiftiNumbers(v, field, values, le);
  const [slices, rows, cols] = volume.shape;
  const [sliceMm, rowMm, colMm] = volume.spacing;
  const affine = volume.affine;
  const q = qformFromAffine(affine);

  set(f.sizeofHdr, NIFTI1_LAYOUT.headerBytes);
  if (f.regular !== undefined) set(f.regular, 0x72); // regular = 'r'
  set(f.dim, 3, cols, rows, slices, 1, 1, 1, 1);
  if (volume.intensity === 'label') set(f.intentCode, NIFTI_INTENT_LABEL);
  set(f.datatype, NIFTI_DATATYPES[datatype].code);
  set(f.bitpix, NIFTI_DATATYPES[datatype].bytes * 8);
  set(f.pixdim, q.qfac, colMm, rowMm, sliceMm, 1, 1, 1, 1);
  set(f.voxOffset, VOX_OFFSET);
  set(f.sclSlope, 1);
  set(f.sclInter, 0);
  set(f.xyztUnits, NIFTI_UNITS_MM);
  writeNiftiString(bytes, f.descrip, description);
  set(f.qformCode, NIFTI_XFORM_SCANNER_ANAT);
  set(f.sformCode, NIFTI_XFORM_SCANNER_ANAT);
  set(f.quatern, ...q.quatern);
  set(f.qoffset, ...q.qoffset);
  set(f.srow, ...affine.slice(0, 12));
  if (volume.intensity !== 'unknown') writeNiftiString(bytes, f.intentName, INTENSITY_TAGS[volume.intensity]);
  writeNiftiString(bytes, f.magic, 'n+1');
  // bytes 348..351: extension flag, all zero.
  return bytes;
}

/** Header, then the voxel bytes (little-endian) in chunks of at most CHUNK_BYTES. */
function* voxelChunks(header: Uint8Array, data: VoxelArray): Generator<Uint8Array> {
  yield header;
  const perChunk = Math.max(1, Math.floor(CHUNK_BYTES / data.BYTES_PER_ELEMENT));
  for (let start = 0; start < data.length; start += perChunk) {
    const part = data.subarray(start, start + perChunk);
    const bytes = new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
    if (HOST_LITTLE_ENDIAN) {
      yield bytes;
    } else {
      const copy = bytes.slice();
      swapBytes(copy, data.BYTES_PER_ELEMENT);
      yield copy;
    }
  }
}

function datatypeOf(path: string, data: VoxelArray): NiftiDatatypeName {
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Uint16Array) return 'uint16';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  const name = (data as { constructor?: { name?: string } }).constructor?.name ?? typeof data;
  throw new CovsevInputError(path, `cannot write NIfTI: unsupported voxel array ${name}`);
}

function checkVolume(path: string, volume: Volume, data: VoxelArray): void {
  const refuse = (problem: string) => new CovsevInputError(path, `cannot write NIfTI: ${problem}`);
  const shape = volume.shape;
  if (shape.length !== 3 || shape.some((n) => !Number.isInteger(n) || n < 1)) {
    throw refuse(`shape [${shape.join(', ')}] is not three positive integers`);
  }
  if (shape.some((n) => n > MAX_DIM)) throw refuse(`shape [${shape.join(', ')}] exceeds NIfTI-1's ${MAX_DIM} per axis`);
  if (data.length !== shape[0] * shape[1] * shape[2]) {
    throw refuse(`data has ${data.length} voxels but shape [${shape.join(', ')}] needs ${shape[0] * shape[1] * shape[2]}`);
  }
  if (volume.spacing.length !== 3 || volume.spacing.some((s) => !Number.isFinite(s) || s <= 0)) {
    throw refuse(`spacing [${volume.spacing.join(', ')}] is not three positive numbers`);
  }
  const a = volume.affine;
  if (a.length !== 16 || a.some((x) => !Number.isFinite(x))) throw refuse('affine is not 16 finite numbers');
  if (Math.abs(det3(affineLinear(a))) < 1e-12) throw refuse('affine is singular (its 3x3 part has determinant 0)');
}

function isSystemError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code);
}

function fsError(path: string, what: string, error: unknown): CovsevInputError {
  const detail = error instanceof Error ? error.message : String(error);
  return new CovsevInputError(path, `${what}: ${detail}`, { cause: error });
}
