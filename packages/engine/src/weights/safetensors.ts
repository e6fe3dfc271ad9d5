/**
 * The safetensors format (huggingface/safetensors, "format" in its README): an 8-byte little-endian
 * header length N, N bytes of JSON (`{ name: { dtype, shape, data_offsets: [begin, end] },
 * "__metadata__"?: { string: string } }`), then the raw little-endian tensor bytes, offsets relative
 * to the end of the header. covsev reads it itself: npm's `safetensors` package is a 0.0.1
 * placeholder and `@huggingface/hub` parses headers of files on the Hub, not local tensors.
 *
 * Floats arrive as `Float32Array` (F16, BF16 and F64 converted); I64 (batch norm's
 * `num_batches_tracked`) as `BigInt64Array`. Every fault in a file is a CovsevInputError naming the
 * file and, where one is at fault, the tensor.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { CovsevInputError } from '@covsev/io/core';

/** The dtypes covsev reads. */
export const SAFETENSORS_DTYPES = ['F32', 'F16', 'BF16', 'F64', 'I64'] as const;
export type SafetensorsDtype = (typeof SAFETENSORS_DTYPES)[number];

const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8 };
/** A header longer than this is refused before JSON.parse (the format's own limit is 100 MB). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** One tensor's header entry. */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** [begin, end) in bytes, relative to the start of the data section. */
  readonly offsets: readonly [number, number];
}

/** A tensor with its values: floats as Float32Array, I64 as BigInt64Array. */
export interface SafetensorsTensor extends SafetensorsEntry {
  readonly data: Float32Array | BigInt64Array;
}

export interface SafetensorsFile {
  readonly path: string;
  /** The header's `__metadata__` (string to string), `{}` when absent. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Tensors in file order (by begin offset). */
  readonly tensors: readonly SafetensorsTensor[];
  /** Header size + data size. */
  readonly bytes: number;
}

