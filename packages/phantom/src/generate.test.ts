import { createHash } from 'node:crypto';
import { categoryFromInvolvement } from '@covsev/io';
import { describe, expect, it } from 'vitest';
import { CATEGORY_TARGET_RANGES, generateScan, neighbourAcrossBorder, type PhantomScan } from './generate.js';

const small = { slices: 16, rows: 64, cols: 64 } as const;

function hash(scan: PhantomScan): string {
  const h = createHash('sha256');
  for (const v of [scan.ct, scan.lungMask, scan.infectionMask])
    h.update(new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength));
  return h.digest('hex');
}

function stats(values: number[]): { mean: number; median: number } {
  const sorted = values.slice().sort((a, b) => a - b);
  return { mean: values.reduce((a, b) => a + b, 0) / values.length, median: sorted[sorted.length >> 1] as number };
}

describe('generateScan', () => {
  const scan = generateScan({ ...small, slices: 24, targetInvolvement: 0.35, consolidation: 0 }, 11);

  it('is deterministic: same seed same bytes, another seed other bytes', () => {
    const again = generateScan({ ...small, slices: 24, targetInvolvement: 0.35, consolidation: 0 }, 11);
    expect(hash(again)).toBe(hash(scan));
    const other = generateScan({ ...small, slices: 24, targetInvolvement: 0.35, consolidation: 0 }, 12);
    expect(hash(other)).not.toBe(hash(scan));
  });

  it('pins the voxels of a small scan (update GOLDEN on purpose when the anatomy changes)', () => {
    const GOLDEN = '61a8a74ebfba684ea08ca612a66e4eebdbc54331c5e7971c947a4a02da6256a1';
    const s = generateScan({ slices: 8, rows: 32, cols: 32, targetInvolvement: 0.4 }, 2024);
    expect(hash(s)).toBe(GOLDEN);
  });

  it('returns volumes of the documented shape, types and intensities', () => {
    expect(scan.ct.shape).toEqual([24, 64, 64]);
    expect(scan.ct.data).toBeInstanceOf(Int16Array);
    expect(scan.ct.intensity).toBe('hu');
    expect(scan.lungMask.intensity).toBe('label');
    expect(scan.infectionMask.data).toBeInstanceOf(Uint8Array);
    expect(new Set(scan.lungMask.data)).toEqual(new Set([0, 1, 2]));
    expect(new Set(scan.infectionMask.data)).toEqual(new Set([0, 1]));
    // World: x = -u (columns grow to the patient's left), y = -v, z grows with the slice.
    expect(scan.ct.affine[0]).toBeLessThan(0);
    expect(scan.ct.affine[5]).toBeLessThan(0);
    expect(scan.ct.affine[10]).toBeGreaterThan(0);
  });

  it('keeps the infection inside the lungs and measures involvement exactly', () => {
    let lung = 0;
    let infected = 0;
    for (let i = 0; i < scan.lungMask.data.length; i++) {
      const l = scan.lungMask.data[i] as number;
      const f = scan.infectionMask.data[i] as number;
      if (f) expect(l).toBeGreaterThan(0);
      if (l) lung++;
      infected += f;
    }
    expect(scan.involvement).toBe(infected / lung);
    expect(scan.lungVoxels.left + scan.lungVoxels.right).toBe(lung);
    expect(Math.abs(scan.involvement - 0.35)).toBeLessThan(0.03);
    expect(scan.category).toBe(categoryFromInvolvement(scan.involvement));
    expect(scan.category).toBe(2);
  });

  it('puts the left lung (label 1) on the image right and makes the right lung larger', () => {
    const [slices, rows, cols] = scan.lungMask.shape;
    let leftCols = 0;
    let leftN = 0;
    let rightCols = 0;
    let rightN = 0;
    for (let z = 0; z < slices; z++)
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++) {
          const l = scan.lungMask.data[(z * rows + r) * cols + c];
          if (l === 1) {
            leftCols += c;
            leftN++;
          } else if (l === 2) {
            rightCols += c;
            rightN++;
          }
        }
    expect(leftCols / leftN).toBeGreaterThan(cols / 2);
    expect(rightCols / rightN).toBeLessThan(cols / 2);
    for (const seed of [1, 2, 3, 4]) {
      const s = generateScan({ ...small, targetInvolvement: 0.1 }, seed);
      expect(s.lungVoxels.right).toBeGreaterThan(s.lungVoxels.left * 1.03);
    }
  });

  it('has CT-like HU: air, lung, ground glass, soft tissue, bone', () => {
    // 128 x 128: at 64 x 64 a third of the lung voxels are partial volumes of the pleura.
    const { ct, lungMask, infectionMask } = generateScan(
      { slices: 12, rows: 128, cols: 128, targetInvolvement: 0.35, consolidation: 0 },
      11,
    );
    const lung: number[] = [];
    const ggo: number[] = [];
    let max = -Infinity;
    for (let i = 0; i < ct.data.length; i++) {
      const v = ct.data[i] as number;
      if (v > max) max = v;
      if (lungMask.data[i]) (infectionMask.data[i] ? ggo : lung).push(v);
    }
    const l = stats(lung);
    expect(Math.abs(l.mean + 850)).toBeLessThan(60);
    const g = stats(ggo);
    expect(g.mean).toBeGreaterThan(-700);
    expect(g.mean).toBeLessThan(-300);
    expect(g.median).toBeGreaterThan(-700);
    expect(g.median).toBeLessThan(-300);
    expect(max).toBeGreaterThan(500); // bone
    // The corner of the first slice is outside the body: air around -1000.
    const corner = Array.from(ct.data.subarray(0, 128 * 4));
    expect(Math.abs(stats(corner).mean + 1000)).toBeLessThan(40);
    // Noise: air is not flat.
    expect(new Set(corner).size).toBeGreaterThan(10);
  });

  it('turns the densest part of large lesions into consolidation (-100..+50 HU)', () => {
    const s = generateScan({ ...small, targetInvolvement: 0.7, consolidation: 0.4 }, 5);
    const lesion: number[] = [];
    for (let i = 0; i < s.ct.data.length; i++) if (s.infectionMask.data[i]) lesion.push(s.ct.data[i] as number);
    lesion.sort((a, b) => a - b);
    const top = lesion.slice(Math.floor(lesion.length * 0.8));
    const m = stats(top).median;
    expect(m).toBeGreaterThan(-150);
    expect(m).toBeLessThan(80);
  });

  it('hits targets in every class and grades them by Table 1', () => {
    for (const category of [1, 2, 3, 4] as const) {
      const s = generateScan({ ...small, category }, 100 + category);
      const [lo, hi] = CATEGORY_TARGET_RANGES[category];
      expect(s.targetInvolvement).toBeGreaterThanOrEqual(lo);
      expect(s.targetInvolvement).toBeLessThanOrEqual(hi);
      expect(Math.abs(s.involvement - s.targetInvolvement)).toBeLessThan(0.03);
      expect(s.category).toBe(category);
      expect(s.label).toBe(category);
    }
  });

  it('makes a healthy scan with target 0', () => {
    const s = generateScan({ ...small, targetInvolvement: 0 }, 3);
    expect(s.involvement).toBe(0);
    expect(s.category).toBe(1);
  });

  it('flips labels near a border under label noise, and keeps the truth', () => {
    const near = generateScan({ ...small, targetInvolvement: 0.52, labelNoise: 1 }, 8);
    expect(near.trueCategory).toBe(3);
    expect(near.label).toBe(2);
    expect(near.labelFlipped).toBe(true);
    const far = generateScan({ ...small, targetInvolvement: 0.62, labelNoise: 1 }, 8);
    expect(far.label).toBe(far.trueCategory);
    expect(far.labelFlipped).toBe(false);
    expect(neighbourAcrossBorder(0.27, 0.05)).toBe(1);
    expect(neighbourAcrossBorder(0.74, 0.05)).toBe(4);
    expect(neighbourAcrossBorder(0.1, 0.05)).toBeUndefined();
  });

  it('reports its progress per slice', () => {
    const seen: number[] = [];
    generateScan({ slices: 5, rows: 32, cols: 32, targetInvolvement: 0.2 }, 1, { onSlice: (done) => seen.push(done) });
    expect(seen).toEqual([1, 2, 3, 4, 5]);
  });

  it('refuses bad specs with clear messages', () => {
    expect(() => generateScan({ ...small, slices: 0 }, 1)).toThrow(/slices must be an integer/);
    expect(() => generateScan({ ...small, targetInvolvement: 1.5 }, 1)).toThrow(/targetInvolvement/);
    expect(() => generateScan({ ...small, labelNoise: 2 }, 1)).toThrow(/labelNoise/);
    expect(() => generateScan({ ...small, spacing: [1, 0, 1] }, 1)).toThrow(/spacing/);
    // A 3 mm field of view in the middle of the mediastinum holds no lung.
    expect(() => generateScan({ slices: 2, rows: 16, cols: 16, spacing: [0.5, 0.2, 0.2], targetInvolvement: 0.2 }, 1)).toThrow(
      /no lung/,
    );
  });
});
