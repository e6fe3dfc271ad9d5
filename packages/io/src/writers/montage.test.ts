import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { makeVolume } from '../volume.js';
import { CAPTION_HEIGHT, evenlySpacedSlices, heatColour, renderMontage, writeMontagePng } from './montage.js';

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

  it('blends a heat map with opacity heatAlpha * v (jet colours) and outlines a mask', async () => {
    const ct = makeVolume({ data: new Uint8Array(5 * 5).fill(100), shape: [1, 5, 5], intensity: 'uint8-windowed' });
    const heat = makeVolume({ data: new Float32Array(25), shape: [1, 5, 5], intensity: 'unknown' });
    heat.data[0] = 1; // (0, 0): hot
    heat.data[1] = 2; // clamped to 1
    const mask = makeVolume({ data: new Uint8Array(25), shape: [1, 5, 5], intensity: 'label' });
    for (const y of [1, 2, 3]) for (const x of [1, 2, 3]) mask.data[y * 5 + x] = 1;
    expect(heatColour(0)).toEqual([0, 0, 128]);
    expect(heatColour(1)).toEqual([128, 0, 0]);
    // uint8 slices are drawn as they are (grey 100).
    const { rgb } = renderMontage(ct, { heat, heatAlpha: 0.5, mask, maskStyle: 'outline', colours: [[255, 255, 255]] });
    const px = (y: number, x: number) => Array.from(rgb.subarray((y * 5 + x) * 3, (y * 5 + x) * 3 + 3));
    expect(px(0, 0)).toEqual([114, 50, 50]);
    expect(px(0, 1)).toEqual([114, 50, 50]);
    expect(px(4, 4)).toEqual([100, 100, 100]); // v = 0: the slice as it is
    expect(px(1, 1)).toEqual([255, 255, 255]); // edge of the mask
    expect(px(2, 2)).toEqual([100, 100, 100]); // inside: not drawn
    const filled = renderMontage(ct, { mask, alpha: 0.5, colours: [[200, 0, 0]] }).rgb;
    expect(Array.from(filled.subarray((2 * 5 + 2) * 3, (2 * 5 + 2) * 3 + 3))).toEqual([150, 50, 50]); // fill is the default
  });

  it('adds a caption strip above the tiles', async () => {
    const ct = makeVolume({
      data: Uint8Array.from({ length: 2 * 8 * 40 }, (_, i) => i % 256),
      shape: [2, 8, 40],
      intensity: 'uint8-windowed',
    });
    const path = join(await mkdtemp(join(tmpdir(), 'covsev-montage-')), 'c.png');
    await writeMontagePng(path, ct, { slices: [0, 1], columns: 2, caption: 'a <caption> & more' });
    const meta = await sharp(path).metadata();
    expect([meta.width, meta.height]).toEqual([80, 8 + CAPTION_HEIGHT]);
    const { data } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
    const tiles = renderMontage(ct, { slices: [0, 1], columns: 2 }).rgb;
    expect(Array.from(data.subarray(CAPTION_HEIGHT * 80 * 3))).toEqual(Array.from(tiles)); // the tiles under the strip, unchanged
  });
});
