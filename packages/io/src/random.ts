import { type RandomGenerator, unsafeUniformIntDistribution, xoroshiro128plus } from 'pure-rand';

/**
 * The draws every seeded random stream in covsev offers: io's `Rng` (augmentation, training) and
 * phantom's `PhantomRng` (synthetic cohorts) both implement it, so code that only needs these
 * accepts either. The two streams are not interchangeable: each keeps its own seeding and its
 * own integer and normal algorithms, so that a seed keeps giving the same numbers (and the
 * phantom the same bytes on disk) as before they shared this type.
 */
export interface RandomSource {
  /** Uniform float in [low, high), default [0, 1), with 53 random bits. */
  uniform(low?: number, high?: number): number;
  /** Uniform integer in [low, high] (both included). */
  int(low: number, high: number): number;
  /** Normal deviate. */
  normal(mean?: number, sd?: number): number;
}

/**
 * A seeded random source for transforms and generators. Every random draw in covsev goes
 * through one of these (never Math.random), so a seed reproduces a run exactly.
 * Backed by pure-rand's xoroshiro128+; `state()` / `fromState` let checkpoints resume the stream.
 */
export class Rng implements RandomSource {
  private constructor(private readonly generator: RandomGenerator) {}

  /**
   * A generator from a 32-bit integer seed. xoroshiro128+ seeded with a small integer starts with
   * near-constant outputs (about 1 - 1e-10 first), so the seed is first scrambled (murmur3's
   * finaliser) and the first 16 outputs are dropped.
   */
  static fromSeed(seed: number): Rng {
    if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
    let h = seed | 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h ^= h >>> 16;
    const generator = xoroshiro128plus(h | 0);
    for (let i = 0; i < 16; i++) generator.unsafeNext();
    return new Rng(generator);
  }

  /** A generator restored from `state()`. */
  static fromState(state: readonly number[]): Rng {
    return new Rng(xoroshiro128plus.fromState(state));
  }

  /** The internal state, to store in a checkpoint. */
  state(): number[] {
    return [...this.generator.getState()];
  }

  /** An independent child stream (for a worker, a scan, a view). */
  fork(): Rng {
    return Rng.fromSeed(this.int(-0x80000000, 0x7fffffff));
  }

  /** Uniform float in [low, high), default [0, 1), with 53 random bits. */
  uniform(low = 0, high = 1): number {
    const hi = (this.generator.unsafeNext() >>> 0) >>> 5; // 27 bits
    const lo = (this.generator.unsafeNext() >>> 0) >>> 6; // 26 bits
    const u = (hi * 67108864 + lo) / 9007199254740992;
    return low === 0 && high === 1 ? u : low + (high - low) * u;
  }

  /** Uniform float in [low, high). */
  range(low: number, high: number): number {
    return low + (high - low) * this.uniform();
  }

  /** Uniform integer in [low, high] (both included). */
  int(low: number, high: number): number {
    return unsafeUniformIntDistribution(low, high, this.generator);
  }

  /** Standard normal (Box-Muller). */
  normal(mean = 0, std = 1): number {
    let u = 0;
    while (u === 0) u = this.uniform();
    return mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }

  /** Beta(a, a)-style draws via two gammas (Marsaglia-Tsang); used by mixup. */
  beta(a: number, b: number): number {
    const x = this.gamma(a);
    const y = this.gamma(b);
    return x / (x + y);
  }

  gamma(shape: number): number {
    if (shape < 1) return this.gamma(shape + 1) * this.uniform() ** (1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.uniform();
      if (u < 1 - 0.0331 * x ** 4) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  /** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): number[] {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(0, i);
      [p[i], p[j]] = [p[j] as number, p[i] as number];
    }
    return p;
  }
}
