import { initBackend } from '@covsev/engine';
import { makeVolume, Rng } from '@covsev/io';
import { beforeAll, describe, expect, it } from 'vitest';
import { CmcNetwork } from '../models/cmcNetwork.js';
import { argmax, predictCmc } from './predict.js';

beforeAll(async () => {
  await initBackend({ prefer: 'wasm', log: false });
});

describe('argmax', () => {
  it('picks the largest probability, the first on a tie', () => {
    expect(argmax([0.1, 0.6, 0.2, 0.1])).toBe(1);
    expect(argmax([0.4, 0.1, 0.4, 0.1])).toBe(0);
    expect(argmax([0, 0, 0, 1])).toBe(3);
    expect(argmax([])).toBe(-1);
  });
});

describe('predictCmc', () => {
  it('gives softmax probabilities per scan, the same in any batch size', () => {
    const rng = Rng.fromSeed(2);
    const model = new CmcNetwork({ backbone: { layers: [1, 1, 1, 1], base: 8, stemWidth: 8, radix: 2 }, inChannels: 1 }, rng);
    const shape = [16, 64, 64] as const;
    const scans = [0, 1, 2].map((i) => ({
      name: `s${i}`,
      image: makeVolume({
        data: Uint8Array.from({ length: 16 * 64 * 64 }, () => Math.floor(256 * rng.uniform())),
        shape,
        intensity: 'uint8-windowed',
      }),
    }));
    const probs = predictCmc(model, scans, 1);
    expect(probs).toHaveLength(3);
    for (const p of probs) {
      expect(p).toHaveLength(4);
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
    const one = predictCmc(model, scans, 1, 1);
    one.forEach((p, i) => p.forEach((v, c) => expect(v).toBeCloseTo(probs[i]?.[c] as number, 4)));
  });
});
