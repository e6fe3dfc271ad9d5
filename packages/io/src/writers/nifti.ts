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
 * The write is atomic: the bytes stream into `<path>.tmp-<pid>-<random>`, which is flushed to disk
 * and then renamed over `path`; on any failure the temporary file is removed and an existing
 * file at `path` is left untouched. Parent folders are created.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { CovsevInputError } from '../errors.js';
import {
  HOST_LITTLE_ENDIAN,
  INTENSITY_TAGS,
  NIFTI_DATATYPES,
  NIFTI_INTENT_LABEL,
  type NiftiDatatypeName,
  swapBytes,
} from '../readers/nifti.js';
import type { Volume, VoxelArray } from '../volume.js';

export interface WriteNiftiOptions {
  /** Header `descrip` (at most 79 bytes of UTF-8 are kept). Default: "covsev". */
  readonly description?: string;
  /** gzip level 1..9 for `.nii.gz` (default 6). */
  readonly gzipLevel?: number;
}

const HEADER_BYTES = 348;
/** Header plus the 4-byte extension flag (no extensions). */
const VOX_OFFSET = 352;
/** Data are streamed in chunks of this many bytes. */
const CHUNK_BYTES = 1 << 22;
const NIFTI_UNITS_MM = 2;
const NIFTI_XFORM_SCANNER_ANAT = 1;
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
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const source = Readable.from(voxelChunks(header, data));
    const sink = createWriteStream(tmp, { flags: 'wx' });
    if (gzip) await pipeline(source, createGzip({ level: options.gzipLevel ?? 6 }), sink);
    else await pipeline(source, sink);
    // Flush to disk before the rename, so a crash cannot leave an empty file under the new name.
    const handle = await open(tmp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true }).catch(() => undefined);
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
  const [slices, rows, cols] = volume.shape;
  const [sliceMm, rowMm, colMm] = volume.spacing;
  const affine = volume.affine;
  const q = qformFromAffine(affine);

  v.setInt32(0, HEADER_BYTES, le);
  bytes[38] = 0x72; // regular = 'r'
  [3, cols, rows, slices, 1, 1, 1, 1].forEach((n, i) => v.setInt16(40 + 2 * i, n, le));
  if (volume.intensity === 'label') v.setInt16(68, NIFTI_INTENT_LABEL, le);
  v.setInt16(70, NIFTI_DATATYPES[datatype].code, le);
  v.setInt16(72, NIFTI_DATATYPES[datatype].bytes * 8, le);
  [q.qfac, colMm, rowMm, sliceMm, 1, 1, 1, 1].forEach((x, i) => v.setFloat32(76 + 4 * i, x, le));
  v.setFloat32(108, VOX_OFFSET, le);
  v.setFloat32(112, 1, le); // scl_slope
  v.setFloat32(116, 0, le); // scl_inter
  bytes[123] = NIFTI_UNITS_MM;
  writeCString(bytes, 148, 80, description);
  v.setInt16(252, NIFTI_XFORM_SCANNER_ANAT, le);
  v.setInt16(254, NIFTI_XFORM_SCANNER_ANAT, le);
  q.quatern.forEach((x, i) => v.setFloat32(256 + 4 * i, x, le));
  q.qoffset.forEach((x, i) => v.setFloat32(268 + 4 * i, x, le));
  for (let i = 0; i < 12; i++) v.setFloat32(280 + 4 * i, affine[i] as number, le);
  if (volume.intensity !== 'unknown') writeCString(bytes, 328, 16, INTENSITY_TAGS[volume.intensity]);
  writeCString(bytes, 344, 4, 'n+1');
  // bytes 348..351: extension flag, all zero.
  return bytes;
}

/**
 * The qform of an affine, as nibabel's `Nifti1Header.set_qform` computes it: zooms are the column
 * norms, qfac = -1 when the rotation part has a negative determinant (then its z column is
 * flipped), and the nearest rotation (polar decomposition) gives the quaternion with w >= 0.
 */
