import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { RNG_STREAMS, restoreRngs, rngStates, seedEverything, tfSeed } from './seed.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('seedEverything', () => {
  it('gives independent, reproducible streams for data, augment, mixup and init', () => {
    const a = seedEverything(42);
    const b = seedEverything(42);
    expect(Object.keys(a)).toEqual([...RNG_STREAMS]);
    const draws = (s: typeof a) => RNG_STREAMS.map((n) => s[n].uniform());
    const da = draws(a);
    expect(draws(b)).toEqual(da);
    expect(new Set(da).size).toBe(4);
    expect(draws(seedEverything(43))).not.toEqual(da);
  });

  it('restores streams in place from saved states', () => {
    const a = seedEverything(7);
    a.data.permutation(10);
    a.mixup.beta(0.4, 0.4);
    const saved = rngStates(a);
    const next = RNG_STREAMS.map((n) => a[n].uniform());
    const b = seedEverything(999);
    expect(restoreRngs(b, saved)).toBe(b);
    expect(RNG_STREAMS.map((n) => b[n].uniform())).toEqual(next);
    expect(() => restoreRngs(b, { data: saved.data as number[] })).toThrow(/augment, mixup, init/);
  });

  it('seeds tfjs random ops through tfSeed', () => {
    const draw = (seed: number) => {
      const rngs = seedEverything(seed);
      return tf.tidy(() => Array.from(tf.randomNormal([5], 0, 1, 'float32', tfSeed(rngs.init)).dataSync()));
    };
    expect(draw(1)).toEqual(draw(1));
    expect(draw(1)).not.toEqual(draw(2));
  });
});
