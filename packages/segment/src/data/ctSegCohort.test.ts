import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CovsevInputError, makeVolume, Rng, writeNifti } from '@covsev/io';
import { describe, expect, it } from 'vitest';
import { defaultInputSpec } from '../modelCard.js';
import { applySliceAugment, drawSliceAugment } from './augment.js';
import { sliceBatch } from './batch.js';
import { ctSegMatchKey, loadCtSegCohort, splitCtSegScans } from './ctSegCohort.js';
import { phantomCtSegCohort } from './phantomCohort.test-helpers.js';
import { buildSliceSet } from './slices.js';

/** A tiny scan in the layout, written by hand: CT values, lung and infection masks. */
async function writeScan(
  dir: string,
  names: { ct: string; lung?: string; infection?: string },
  shape: readonly [number, number, number],
  ct: (i: number) => number,
  maskShape = shape,
): Promise<void> {
  const n = shape[0] * shape[1] * shape[2];
  const m = maskShape[0] * maskShape[1] * maskShape[2];
  await mkdir(join(dir, 'ct_scans'), { recursive: true });
  await mkdir(join(dir, 'lung_mask'), { recursive: true });
  await mkdir(join(dir, 'infection_mask'), { recursive: true });
  await writeNifti(
    join(dir, 'ct_scans', `${names.ct}.nii.gz`),
    makeVolume({ data: Int16Array.from({ length: n }, (_, i) => ct(i)), shape, intensity: 'hu' }),
  );
  const label = (v: number) => makeVolume({ data: new Uint8Array(m).fill(v), shape: maskShape, intensity: 'label' });
  if (names.lung !== undefined) await writeNifti(join(dir, 'lung_mask', `${names.lung}.nii.gz`), label(2));
  if (names.infection !== undefined) await writeNifti(join(dir, 'infection_mask', `${names.infection}.nii.gz`), label(0));
}

describe('loadCtSegCohort', () => {
  it('reads the phantom layout: every scan with its masks on its grid, in HU', async () => {
    const dir = await phantomCtSegCohort({ scans: 3, size: 64, slices: 12 });
    const scans = await loadCtSegCohort(dir);
    expect(scans.map((s) => s.name)).toEqual(['phantom_001', 'phantom_002', 'phantom_003']);
    for (const s of scans) {
      expect(s.ct.shape).toEqual([12, 64, 64]);
      expect(s.lung.shape).toEqual(s.ct.shape);
      expect(s.infection.shape).toEqual(s.ct.shape);
      expect(s.ctScale).toBe('hu');
      expect(Math.min(...s.ct.data)).toBeLessThan(-500); // air in HU
      expect(new Set(s.lung.data)).toEqual(new Set([0, 1, 2]));
    }
    const picked = await loadCtSegCohort(dir, { names: ['phantom_003', 'phantom_001'] });
    expect(picked.map((s) => s.name)).toEqual(['phantom_003', 'phantom_001']);
    await expect(loadCtSegCohort(dir, { names: ['nope'] })).rejects.toThrow(/ct_scans: has no scan nope \(scans: phantom_001/);
  });

  it("matches the Kaggle copy's names and maps 0..255 Radiopaedia volumes back to HU", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-ctseg-names-'));
    await writeScan(dir, { ct: 'coronacases_org_001', lung: 'coronacases_001', infection: 'coronacases_001' }, [2, 4, 4], (i) =>
      i % 2 === 0 ? -1000 : 40,
    );
    await writeScan(
      dir,
      {
        ct: 'radiopaedia_org_covid-19-pneumonia-10_85902_1-dcm',
        lung: 'radiopaedia_10_85902_1',
        infection: 'radiopaedia_10_85902_1',
      },
      [2, 4, 4],
      (i) => (i % 2 === 0 ? 0 : 255),
    );
    expect(ctSegMatchKey('radiopaedia_org_covid-19-pneumonia-10_85902_1-dcm')).toBe('radiopaedia_10_85902_1');
    const [corona, radio] = await loadCtSegCohort(dir);
    expect(corona?.ctScale).toBe('hu');
    expect(corona?.ct.data[0]).toBe(-1000);
    expect(corona?.paths.lung).toBe(join(dir, 'lung_mask', 'coronacases_001.nii.gz'));
    expect(radio?.ctScale).toBe('ctseg-0-255');
    // 0 and 255 are the ends of the ctseg window [-1250, 250] HU.
    expect([radio?.ct.data[0], radio?.ct.data[1]]).toEqual([-1250, 250]);
  });

  it('refuses a scan without masks and a mask of another shape, naming the files and shapes', async () => {
    const missing = await mkdtemp(join(tmpdir(), 'covsev-ctseg-missing-'));
    await writeScan(missing, { ct: 'a', lung: 'a' }, [2, 4, 4], () => -1000);
    const err = await loadCtSegCohort(missing).catch((e) => e);
    expect(err).toBeInstanceOf(CovsevInputError);
    expect(err.message).toBe(
      `${join(missing, 'ct_scans', 'a.nii.gz')}: scan a has no mask in ${join(missing, 'infection_mask')} (expected a.nii.gz there)`,
    );

    const shaped = await mkdtemp(join(tmpdir(), 'covsev-ctseg-shape-'));
    await writeScan(shaped, { ct: 'b', lung: 'b', infection: 'b' }, [2, 4, 4], () => -1000, [2, 4, 5]);
    await expect(loadCtSegCohort(shaped)).rejects.toThrow(
      `${join(shaped, 'lung_mask', 'b.nii.gz')}: mask shape [2, 4, 5] differs from its scan ${join(shaped, 'ct_scans', 'b.nii.gz')} [2, 4, 4] ([slices, rows, cols])`,
    );

    const empty = await mkdtemp(join(tmpdir(), 'covsev-ctseg-empty-'));
    await expect(loadCtSegCohort(empty)).rejects.toThrow(`${join(empty, 'ct_scans')}: no such folder`);
    await rm(join(shaped, 'ct_scans', 'b.nii.gz'));
    await expect(loadCtSegCohort(shaped)).rejects.toThrow(`${join(shaped, 'ct_scans')}: holds no .nii or .nii.gz scans`);
  });
});