export function qformFromAffine(affine: readonly number[]): {
  quatern: [number, number, number];
  qoffset: [number, number, number];
  qfac: 1 | -1;
  zooms: [number, number, number];
} {
  const a = (r: number, c: number) => affine[r * 4 + c] as number;
  const zooms = [0, 1, 2].map((c) => Math.hypot(a(0, c), a(1, c), a(2, c))) as [number, number, number];
  // R = RZS / zooms, row-major 3x3.
  const R = [0, 1, 2].flatMap((r) => [0, 1, 2].map((c) => a(r, c) / (zooms[c] as number)));
  let qfac: 1 | -1 = 1;
  if (det3(R) < 0) {
    qfac = -1;
    for (const i of [2, 5, 8]) R[i] = -(R[i] as number);
  }
  const [_w, x, y, z] = matrixToQuaternion(nearestRotation(R));
  return { quatern: [x, y, z], qoffset: [a(0, 3), a(1, 3), a(2, 3)], qfac, zooms };
}

/** The orthogonal polar factor of a near-rotation (Newton iteration X <- (X + X^-T) / 2). */
function nearestRotation(m: readonly number[]): number[] {
  let x = [...m];
  for (let iter = 0; iter < 50; iter++) {
    const inverseTransposed = transpose3(invert3(x));
    const next = x.map((value, i) => (value + (inverseTransposed[i] as number)) / 2);
    const change = Math.max(...next.map((value, i) => Math.abs(value - (x[i] as number))));
    x = next;
    if (change < 1e-15) break;
  }
  return x;
}

/** Unit quaternion (w, x, y, z), w >= 0, of a rotation matrix (row-major 3x3). */
function matrixToQuaternion(m: readonly number[]): [number, number, number, number] {
  const [m00, m01, m02, m10, m11, m12, m20, m21, m22] = m as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const trace = m00 + m11 + m22;
  let q: [number, number, number, number];
  if (trace > 0) {
    const s = Math.sqrt(trace + 1) * 2;
    q = [s / 4, (m21 - m12) / s, (m02 - m20) / s, (m10 - m01) / s];
  } else if (m00 > m11 && m00 > m22) {
    const s = Math.sqrt(1 + m00 - m11 - m22) * 2;
    q = [(m21 - m12) / s, s / 4, (m01 + m10) / s, (m02 + m20) / s];
  } else if (m11 > m22) {
    const s = Math.sqrt(1 + m11 - m00 - m22) * 2;
    q = [(m02 - m20) / s, (m01 + m10) / s, s / 4, (m12 + m21) / s];
  } else {
    const s = Math.sqrt(1 + m22 - m00 - m11) * 2;
    q = [(m10 - m01) / s, (m02 + m20) / s, (m12 + m21) / s, s / 4];
  }
  const norm = Math.hypot(...q);
  const sign = q[0] < 0 ? -1 : 1;
  return q.map((value) => (sign * value) / norm) as [number, number, number, number];
}

function det3(m: readonly number[]): number {
  const [a, b, c, d, e, f, g, h, i] = m as [number, number, number, number, number, number, number, number, number];
  return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
}

function invert3(m: readonly number[]): number[] {
  const [a, b, c, d, e, f, g, h, i] = m as [number, number, number, number, number, number, number, number, number];
  const det = det3(m);
  const cof = [
    e * i - f * h,
    c * h - b * i,
    b * f - c * e,
    f * g - d * i,
    a * i - c * g,
    c * d - a * f,
    d * h - e * g,
    b * g - a * h,
    a * e - b * d,
  ];
  return cof.map((value) => value / det);
}

function transpose3(m: readonly number[]): number[] {
  return [0, 3, 6, 1, 4, 7, 2, 5, 8].map((i) => m[i] as number);
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
  const linear = [0, 1, 2, 4, 5, 6, 8, 9, 10].map((i) => a[i] as number);
  if (Math.abs(det3(linear)) < 1e-12) throw refuse('affine is singular (its 3x3 part has determinant 0)');
}

/** Writes a NUL-terminated UTF-8 string into a fixed field, cut to whole characters. */
function writeCString(bytes: Uint8Array, offset: number, size: number, text: string): void {
  let encoded = new TextEncoder().encode(text);
  if (encoded.length > size - 1) {
    let end = size - 1;
    while (end > 0 && ((encoded[end] as number) & 0xc0) === 0x80) end--; // do not split a character
    encoded = encoded.subarray(0, end);
  }
  bytes.set(encoded, offset);
}

function isSystemError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code);
}

function fsError(path: string, what: string, error: unknown): CovsevInputError {
  const detail = error instanceof Error ? error.message : String(error);
  return new CovsevInputError(path, `${what}: ${detail}`, { cause: error });
}
