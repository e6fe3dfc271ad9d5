import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { makeVolume } from '../volume.js';
import { evenlySpacedSlices, renderMontage, writeMontagePng } from './montage.js';

describe('montages', () => {
  it('picks evenly spaced slices, first and last included', () => {
    expect(evenlySpacedSlices(10, 4)).toEqual([0, 3, 6, 9]);
    expect(evenlySpacedSlices(3, 9)).toEqual([0, 1, 2]);
  });

  it('tiles slices in a grid, windows HU, and colours mask labels', async () => {
    const hu = makeVolume({
      data: Int16Array.from({ length: 4 * 2 * 3 }, (_, i) => (i < 6 ? -1150 : 350)),
      shape: [4, 2, 3],
      intensity: 'hu',
    });
    const mask = makeVolume({ data: new Uint8Array(24), shape: [4, 2, 3], intensity: 'label' });
    mask.data[6] = 3; // slice 1, pixel (0, 0): infection, red
    const { rgb, width, height } = renderMontage(hu, { slices: [0, 1, 2], columns: 2, mask, alpha: 0.5 });
    expect([width, height]).toEqual([6, 4]);
    expect(Array.from(rgb.subarray(0, 3))).toEqual([0, 0, 0]); // slice 0 at -1150 HU -> black
    const tile1 = 3 * 3; // second tile starts at x = 3 in row 0
    expect(Array.from(rgb.subarray(tile1, tile1 + 3))).toEqual([
      Math.round(0.5 * 255 + 0.5 * 230),
      Math.round(0.5 * 255 + 0.5 * 50),
      Math.round(0.5 * 255 + 0.5 * 40),
    ]);
    expect(Array.from(rgb.subarray(tile1 + 3, tile1 + 6))).toEqual([255, 255, 255]);
    const path = join(await mkdtemp(join(tmpdir(), 'covsev-montage-')), 'm.png');
    await writeMontagePng(path, hu, { slices: 4 });
    const meta = await sharp(path).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 6, 4]);
  });
});
