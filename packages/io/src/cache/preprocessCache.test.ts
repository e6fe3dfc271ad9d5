import { mkdtemp, readdir, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeVolume } from '../volume.js';
import { encodeNpy } from './npy.js';
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

describe('PreprocessCache: bad entries', () => {
  const volume = () =>
    makeVolume({
      data: Uint8Array.from({ length: 24 }, (_, i) => i * 3),
      shape: [2, 3, 4],
      spacing: [3, 1, 1],
      intensity: 'uint8-windowed',
    });

  async function setup() {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-cache-'));
    const source = join(dir, 'scan');
    await writeFile(source, 'pretend scan bytes');
    const warnings: string[] = [];
    const cache = new PreprocessCache(join(dir, 'cache'), { onWarning: (w) => warnings.push(w) });
    let computed = 0;
    const compute = async () => {
      computed++;
      return volume();
    };
    const recipe = { shape: [2, 3, 4] };
    await cache.getOrCompute(source, recipe, compute);
    const key = await cache.key(source, recipe);
    const npy = join(dir, 'cache', `${key}.npy`);
    const json = join(dir, 'cache', `${key}.json`);
    return { dir, source, cache, warnings, compute, recipe, npy, json, computed: () => computed };
  }

  it('recomputes a truncated .npy with a warning and rewrites the entry', async () => {
    const s = await setup();
    const size = (await stat(s.npy)).size;
    await truncate(s.npy, size - 10);
    const again = await s.cache.getOrCompute(s.source, s.recipe, s.compute);
    expect(again.hit).toBe(false);
    expect(s.computed()).toBe(2);
    expect(Array.from(again.volume.data)).toEqual(Array.from(volume().data));
    expect(s.warnings).toHaveLength(1);
    expect(s.warnings[0]).toMatch(/\.npy: truncated \.npy.*recomputed/);
    expect(s.cache.warnings).toBe(1);
    expect((await stat(s.npy)).size).toBe(size);
    const third = await s.cache.getOrCompute(s.source, s.recipe, s.compute);
    expect([third.hit, s.computed(), s.warnings.length]).toEqual([true, 2, 1]);
    await rm(s.dir, { recursive: true, force: true });
  });

  it('recomputes an entry with a garbage header, a shape or dtype unlike its .json, or unreadable .json', async () => {
    const s = await setup();
    const good = await readFile(s.npy);
    const reasons: RegExp[] = [];
    // Garbage header.
    await writeFile(s.npy, Buffer.from('not numpy at all, just text'));
    reasons.push(/bad magic/);
    expect((await s.cache.getOrCompute(s.source, s.recipe, s.compute)).hit).toBe(false);
    // A different shape than the .json says.
    await writeFile(s.npy, encodeNpy(new Uint8Array(24), [4, 3, 2]));
    reasons.push(/shape \[4,3,2\].*\[2,3,4\]/);
    expect((await s.cache.getOrCompute(s.source, s.recipe, s.compute)).hit).toBe(false);
    // A different dtype than the .json says.
    await writeFile(s.npy, encodeNpy(new Float32Array(24), [2, 3, 4]));
    reasons.push(/dtype float32.*uint8/);
    expect((await s.cache.getOrCompute(s.source, s.recipe, s.compute)).hit).toBe(false);
    // A .json that is not JSON.
    await writeFile(s.json, '{"version":1,"ke');
    reasons.push(/\.json: .*not valid JSON/);
    expect((await s.cache.getOrCompute(s.source, s.recipe, s.compute)).hit).toBe(false);
    expect(s.computed()).toBe(5);
    expect(s.warnings).toHaveLength(4);
    s.warnings.forEach((w, i) => expect(w).toMatch(reasons[i] as RegExp));
    expect(await readFile(s.npy)).toEqual(good);
    expect((await s.cache.getOrCompute(s.source, s.recipe, s.compute)).hit).toBe(true);
    await rm(s.dir, { recursive: true, force: true });
  });
});
