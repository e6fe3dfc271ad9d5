import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { PreprocessCache } from './cache/preprocessCache.js';
import { preprocessScan, readJpgFolderResampled } from './preprocess.js';
import { readJpgFolder } from './readers/jpgFolder.js';
import { resampleVolume } from './transforms/resample.js';
import type { Shape3 } from './volume.js';

async function writeScan(slices: number, rows: number, cols: number, oddSlice?: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'covsev-pre-'));
  for (let k = 0; k < slices; k++) {
    const r = k === oddSlice ? rows + 2 : rows;
    const pixels = Uint8Array.from({ length: r * cols }, (_, i) => (i * 7 + k * 13 + ((i / cols) | 0) * 3) % 256);
    await sharp(pixels, { raw: { width: cols, height: r, channels: 1 } })
      .jpeg({ quality: 92 })
      .toFile(join(dir, `${k}.jpg`));
  }
  return dir;
}

describe('readJpgFolderResampled (decode only the slices the interpolation reads)', () => {
  it.each([
    ['downsample linear', [5, 12, 10], 'linear', 'float32'],
    ['downsample nearest', [7, 8, 8], 'nearest', 'same'],
    ['upsample linear', [40, 20, 24], 'linear', 'same'],
  ] as const)('%s equals readJpgFolder + resampleVolume exactly', async (_name, shape, mode, output) => {
    const dir = await writeScan(23, 16, 20);
    const fast = await readJpgFolderResampled(dir, { shape: shape as Shape3, mode, output });
    const slow = resampleVolume(await readJpgFolder(dir), shape as Shape3, { mode, output });
    expect(fast.shape).toEqual(slow.shape);
    expect(fast.data.constructor).toBe(slow.data.constructor);
    expect(Array.from(fast.data)).toEqual(Array.from(slow.data));
    expect(fast.spacing).toEqual(slow.spacing);
    fast.affine.forEach((v, i) => expect(v).toBeCloseTo(slow.affine[i] as number, 12));
  });

  it('still refuses a slice of another size among those it does not decode', async () => {
    const dir = await writeScan(23, 16, 20, 1);
    await expect(readJpgFolderResampled(dir, { shape: [2, 8, 8], mode: 'nearest', output: 'same' })).rejects.toThrow(
      /1\.jpg: slice is 20x18/,
    );
  });

  it('preprocessScan goes through the cache', async () => {
    const dir = await writeScan(9, 16, 16);
    const cache = new PreprocessCache(join(dir, '..', `${dir.split('/').pop()}-cache`));
    const recipe = { shape: [4, 8, 8] as Shape3, mode: 'linear' as const, output: 'same' as const };
    const a = await preprocessScan(dir, recipe, { cache });
    const b = await preprocessScan(dir, recipe, { cache });
    expect([a.cached, b.cached]).toEqual([false, true]);
    expect(Array.from(b.volume.data)).toEqual(Array.from(a.volume.data));
  });
});