describe('splitCtSegScans', () => {
  it('splits by scan, seeded: disjoint, complete, 20 % validation by default, the same for the same seed', () => {
    const names = Array.from({ length: 10 }, (_, i) => `s${i}`);
    const a = splitCtSegScans(names, { seed: 3 });
    expect(a.val).toHaveLength(2);
    expect([...a.train, ...a.val].sort()).toEqual([...names].sort());
    expect(a.train.filter((n) => a.val.includes(n))).toEqual([]);
    expect(splitCtSegScans(names, { seed: 3 })).toEqual(a);
    const others = [4, 5, 6, 7].map((seed) => splitCtSegScans(names, { seed }).val.join());
    expect(new Set([a.val.join(), ...others]).size).toBeGreaterThan(1);
    expect(splitCtSegScans(names, { seed: 1, valScans: 3 }).val).toHaveLength(3);
    expect(() => splitCtSegScans(names, { seed: 1, valScans: 10 })).toThrow(
      /valScans must be an integer in 0..9 for 10 scans, got 10/,
    );
    expect(() => splitCtSegScans(['a', 'a'], { seed: 1 })).toThrow(/scan names repeat/);
  });
});

describe('slice sets, augmentation and batches', () => {
  it('prepares lung and lesion slices at the input size; lesion inputs are zero outside the lung (eq. 1)', async () => {
    const scans = await loadCtSegCohort(await phantomCtSegCohort({ scans: 3, size: 64, slices: 12 }), {
      names: ['phantom_001', 'phantom_002'],
    });
    const lung = buildSliceSet(scans, 'lung', defaultInputSpec('lung', [32, 32]));
    expect(lung.images).toHaveLength(24);
    expect(lung.refs[13]).toEqual({ scan: 'phantom_002', z: 1 });
    expect(lung.images[0]).toHaveLength(32 * 32);
    expect(lung.masks[0]).toHaveLength(32 * 32);
    const all = lung.images.flatMap((im) => [...im]);
    expect(Math.min(...all)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...all)).toBeLessThanOrEqual(1);
    expect(lung.masks.some((m) => m.some((v) => v === 1))).toBe(true);
    expect(new Set(lung.masks.flatMap((m) => [...m]))).toEqual(new Set([0, 1]));

    const every3 = buildSliceSet(scans, 'lesion', defaultInputSpec('lesion', [64, 64]), { sliceStep: 3 });
    expect(every3.refs.map((r) => r.z)).toEqual([0, 3, 6, 9, 0, 3, 6, 9]);
    const scan = scans[0];
    if (scan === undefined) throw new Error('no scan');
    // At the native size the lung mask applies voxel for voxel: zero wherever the lung is not.
    for (const [k, z] of [0, 3, 6, 9].entries()) {
      const image = every3.images[k] as Float32Array;
      for (let i = 0; i < 64 * 64; i++) {
        if ((scan.lung.data[z * 4096 + i] as number) === 0) expect(image[i]).toBe(0);
        expect(every3.masks[k]?.[i]).toBe((scan.infection.data[z * 4096 + i] as number) > 0 ? 1 : 0);
      }
    }
    expect(() => buildSliceSet(scans, 'lung', defaultInputSpec('lung', [32, 32]), { sliceStep: 0 })).toThrow(/sliceStep/);
  });

  it('augments image and mask with one draw (aligned), deterministically from the stream', () => {
    const rows = 32;
    const cols = 32;
    // An image equal to its mask: after augmentation the mask must still be where the image is bright.
    const mask = new Uint8Array(rows * cols);
    for (let y = 8; y < 20; y++) for (let x = 5; x < 14; x++) mask[y * cols + x] = 1;
    const image = Float32Array.from(mask);
    const params = drawSliceAugment(Rng.fromSeed(9), rows, cols);
    expect(drawSliceAugment(Rng.fromSeed(9), rows, cols)).toEqual(params);
    let flipsSeen = 0;
    let worst = 0;
    const offsets: [number, number][] = [];
    const rng = Rng.fromSeed(1);
    for (let k = 0; k < 20; k++) {
      const p = drawSliceAugment(rng, rows, cols);
      if (p.flipCols || p.flipRows) flipsSeen++;
      expect(p.degrees).toBeGreaterThanOrEqual(-10);
      expect(p.degrees).toBeLessThan(10);
      const out = applySliceAugment({ image, mask, rows, cols }, p);
      let differ = 0;
      for (let i = 0; i < rows * cols; i++) if ((out.image[i] as number) > 0.5 !== (out.mask[i] === 1)) differ++;
      worst = Math.max(worst, differ);
      // The centroids of the image's brightness and of the mask: within rounding of each other.
      const centroid = (values: ArrayLike<number>) => {
        let sum = 0;
        let x = 0;
        let y = 0;
        for (let i = 0; i < rows * cols; i++) {
          const v = values[i] as number;
          sum += v;
          x += v * (i % cols);
          y += v * Math.floor(i / cols);
        }
        return [x / sum, y / sum];
      };
      const [ix, iy] = centroid(out.image);
      const [mx, my] = centroid(out.mask);
      const dx = (ix as number) - (mx as number);
      const dy = (iy as number) - (my as number);
      expect(Math.hypot(dx, dy)).toBeLessThan(0.75); // nearest rounding, twice
      offsets.push([dx, dy]);
      expect(out.mask.some((v) => v === 1)).toBe(true);
    }
    // Edge pixels only: bilinear twice (crop, then rotation) against nearest twice; a one-pixel shift would be ~21.
    expect(worst).toBeLessThanOrEqual(18);
    // No systematic shift: the offsets average out.
    const mean = (k: 0 | 1) => offsets.reduce((a, o) => a + o[k], 0) / offsets.length;
    expect(Math.abs(mean(0))).toBeLessThan(0.15);
    expect(Math.abs(mean(1))).toBeLessThan(0.15);
    expect(flipsSeen).toBeGreaterThan(5);
  });

  it('batches slices as [n, H, W, 1] images and 0/1 targets', async () => {
    const scans = await loadCtSegCohort(await phantomCtSegCohort({ scans: 3, size: 64, slices: 12 }), { names: ['phantom_001'] });
    const set = buildSliceSet(scans, 'lung', defaultInputSpec('lung', [32, 32]));
    const plain = sliceBatch(set, [0, 5, 6, 7, 8, 9, 10, 11]);
    expect(plain.x.shape).toEqual([8, 32, 32, 1]);
    expect(plain.y.shape).toEqual([8, 32, 32, 1]);
    expect(Array.from(plain.x.dataSync().subarray(1024, 2048))).toEqual(Array.from(set.images[5] as Float32Array));
    expect(Array.from(plain.y.dataSync().subarray(0, 1024))).toEqual(Array.from(set.masks[0] as Uint8Array));
    const a = sliceBatch(set, [5, 6], { augment: Rng.fromSeed(2) });
    const b = sliceBatch(set, [5, 6], { augment: Rng.fromSeed(2) });
    expect(a.x.dataSync()).toEqual(b.x.dataSync());
    expect(a.x.dataSync()).not.toEqual(plain.x.dataSync().subarray(1024, 3072));
    expect(() => sliceBatch(set, [99])).toThrow(/slice 99 outside 0..11/);
    for (const t of [plain.x, plain.y, a.x, a.y, b.x, b.y]) t.dispose();
  });
});
