/** Shared by the training tests: random two-channel views on the smallest grid the backbone accepts. */
import { initBackend, type Volume5, volumeFromNcdhw } from '@covsev/engine';
import type { Rng } from '@covsev/io';
import { beforeAll } from 'vitest';

/** N scans, C, D, H, W: the smallest grid 4 stride-2 stages accept. */
export const SHAPE = [2, 2, 16, 64, 64] as const;

export function randomView(rng: Rng): Volume5 {
  const n = SHAPE.reduce((a, b) => a * b, 1);
  return volumeFromNcdhw(
    Float32Array.from({ length: n }, () => rng.normal()),
    SHAPE,
  );
}

/** The tests run on wasm with covsev's kernels, as training does. */
export function useWasmBackend(): void {
  beforeAll(async () => {
    await initBackend({ prefer: 'wasm' });
  });
}
