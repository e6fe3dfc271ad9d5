/**
 * The NIfTI-1 (348-byte) and NIfTI-2 (540-byte) header layouts, written once for the reader and
 * the writer: each field's byte offset, element type and element count, plus the codes covsev
 * uses. Offsets are from nifti1.h / nifti2.h.
 */
import { CovsevInputError } from '../errors.js';
import type { Intensity } from '../volume.js';

/** Element types of header fields. `char` fields are NUL-terminated UTF-8 strings of `count` bytes. */
export type NiftiFieldType = 'uint8' | 'int16' | 'int32' | 'int64' | 'float32' | 'float64' | 'char';

export interface NiftiField {
  readonly offset: number;
  readonly type: NiftiFieldType;
  /** Elements (bytes for `char`); 1 when absent. */
  readonly count?: number;
}

/** The header fields covsev reads or writes, by their nifti1.h names in camelCase. */
export type NiftiFieldName =
  | 'sizeofHdr'
  | 'dim'
  | 'intentCode'
  | 'datatype'
  | 'bitpix'
  | 'pixdim'
  | 'voxOffset'
  | 'sclSlope'
  | 'sclInter'
  | 'xyztUnits'
  | 'descrip'
  | 'qformCode'
  | 'sformCode'
  | 'quatern'
  | 'qoffset'
  | 'srow'
  | 'intentName'
  | 'magic';

export interface NiftiLayout {
  readonly version: 1 | 2;
  /** sizeof_hdr: 348 or 540. */
  readonly headerBytes: number;
  /** The smallest vox_offset of a single file: header plus the 4-byte extension flag. */
  readonly minVoxOffset: number;
  /** `regular` is NIfTI-1 only (the writer sets it to 'r', as nibabel does). */
  readonly fields: Readonly<Record<NiftiFieldName, NiftiField>> & { readonly regular?: NiftiField };
}

export const NIFTI1_LAYOUT: NiftiLayout = {
  version: 1,
  headerBytes: 348,
  minVoxOffset: 352,
  fields: {
    sizeofHdr: { offset: 0, type: 'int32' },
    regular: { offset: 38, type: 'uint8' },
    dim: { offset: 40, type: 'int16', count: 8 },
    intentCode: { offset: 68, type: 'int16' },
    datatype: { offset: 70, type: 'int16' },
    bitpix: { offset: 72, type: 'int16' },
    pixdim: { offset: 76, type: 'float32', count: 8 },
    voxOffset: { offset: 108, type: 'float32' },
    sclSlope: { offset: 112, type: 'float32' },
    sclInter: { offset: 116, type: 'float32' },
    xyztUnits: { offset: 123, type: 'uint8' },
    descrip: { offset: 148, type: 'char', count: 80 },
    qformCode: { offset: 252, type: 'int16' },
    sformCode: { offset: 254, type: 'int16' },
    quatern: { offset: 256, type: 'float32', count: 3 },
    qoffset: { offset: 268, type: 'float32', count: 3 },
    srow: { offset: 280, type: 'float32', count: 12 },
    intentName: { offset: 328, type: 'char', count: 16 },
    magic: { offset: 344, type: 'char', count: 4 },
  },
};

export const NIFTI2_LAYOUT: NiftiLayout = {
  version: 2,
  headerBytes: 540,
  minVoxOffset: 544,
  fields: {
    sizeofHdr: { offset: 0, type: 'int32' },
    // NIfTI-2's magic is 8 bytes ("n+2\0\r\n\032\n"); the first 4 identify it.
    magic: { offset: 4, type: 'char', count: 4 },
    datatype: { offset: 12, type: 'int16' },
    bitpix: { offset: 14, type: 'int16' },
    dim: { offset: 16, type: 'int64', count: 8 },
    pixdim: { offset: 104, type: 'float64', count: 8 },
    voxOffset: { offset: 168, type: 'int64' },
    sclSlope: { offset: 176, type: 'float64' },
    sclInter: { offset: 184, type: 'float64' },
    descrip: { offset: 240, type: 'char', count: 80 },
    qformCode: { offset: 344, type: 'int32' },
    sformCode: { offset: 348, type: 'int32' },
    quatern: { offset: 352, type: 'float64', count: 3 },
    qoffset: { offset: 376, type: 'float64', count: 3 },
    srow: { offset: 400, type: 'float64', count: 12 },
    xyztUnits: { offset: 500, type: 'int32' },
    intentCode: { offset: 504, type: 'int32' },
    intentName: { offset: 508, type: 'char', count: 16 },
  },
};

