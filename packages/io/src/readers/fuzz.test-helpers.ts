// Test-only helpers (excluded from the build by tsconfig): seeded mutations for the readers' fuzz tests.
import { expect } from 'vitest';
import { CovsevInputError } from '../errors.js';
import type { Rng } from '../random.js';

/** A field of a file format that a mutation may overwrite with an extreme value. */
export interface FuzzField {
  readonly offset: number;
  /** Bytes the field occupies (1, 2, 4 or 8). */
  readonly size: number;
}

export type MutationKind = 'flip' | 'truncate' | 'insert' | 'field' | 'zero-length' | 'zero-run';

export interface Mutation {
  readonly kind: MutationKind;
  readonly bytes: Uint8Array;
  /** What was done, for the failure message (reproducible from the seed anyway). */
  readonly what: string;
}

/** Extreme byte patterns for header fields: 0, all ones, sign bits, NaN/Inf as float32/float64. */
function extreme(rng: Rng, size: number): Uint8Array {
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  const choice = rng.int(0, 7);
  const le = rng.uniform() < 0.5;
  if (choice === 0) out.fill(0);
  else if (choice === 1) out.fill(0xff);
  else if (choice === 2) {
    out.fill(0xff);
    out[le ? size - 1 : 0] = 0x7f; // largest positive integer
  } else if (choice === 3)
    out[le ? size - 1 : 0] = 0x80; // most negative integer
  else if (choice === 4 && size === 4)
    view.setFloat32(0, [Number.NaN, Number.POSITIVE_INFINITY, -1e38][rng.int(0, 2)] as number, le);
  else if (choice === 4 && size === 8)
    view.setFloat64(0, [Number.NaN, Number.NEGATIVE_INFINITY, 1e300][rng.int(0, 2)] as number, le);
  else for (let i = 0; i < size; i++) out[i] = rng.int(0, 255);
  return out;
}

/**
 * One seeded mutation of `base`: flip bits of a few bytes (mostly in the first `headerBytes`),
 * truncate, insert random bytes, overwrite a known header field with an extreme value, zero a run,
 * or empty the file.
 */
export function mutate(rng: Rng, original: Uint8Array, headerBytes: number, fields: readonly FuzzField[]): Mutation {
  // A plain copy: on a Node Buffer, slice() is a view and would mutate the original.
  const base = new Uint8Array(original);
  const r = rng.uniform();
  const at = (limit: number) => rng.int(0, Math.max(0, Math.min(limit, base.length) - 1));
  const head = () => (rng.uniform() < 0.8 ? at(headerBytes) : at(base.length));
  if (r < 0.02) return { kind: 'zero-length', bytes: new Uint8Array(0), what: 'zero-length' };
  if (r < 0.3) {
    const bytes = base.slice();
    const n = rng.int(1, 4);
    const where: number[] = [];
    for (let i = 0; i < n; i++) {
      const p = head();
      bytes[p] = (bytes[p] as number) ^ (1 << rng.int(0, 7));
      where.push(p);
    }
    return { kind: 'flip', bytes, what: `flip bits at ${where.join(', ')}` };
  }
  if (r < 0.45) {
    const length = rng.uniform() < 0.5 ? head() : at(base.length);
    return { kind: 'truncate', bytes: base.slice(0, length), what: `truncate to ${length}` };
  }
  if (r < 0.6) {
    const p = head();
    const n = rng.int(1, 64);
    const extra = Uint8Array.from({ length: n }, () => rng.int(0, 255));
    const bytes = new Uint8Array(base.length + n);
    bytes.set(base.subarray(0, p));
    bytes.set(extra, p);
    bytes.set(base.subarray(p), p + n);
    return { kind: 'insert', bytes, what: `insert ${n} bytes at ${p}` };
  }
  if (r < 0.9 && fields.length > 0) {
    const field = fields[rng.int(0, fields.length - 1)] as FuzzField;
    const bytes = base.slice();
    if (field.offset + field.size <= bytes.length) bytes.set(extreme(rng, field.size), field.offset);
    return {
      kind: 'field',
      bytes,
      what: `field at ${field.offset} (${field.size} bytes) := ${[...bytes.subarray(field.offset, field.offset + field.size)].join(',')}`,
    };
  }
  const bytes = base.slice();
  const p = head();
  const n = rng.int(1, 256);
  bytes.fill(rng.uniform() < 0.5 ? 0 : 0xff, p, Math.min(p + n, bytes.length));
  return { kind: 'zero-run', bytes, what: `fill ${n} bytes at ${p}` };
}

/** How a fuzzed read ended. */
export type FuzzOutcome = 'volume' | 'input-error';

/**
 * Awaits a read: a volume or a CovsevInputError whose message starts with a path are fine;
 * anything else fails the test with the mutation that caused it.
 */
export async function expectVolumeOrInputError(read: Promise<unknown>, what: string): Promise<FuzzOutcome> {
  let volume: { shape?: unknown; data?: ArrayLike<number> };
  try {
    volume = (await read) as typeof volume;
  } catch (error) {
    if (error instanceof CovsevInputError) {
      expect(error.message.startsWith(error.path), `${what}: message does not start with the path: ${error.message}`).toBe(true);
      return 'input-error';
    }
    const detail = error instanceof Error ? `${error.name}: ${error.message}\n${error.stack}` : String(error);
    expect.fail(`${what}: neither a volume nor a CovsevInputError: ${detail}`);
  }
  expect(volume?.shape, `${what}: resolved without a volume`).toBeDefined();
  const data = volume.data ?? [];
  let nonFinite = 0;
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) nonFinite++;
  expect(nonFinite, `${what}: a volume with NaN or infinite voxels`).toBe(0);
  return 'volume';
}