/** Reads and checks the header only (`inspect`); the data section is not converted. */
export function parseSafetensorsHeader(
  bytes: Uint8Array,
  path: string,
): { metadata: Record<string, string>; entries: SafetensorsEntry[]; dataStart: number } {
  const fail = (problem: string): never => {
    throw new CovsevInputError(path, `not a valid safetensors file: ${problem}`);
  };
  if (bytes.length < 8) fail(`${bytes.length} bytes, shorter than the 8-byte header length (truncated?)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n < 2n || n > BigInt(MAX_HEADER_BYTES))
    fail(`header length ${n} is out of range (2..${MAX_HEADER_BYTES} bytes): not safetensors, or a corrupt file`);
  const headerBytes = Number(n);
  if (8 + headerBytes > bytes.length)
    fail(`header length ${headerBytes} runs past the end of the ${bytes.length}-byte file (truncated?)`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerBytes)));
  } catch (cause) {
    throw new CovsevInputError(path, `not a valid safetensors file: the header is not JSON (${(cause as Error).message})`, {
      cause,
    });
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('the header is not a JSON object');
  const dataStart = 8 + headerBytes;
  const dataBytes = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (value === null || typeof value !== 'object') fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) metadata[k] = String(v);
      continue;
    }
    const bad = (problem: string): never => {
      throw new CovsevInputError(path, `tensor '${name}': ${problem}`);
    };
    if (value === null || typeof value !== 'object') bad('header entry is not an object');
    const { dtype, shape, data_offsets: offsets } = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string' || !(SAFETENSORS_DTYPES as readonly string[]).includes(dtype))
      bad(`dtype ${JSON.stringify(dtype)} is not supported (covsev reads ${SAFETENSORS_DTYPES.join(', ')})`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      bad(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    )
      bad(`data_offsets ${JSON.stringify(offsets)} is not [begin, end] with 0 <= begin <= end`);
    const [begin, end] = offsets as [number, number];
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    const need = numel * BYTES[dtype as SafetensorsDtype];
    if (end - begin !== need)
      bad(`data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${dtype} [${shape}] needs ${need}`);
    if (end > dataBytes)
      bad(`data_offsets [${begin}, ${end}] run past the end of the data (${dataBytes} bytes; truncated file?)`);
    entries.push({ name, dtype: dtype as SafetensorsDtype, shape: shape as number[], offsets: [begin, end] });
  }
  entries.sort((a, b) => a.offsets[0] - b.offsets[0] || a.offsets[1] - b.offsets[1]);
  let reach: SafetensorsEntry | undefined; // the entry reaching furthest so far
  for (const cur of entries) {
    if (cur.offsets[1] === cur.offsets[0]) continue; // an empty tensor overlaps nothing
    if (reach && cur.offsets[0] < reach.offsets[1])
      throw new CovsevInputError(
        path,
        `tensor '${cur.name}': data_offsets [${cur.offsets}] overlap those of '${reach.name}' [${reach.offsets}]`,
      );
    if (!reach || cur.offsets[1] > reach.offsets[1]) reach = cur;
  }
  return { metadata, entries, dataStart };
}

const LITTLE_ENDIAN = endianness() === 'LE';

/** IEEE half to float. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Converts one tensor's bytes (little-endian) to its typed array. */
function decode(raw: Uint8Array, dtype: SafetensorsDtype): Float32Array | BigInt64Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const n = raw.byteLength / BYTES[dtype];
  switch (dtype) {
    case 'F32': {
      if (LITTLE_ENDIAN) return new Float32Array(new Uint8Array(raw).buffer); // a copy: Buffer.slice would share
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    }
    case 'F64': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
      return out;
    }
    case 'F16': {
      const table = halfTable();
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[view.getUint16(2 * i, true)] as number;
      return out;
    }
    case 'BF16': {
      const bits = new Uint32Array(n);
      for (let i = 0; i < n; i++) bits[i] = view.getUint16(2 * i, true) << 16;
      return new Float32Array(bits.buffer);
    }
    case 'I64': {
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getBigInt64(8 * i, true);
      return out;
    }
  }
}

let HALF_TABLE: Float32Array | undefined;
function halfTable(): Float32Array {
  if (!HALF_TABLE) {
    HALF_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) HALF_TABLE[h] = halfToFloat(h);
  }
  return HALF_TABLE;
}

/** Parses a whole safetensors file held in memory (`path` names it in errors). */
export function decodeSafetensors(bytes: Uint8Array, path: string): SafetensorsFile {
  const { metadata, entries, dataStart } = parseSafetensorsHeader(bytes, path);
  const tensors = entries.map((e) => ({
    ...e,
    data: decode(bytes.subarray(dataStart + e.offsets[0], dataStart + e.offsets[1]), e.dtype),
  }));
  return { path, metadata, tensors, bytes: bytes.length };
}

/** Reads a `.safetensors` file: header, metadata and every tensor converted (see the file comment). */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw new CovsevInputError(path, `cannot read the weights file (${(cause as Error).message})`, { cause });
  }
  return decodeSafetensors(bytes, path);
}

/** A tensor to write: F32 from floats, I64 from bigints, F16 / BF16 as their raw 16-bit patterns. */
export interface SafetensorsInput {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype?: SafetensorsDtype;
  readonly data: ArrayLike<number> | BigInt64Array | Uint16Array;
}

/** The bytes of a safetensors file (the header padded with spaces to a multiple of 8, as the reference writer does). */
export function encodeSafetensors(tensors: readonly SafetensorsInput[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const parts: Uint8Array[] = [];
  for (const t of tensors) {
    const dtype = t.dtype ?? (t.data instanceof BigInt64Array ? 'I64' : 'F32');
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== numel)
      throw new RangeError(`encodeSafetensors: '${t.name}' has ${t.data.length} values for [${t.shape}]`);
    const raw = new Uint8Array(numel * BYTES[dtype]);
    const view = new DataView(raw.buffer);
    for (let i = 0; i < numel; i++) {
      const v = t.data[i] as number | bigint;
      if (dtype === 'F32') view.setFloat32(4 * i, Number(v), true);
      else if (dtype === 'F64') view.setFloat64(8 * i, Number(v), true);
      else if (dtype === 'I64') view.setBigInt64(8 * i, BigInt(v), true);
      else view.setUint16(2 * i, Number(v), true);
    }
    header[t.name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + raw.length] };
    offset += raw.length;
    parts.push(raw);
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8);
  const head = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Writes a safetensors file (tests, fixtures, converted checkpoints). */
export async function writeSafetensors(
  path: string,
  tensors: readonly SafetensorsInput[],
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFile(path, encodeSafetensors(tensors, metadata));
}