const ELEMENT_BYTES: Readonly<Record<NiftiFieldType, number>> = {
  uint8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  float32: 4,
  float64: 8,
  char: 1,
};

/**
 * Element `index` of a numeric field. int64 values beyond 2^53 are a `CovsevInputError` naming
 * `path` (covsev keeps header numbers as plain numbers).
 */
export function readNiftiNumber(path: string, view: DataView, field: NiftiField, le: boolean, index = 0): number {
  const o = field.offset + index * ELEMENT_BYTES[field.type];
  switch (field.type) {
    case 'uint8':
      return view.getUint8(o);
    case 'int16':
      return view.getInt16(o, le);
    case 'int32':
      return view.getInt32(o, le);
    case 'float32':
      return view.getFloat32(o, le);
    case 'float64':
      return view.getFloat64(o, le);
    case 'int64': {
      const value = view.getBigInt64(o, le);
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new CovsevInputError(path, `NIfTI-2 header value ${value} at byte ${o} is out of range`);
      }
      return Number(value);
    }
    case 'char':
      throw new TypeError('readNiftiNumber: a char field is a string');
  }
}

/** All elements of a numeric field. */
export function readNiftiNumbers(path: string, view: DataView, field: NiftiField, le: boolean): number[] {
  return Array.from({ length: field.count ?? 1 }, (_, n) => readNiftiNumber(path, view, field, le, n));
}

/** A NUL-terminated string field. */
export function readNiftiString(bytes: Uint8Array, field: NiftiField): string {
  const slice = bytes.subarray(field.offset, field.offset + (field.count ?? 1));
  const end = slice.indexOf(0);
  return new TextDecoder('utf-8').decode(end < 0 ? slice : slice.subarray(0, end));
}

/** Writes numbers into a numeric field from its first element (int64 from safe integers). */
export function writeNiftiNumbers(view: DataView, field: NiftiField, values: readonly number[], le: boolean): void {
  const size = ELEMENT_BYTES[field.type];
  values.forEach((x, n) => {
    const o = field.offset + n * size;
    switch (field.type) {
      case 'uint8':
        view.setUint8(o, x);
        break;
      case 'int16':
        view.setInt16(o, x, le);
        break;
      case 'int32':
        view.setInt32(o, x, le);
        break;
      case 'float32':
        view.setFloat32(o, x, le);
        break;
      case 'float64':
        view.setFloat64(o, x, le);
        break;
      case 'int64':
        view.setBigInt64(o, BigInt(x), le);
        break;
      case 'char':
        throw new TypeError('writeNiftiNumbers: a char field is a string');
    }
  });
}

/** Writes a NUL-terminated UTF-8 string into a char field, cut to whole characters. */
export function writeNiftiString(bytes: Uint8Array, field: NiftiField, text: string): void {
  const size = field.count ?? 1;
  let encoded = new TextEncoder().encode(text);
  if (encoded.length > size - 1) {
    let end = size - 1;
    while (end > 0 && ((encoded[end] as number) & 0xc0) === 0x80) end--; // do not split a character
    encoded = encoded.subarray(0, end);
  }
  bytes.set(encoded, field.offset);
}

/** NIfTI datatype codes covsev reads (and, except int8, writes). */
export const NIFTI_DATATYPES = {
  uint8: { code: 2, bytes: 1 },
  int16: { code: 4, bytes: 2 },
  int32: { code: 8, bytes: 4 },
  float32: { code: 16, bytes: 4 },
  float64: { code: 64, bytes: 8 },
  int8: { code: 256, bytes: 1 },
  uint16: { code: 512, bytes: 2 },
} as const;
export type NiftiDatatypeName = keyof typeof NIFTI_DATATYPES;

