/** Shared by the training tests: random two-channel views on the smallest grid the backbone accepts. */
import { initBackend, type Volume5, volumeFromNcdhw } from '@covsev/engine';
import { makeVolume, type Rng } from '@covsev/io';
import { beforeAll } from 'vitest';
import type { CmcScan } from '../input/cmcScan.js';

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

/** A labelled scan on a 16x64x64 grid, brighter for higher grades (something to learn), with a mask when asked. */
export const SCAN_GRID = [16, 64, 64] as const;
export function labelledScan(name: string, label: number, rng: Rng, withMask: boolean): CmcScan {
  const n = SCAN_GRID[0] * SCAN_GRID[1] * SCAN_GRID[2];
  const image = makeVolume({
    data: Uint8Array.from({ length: n }, () => Math.min(255, Math.floor(40 * label + 60 * rng.uniform()))),
    shape: SCAN_GRID,
    intensity: 'uint8-windowed',
  });
  const mask = makeVolume({
    data: Uint8Array.from({ length: n }, () => (rng.uniform() < 0.1 * label ? 1 : 0)),
    shape: SCAN_GRID,
    intensity: 'label',
  });
  return withMask ? { name, image, mask, label } : { name, image, label };
}
