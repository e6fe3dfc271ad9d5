import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../atomic.js';
import { CovsevInputError } from '../errors.js';
import type { VoxelArray } from '../volume.js';

/**
 * NumPy's .npy format, version 1.0 (little-endian, C order), so a cached volume opens with
 * `numpy.load(path)` as an array of shape [slices, rows, cols].
 */
const DESCR: Record<string, string> = {
  Uint8Array: '|u1',
  Int16Array: '<i2',
  Uint16Array: '<u2',
  Int32Array: '<i4',
  Float32Array: '<f4',
  Float64Array: '<f8',
};
const CTOR: Record<string, { new (buffer: ArrayBuffer): VoxelArray; BYTES_PER_ELEMENT: number }> = {
  '|u1': Uint8Array,
  '<u1': Uint8Array,
  '<i2': Int16Array,
  '<u2': Uint16Array,
  '<i4': Int32Array,
  '<f4': Float32Array,
  '<f8': Float64Array,
};
const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

/** Serialises an array and its shape to .npy bytes. */
export function encodeNpy(data: VoxelArray, shape: readonly number[]): Uint8Array {
  const descr = DESCR[data.constructor.name];
  if (descr === undefined) throw new TypeError(`cannot store ${data.constructor.name} as .npy`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const unpadded = MAGIC.length + 2 + 2 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64);
  header += '\n';
  const head = Buffer.alloc(MAGIC.length + 4 + header.length);
  MAGIC.copy(head, 0);
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  head.write(header, 10, 'latin1');
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.concat([head, body]);
}

/** Parses .npy bytes (version 1.x/2.x, little-endian, C order, the dtypes covsev writes). */
export function decodeNpy(bytes: Uint8Array, path = '<memory>'): { data: VoxelArray; shape: number[] } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) throw new CovsevInputError(path, 'not a .npy file (bad magic)');
  const major = buf[6];
  if (major !== 1 && major !== 2)
    throw new CovsevInputError(path, `.npy version ${major}.${buf[7]} is not supported (1.0 or 2.0)`);
  if (major === 2 && buf.length < 12) throw new CovsevInputError(path, 'truncated .npy header');
  const headerLength = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  if (buf.length < start + headerLength)
    throw new CovsevInputError(path, `truncated .npy header: ${buf.length - start} of ${headerLength} bytes`);
  const header = buf.subarray(start, start + headerLength).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined)
    throw new CovsevInputError(path, `unreadable .npy header: ${header.trim()}`);
  if (fortran === 'True') throw new CovsevInputError(path, '.npy in Fortran order is not supported');
  const Ctor = CTOR[descr];
  if (Ctor === undefined) throw new CovsevInputError(path, `.npy dtype ${descr} is not supported`);
  const dims = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (!dims.every((d) => /^\d+L?$/.test(d))) throw new CovsevInputError(path, `unreadable .npy shape (${shapeText})`);
  const shape = dims.map((d) => Number.parseInt(d, 10));
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLength;
  const need = count * Ctor.BYTES_PER_ELEMENT;
  if (buf.length - offset < need)
    throw new CovsevInputError(path, `truncated .npy: ${buf.length - offset} data bytes, ${need} expected`);
  const copy = new ArrayBuffer(need);
  new Uint8Array(copy).set(buf.subarray(offset, offset + need));
  return { data: new Ctor(copy), shape };
}

export async function writeNpy(path: string, data: VoxelArray, shape: readonly number[]): Promise<void> {
  await writeFileAtomic(path, encodeNpy(data, shape));
}

export async function readNpy(path: string): Promise<{ data: VoxelArray; shape: number[] }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new CovsevInputError(path, `cannot read .npy: ${(error as Error).message}`, { cause: error });
  }
  return decodeNpy(bytes, path);
}
