/**
 * Named tensors as one binary file plus a JSON manifest (no tfjs-node needed).
 *
 * The binary file is the tensors' raw little-endian values back to back, each starting at a
 * multiple of 4 bytes. The manifest lists, in file order, each tensor's `name`, `shape`,
 * `dtype` (`float32` or `int32`), byte `offset` and `byteLength`, plus the file's total
 * `byteLength` and its `sha256`, so a truncated or corrupted file is detected on reading.
 * Encoding and decoding are pure; `checkpoint.ts` does the file work.
 */
import { createHash } from 'node:crypto';

export type StoredDtype = 'float32' | 'int32';

/** One tensor's values, row-major. */
export interface TensorData {
  shape: number[];
  dtype: StoredDtype;
  data: Float32Array | Int32Array;
}

export interface TensorEntry {
  name: string;
  shape: number[];
  dtype: StoredDtype;
  offset: number;
  byteLength: number;
}

export interface TensorManifest {
  format: 'covsev-tensors';
  version: 1;
  byteOrder: 'little-endian';
  /** The binary file's name, relative to the manifest. */
  file: string;
  byteLength: number;
  sha256: string;
  tensors: TensorEntry[];
}

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  throw new Error('covsev checkpoints assume a little-endian machine');
}

/** The manifest and bytes for `tensors` (in iteration order). */
export function encodeTensors(
  tensors: Iterable<[string, TensorData]>,
  file: string,
): { manifest: TensorManifest; bytes: Uint8Array } {
  const entries: TensorEntry[] = [];
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== size) throw new RangeError(`tensor ${name}: ${t.data.length} values for shape [${t.shape}]`);
    if ((t.dtype === 'float32') !== t.data instanceof Float32Array)
      throw new TypeError(`tensor ${name}: data does not match dtype ${t.dtype}`);
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    entries.push({ name, shape: [...t.shape], dtype: t.dtype, offset, byteLength: bytes.byteLength });
    parts.push(bytes);
    offset += bytes.byteLength;
  }
  const out = new Uint8Array(offset);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  const manifest: TensorManifest = {
    format: 'covsev-tensors',
    version: 1,
    byteOrder: 'little-endian',
    file,
    byteLength: out.byteLength,
    sha256: sha256(out),
    tensors: entries,
  };
  return { manifest, bytes: out };
}

/**
 * The tensors of a manifest and its binary file. Throws an Error whose message says what is
 * wrong (the caller adds the path): a malformed manifest, a size or checksum mismatch.
 * Returned arrays are copies, aligned and independent of `bytes`.
 */
export function decodeTensors(
  manifestValue: unknown,
  bytes: Uint8Array,
): { manifest: TensorManifest; tensors: Map<string, TensorData> } {
  const manifest = parseManifest(manifestValue);
  if (bytes.byteLength !== manifest.byteLength) {
    throw new Error(`has ${bytes.byteLength} bytes, its manifest says ${manifest.byteLength} (truncated or overwritten)`);
  }
  if (sha256(bytes) !== manifest.sha256) throw new Error('does not match the sha256 in its manifest (corrupted)');
  const tensors = new Map<string, TensorData>();
  for (const e of manifest.tensors) {
    const copy = new Uint8Array(e.byteLength); // aligned and owned, also when `bytes` is a pooled Buffer
    copy.set(bytes.subarray(e.offset, e.offset + e.byteLength));
    const data = e.dtype === 'float32' ? new Float32Array(copy.buffer) : new Int32Array(copy.buffer);
    tensors.set(e.name, { shape: e.shape, dtype: e.dtype, data });
  }
  return { manifest, tensors };
}

/** Validates a parsed manifest; messages name the first problem. */
export function parseManifest(value: unknown): TensorManifest {
  const fail = (why: string): never => {
    throw new Error(`is not a valid tensor manifest: ${why}`);
  };
  if (value === null || typeof value !== 'object') return fail('not an object');
  const m = value as Record<string, unknown>;
  if (m.format !== 'covsev-tensors') fail(`format is ${JSON.stringify(m.format)}, expected "covsev-tensors"`);
  if (m.version !== 1) fail(`version ${JSON.stringify(m.version)} is not supported (expected 1)`);
  if (typeof m.file !== 'string') fail('no file name');
  if (!isCount(m.byteLength)) fail('no byteLength');
  if (typeof m.sha256 !== 'string') fail('no sha256');
  if (!Array.isArray(m.tensors)) return fail('no tensors list');
  const names = new Set<string>();
  for (const [i, raw] of m.tensors.entries()) {
    const e = raw as Partial<TensorEntry> | null;
    if (e === null || typeof e !== 'object' || typeof e.name !== 'string') return fail(`tensor ${i} has no name`);
    if (names.has(e.name)) fail(`tensor ${e.name} is listed twice`);
    names.add(e.name);
    if (!Array.isArray(e.shape) || !e.shape.every(isCount)) fail(`tensor ${e.name} has a bad shape`);
    if (e.dtype !== 'float32' && e.dtype !== 'int32') fail(`tensor ${e.name} has unsupported dtype ${JSON.stringify(e.dtype)}`);
    const size = (e.shape as number[]).reduce((a, b) => a * b, 1);
    if (!isCount(e.offset) || e.offset % 4 !== 0 || e.byteLength !== size * 4)
      fail(`tensor ${e.name} has a bad offset or byteLength`);
    if ((e.offset as number) + (e.byteLength as number) > (m.byteLength as number))
      fail(`tensor ${e.name} runs past the end of the file`);
  }
  return m as unknown as TensorManifest;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0;
}
