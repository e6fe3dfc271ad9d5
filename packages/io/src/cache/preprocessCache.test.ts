import { mkdtemp, readdir, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeVolume } from '../volume.js';
import { PreprocessCache } from './preprocessCache.js';

describe('PreprocessCache', () => {
  it('computes once, then hits; a changed source or recipe is a miss', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-cache-'));
    const source = join(dir, 'scan');
    await writeFile(source, 'pretend scan bytes');
    const cache = new PreprocessCache(join(dir, 'cache'));
    let computed = 0;
    const compute = async () => {
      computed++;
      return makeVolume({
        data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]),
        shape: [2, 2, 2],
        spacing: [3, 1, 1],
        intensity: 'uint8-windowed',
      });
    };
    const first = await cache.getOrCompute(source, { shape: [2, 2, 2] }, compute);
    const second = await cache.getOrCompute(source, { shape: [2, 2, 2] }, compute);
    expect([first.hit, second.hit, computed]).toEqual([false, true, 1]);
    expect(Array.from(second.volume.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(second.volume.spacing).toEqual([3, 1, 1]);
    expect(second.volume.data).toBeInstanceOf(Uint8Array);
    await cache.getOrCompute(source, { shape: [4, 4, 4] }, compute);
    expect(computed).toBe(2);
    await utimes(source, new Date(), new Date(Date.now() + 5000));
    await cache.getOrCompute(source, { shape: [2, 2, 2] }, compute);
    expect(computed).toBe(3);
    const files = await readdir(join(dir, 'cache'));
    expect(files.filter((f) => f.endsWith('.npy'))).toHaveLength(3);
    expect(files.some((f) => f.includes('.tmp-'))).toBe(false);
  });
});