export const DATATYPE_BY_CODE: ReadonlyMap<number, NiftiDatatypeName> = new Map<number, NiftiDatatypeName>(
  (Object.keys(NIFTI_DATATYPES) as NiftiDatatypeName[]).map((name) => [NIFTI_DATATYPES[name].code, name]),
);

/** Names of NIfTI datatypes covsev refuses, for the error message. */
export const UNSUPPORTED_DATATYPES: Readonly<Record<number, string>> = {
  0: 'unknown (0)',
  1: 'binary (1 bit per voxel)',
  32: 'complex64',
  128: 'rgb24',
  768: 'uint32',
  1024: 'int64',
  1280: 'uint64',
  1536: 'float128',
  1792: 'complex128',
  2048: 'complex256',
  2304: 'rgba32',
};

/** NIFTI_INTENT_LABEL: voxel values are label indices. */
export const NIFTI_INTENT_LABEL = 1002;
/** xyzt_units: millimetres. */
export const NIFTI_UNITS_MM = 2;
/** qform_code / sform_code: scanner anatomical coordinates. */
export const NIFTI_XFORM_SCANNER_ANAT = 1;
/** Prefix of the intent_name tag covsev writes to record a volume's intensity kind. */
export const COVSEV_INTENT_PREFIX = 'covsev:';
/** intent_name tags (16 bytes at most) <-> intensity kinds. */
export const INTENSITY_TAGS: Readonly<Record<Exclude<Intensity, 'unknown'>, string>> = {
  hu: 'covsev:hu',
  'uint8-windowed': 'covsev:u8win',
  normalised: 'covsev:norm',
  label: 'covsev:label',
};

/** The header fields covsev uses, with NIfTI-2's 64-bit values as plain numbers. */
export interface NiftiHeader {
  readonly version: 1 | 2;
  readonly littleEndian: boolean;
  /** dim[0..7]: dim[0] is the number of dimensions. */
  readonly dim: readonly number[];
  readonly datatype: number;
  readonly bitpix: number;
  /** pixdim[0..7]: pixdim[0] is qfac. */
  readonly pixdim: readonly number[];
  readonly voxOffset: number;
  readonly sclSlope: number;
  readonly sclInter: number;
  readonly xyztUnits: number;
  readonly intentCode: number;
  readonly intentName: string;
  readonly description: string;
  readonly qformCode: number;
  readonly sformCode: number;
  readonly quatern: readonly [b: number, c: number, d: number];
  readonly qoffset: readonly [x: number, y: number, z: number];
  /** srow_x, srow_y, srow_z, 12 numbers. */
  readonly srow: readonly number[];
  readonly magic: string;
}

/**
 * Reads the fields of a header whose version and byte order are known. The magic is checked by
 * the caller first (its error message depends on the version). Field order follows the file,
 * so an out-of-range NIfTI-2 value is reported at its first byte.
 */
export function readNiftiFields(path: string, layout: NiftiLayout, bytes: Uint8Array, le: boolean): NiftiHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const f = layout.fields;
  const num = (field: NiftiField) => readNiftiNumber(path, view, field, le);
  const nums = (field: NiftiField) => readNiftiNumbers(path, view, field, le);
  const dim = nums(f.dim);
  const pixdim = nums(f.pixdim);
  const voxOffset = num(f.voxOffset);
  return {
    version: layout.version,
    littleEndian: le,
    dim,
    intentCode: num(f.intentCode),
    datatype: num(f.datatype),
    bitpix: num(f.bitpix),
    pixdim,
    voxOffset,
    sclSlope: num(f.sclSlope),
    sclInter: num(f.sclInter),
    xyztUnits: num(f.xyztUnits),
    description: readNiftiString(bytes, f.descrip),
    qformCode: num(f.qformCode),
    sformCode: num(f.sformCode),
    quatern: nums(f.quatern) as [number, number, number],
    qoffset: nums(f.qoffset) as [number, number, number],
    srow: nums(f.srow),
    intentName: readNiftiString(bytes, f.intentName),
    magic: readNiftiString(bytes, f.magic),
  };
}
