/**
 * Small COVID-19-CT-Seg phantom cohorts for the data, trainer and evaluation tests, written once
 * per (scans, size, slices, seed) into the OS temp folder and shared by the tests of a process.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeCohort } from '@covsev/phantom';

const made = new Map<string, Promise<string>>();

/** A `ct-seg` phantom cohort of `scans` scans of `size` x `size` x `slices`; returns its folder. */
export function phantomCtSegCohort(options: { scans: number; size: number; slices: number; seed?: number }): Promise<string> {
  const { scans, size, slices, seed = 7 } = options;
  const key = `${scans}-${size}-${slices}-${seed}`;
  let dir = made.get(key);
  if (dir === undefined) {
    dir = (async () => {
      const out = join(await mkdtemp(join(tmpdir(), 'covsev-seg-cohort-')), 'ctseg');
      await writeCohort({ layout: 'ct-seg', out, scans, seed, rows: size, cols: size, slices: [slices, slices] });
      return out;
    })();
    made.set(key, dir);
  }
  return dir;
}
