import { makeVolume, Rng } from '@covsev/io';
import { describe, expect, it } from 'vitest';
import { ViewPool } from './viewPool.js';
import { applyView, drawView } from './views.js';

function scan(rng: Rng, withMask: boolean) {
  const shape = [4, 32, 40] as const;
  const n = shape[0] * shape[1] * shape[2];
  const image = makeVolume({
    data: Uint8Array.from({ length: n }, () => Math.floor(256 * rng.uniform())),
    shape,
    intensity: 'uint8-windowed',
  });
  const mask = makeVolume({
    data: Uint8Array.from({ length: n }, () => (rng.uniform() < 0.2 ? 1 : 0)),
    shape,
    intensity: 'label',
  });
  return withMask ? { image, mask } : { image };
}

describe('ViewPool', () => {
  it('makes the same bytes as this thread, in the jobs’ order, with and without masks', async () => {
    const rng = Rng.fromSeed(4);
    const scans = [scan(rng, true), scan(rng, false), scan(rng, true)];
    const jobs = [0, 1].flatMap(() => scans.map((s) => drawView(s, rng)));
    const pool = ViewPool.start(2);
    try {
      const made = await pool.apply(jobs);
      const here = jobs.map(applyView);
      expect(made).toHaveLength(6);
      made.forEach((view, i) => {
        expect(view.image.shape).toEqual(here[i]?.image.shape);
        expect(view.image.data).toEqual(here[i]?.image.data);
        expect(view.mask?.data).toEqual(here[i]?.mask?.data);
      });
      expect(made[1]?.mask).toBeUndefined();
      // Two draws of one scan differ: the pool applies each job's own parameters.
      expect(made[0]?.image.data).not.toEqual(made[3]?.image.data);
    } finally {
      await pool.close();
    }
    await expect(pool.apply(jobs)).rejects.toThrow(/closed/);
  });

  it('rejects a job the worker cannot apply, naming the worker', async () => {
    const rng = Rng.fromSeed(5);
    const s = scan(rng, true);
    const job = drawView(s, rng);
    const pool = ViewPool.start(1);
    try {
      const broken = { ...job, mask: makeVolume({ data: new Uint8Array(8), shape: [2, 2, 2], intensity: 'label' }) };
      await expect(pool.apply([broken])).rejects.toThrow(/view worker 0: .*differ in shape/);
      // The pool goes on after a failed job.
      expect(await pool.apply([job])).toHaveLength(1);
    } finally {
      await pool.close();
    }
  });
});
