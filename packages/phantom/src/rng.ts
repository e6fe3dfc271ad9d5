/**
 * Seeded randomness for the phantom. Everything random in this package draws from a `PhantomRng`
 * built on pure-rand's xoroshiro128+, so one seed gives the same numbers (and the same bytes on
 * disk) on every machine. `Math.random` is never used.
 *
 * Streams are forked by label (`rng.fork('vessels')`): a fork depends only on the parent's seed
 * and the label, not on how much the parent has drawn, so adding a draw to one part of the
 * generator does not shift the numbers of another part.
 */

import type { RandomSource } from '@covsev/io/core';
import type { RandomGenerator } from 'pure-rand';
import { xoroshiro128plus } from 'pure-rand';

/** 32-bit finaliser of MurmurHash3: a bijective, well-mixed hash of one 32-bit word. */
export function mix32(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a of a string's UTF-16 code units, mixed. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

/** Checks a user seed: a non-negative safe integer. */
export function checkSeed(seed: number): number {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`seed must be a non-negative integer below 2^53, got ${seed}`);
  }
  return seed;
}

/** A 32-bit seed derived from a seed and a list of labels or numbers (stable forever). */
export function deriveSeed(seed: number, ...parts: readonly (string | number)[]): number {
  checkSeed(seed);
  let h = mix32((seed % 0x100000000) ^ 0x9e3779b9);
  h = mix32(h ^ Math.floor(seed / 0x100000000));
  for (const part of parts) {
    const p =
      typeof part === 'string' ? hashString(part) : mix32(part >>> 0) ^ mix32(Math.floor(part / 0x100000000) + 0x632be5ab);
    h = mix32((h ^ p) + 0x7f4a7c15);
  }
  return h >>> 0;
}

const TWO_POW_53 = 9007199254740992;

/**
 * A seeded random stream. Mutable: every draw advances it. It implements io's `RandomSource`
 * (the one random-stream type of covsev) but keeps its own seeding, labelled forks and integer /
 * normal algorithms, so that a cohort seed gives the same bytes as it always has; io's `Rng`
 * draws differently (pure-rand's integer distribution, no spare normal) and is not a substitute.
 */
export class PhantomRng implements RandomSource {
  readonly seed: number;
  private readonly gen: RandomGenerator;
  private spare = Number.NaN;

  constructor(seed: number) {
    this.seed = checkSeed(seed);
    const s0 = deriveSeed(seed, 'xoroshiro:0');
    const s1 = deriveSeed(seed, 'xoroshiro:1');
    const s2 = deriveSeed(seed, 'xoroshiro:2');
    const s3 = deriveSeed(seed, 'xoroshiro:3') | 1; // never the all-zero state
    this.gen = xoroshiro128plus.fromState([s0 | 0, s1 | 0, s2 | 0, s3 | 0]);
  }

  /** An independent stream named `label`, a function of this stream's seed and the label only. */
  fork(label: string | number): PhantomRng {
    return new PhantomRng(deriveSeed(this.seed, 'fork', label));
  }

  /** Uniform 32-bit unsigned integer. */
  uint32(): number {
    return this.gen.unsafeNext() >>> 0;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.gen.unsafeNext() >>> 5; // 27 bits
    const lo = this.gen.unsafeNext() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / TWO_POW_53;
  }

  /** Uniform double in [low, high). */
  uniform(low = 0, high = 1): number {
    return low + (high - low) * this.next();
  }

  /** Uniform integer in [low, high], both included. */
  int(low: number, high: number): number {
    if (!Number.isInteger(low) || !Number.isInteger(high) || high < low) {
      throw new RangeError(`int(low, high) needs integers with low <= high, got ${low}, ${high}`);
    }
    return low + Math.floor(this.next() * (high - low + 1));
  }

  /** Normal deviate (Box-Muller, the spare kept for the next call). */
  normal(mean = 0, sd = 1): number {
    if (!Number.isNaN(this.spare)) {
      const z = this.spare;
      this.spare = Number.NaN;
      return mean + sd * z;
    }
    let u = this.next();
    while (u <= 0) u = this.next();
    const v = this.next();
    const radius = Math.sqrt(-2 * Math.log(u));
    this.spare = radius * Math.sin(2 * Math.PI * v);
    return mean + sd * radius * Math.cos(2 * Math.PI * v);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick() needs a non-empty array');
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** Fisher-Yates shuffle in place; returns the array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const t = items[i] as T;
      items[i] = items[j] as T;
      items[j] = t;
    }
    return items;
  }
}

/**
 * A table of 65536 standard normal deviates, for fast per-voxel noise: each 32-bit draw gives two
 * 16-bit indices. Built once per table seed.
 */
export function normalTable(rng: PhantomRng): Float32Array {
  const table = new Float32Array(65536);
  for (let i = 0; i < table.length; i++) table[i] = rng.normal();
  return table;
}

/** Fills `out` with standard normal deviates looked up in `table` (two per 32-bit draw). */
export function fillNormal(rng: PhantomRng, table: Float32Array, out: Float32Array): void {
  const n = out.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const r = rng.uint32();
    out[i] = table[r & 0xffff] as number;
    out[i + 1] = table[r >>> 16] as number;
  }
  if (i < n) out[i] = table[rng.uint32() & 0xffff] as number;
}
