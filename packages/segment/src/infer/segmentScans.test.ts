import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { iou } from '@covsev/eval';
import { readNifti } from '@covsev/io';
import { generateScan, writeCtSegScan, writeJpgSlices } from '@covsev/phantom';
import { afterAll, describe, expect, it } from 'vitest';
import { type ScanToSegment, segmentScans } from './segmentScans.js';
import { PixelSegmenter, SequenceSegmenter } from './testModels.test-helpers.js';

const root = await mkdtemp(join(tmpdir(), 'covsev-segment-scans-'));
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
const data = join(root, 'data');
const scan = generateScan({ slices: 20, rows: 96, cols: 96, targetInvolvement: 0.3 }, 5);
await writeCtSegScan(data, 'phantom_001', scan);
await writeJpgSlices(join(data, 'ct_scan_7'), scan);
const scans: ScanToSegment[] = [
  { name: 'phantom_001', path: join(data, 'ct_scans', 'phantom_001.nii.gz') },
  { name: 'ct_scan_7', path: join(data, 'ct_scan_7'), intensity: { window: 'cov19ctdb' } },
];
const truthLung = Uint8Array.from(scan.lungMask.data, (v) => (v > 0 ? 1 : 0));
/**
 * The lung model of these tests returns the exact lung (the classical mask needs the scan's
 * spacing, which a JPG folder does not have: it reads as 1 mm, a 96 mm field of view here).
 */
const lungModel = new SequenceSegmenter(Float32Array.from(truthLung), 20, 96);

function sum(data: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < data.length; i++) n += data[i] as number;
  return n;
}

/** PNG width and height from the IHDR chunk. */
function pngSize(bytes: Buffer): { width: number; height: number } {
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

describe('segmentScans', () => {
  const out = join(root, 'out');
  const lesion = new PixelSegmenter('lesion', 96, (u) => (u >= 0.5 ? 1 : 0), 'lesion-a');

  it('writes lung and infection NIfTIs on the scan grid, an overlay, and a record per scan', async () => {
    const messages: string[] = [];
    let lastProgress = { done: 0, total: 0, scan: '' };
    const result = await segmentScans(scans, {
      out,
      lung: lungModel,
      lesion,
      onScan: (r) => messages.push(r.message),
      onProgress: (p) => {
        lastProgress = p;
      },
    });
    expect(result.computed).toBe(2);
    expect(result.cached).toBe(0);
    expect(messages[0]).toMatch(/^phantom_001: segmented \(\d+ lung voxels, \d+ infection voxels; key [0-9a-f]{24}\)$/);
    expect(lastProgress).toMatchObject({ scan: 'ct_scan_7', done: 40, total: 40 });
    for (const report of result.scans) {
      expect(report.lungPath).toBe(join(out, 'lung', `${report.name}.nii.gz`));
      expect(report.infectionPath).toBe(join(out, 'infection', `${report.name}.nii.gz`));
      const lung = await readNifti(report.lungPath);
      const infection = await readNifti(report.infectionPath as string);
      for (const mask of [lung, infection]) {
        expect(mask.shape).toEqual(scan.ct.shape);
        expect(mask.data).toBeInstanceOf(Uint8Array);
        expect(mask.intensity).toBe('label');
        expect(new Set(mask.data).size).toBeLessThanOrEqual(2);
      }
      // NIfTI (HU) keeps the scan's affine; the JPG folder has no geometry, its reader's default grid.
      if (report.name === 'phantom_001') {
        lung.affine.forEach((v, i) => expect(v).toBeCloseTo(scan.ct.affine[i] as number, 4));
        expect(lung.spacing.map((s) => Number(s.toFixed(4)))).toEqual(scan.ct.spacing.map((s) => Number(s.toFixed(4))));
      }
      expect(report.lungVoxels).toBe(sum(lung.data));
      expect(report.lesionVoxels).toBe(sum(infection.data));
      expect(report.lesionVoxels).toBeGreaterThan(0);
      for (let i = 0; i < infection.data.length; i++) if (infection.data[i]) expect(lung.data[i]).toBe(1);
      expect(iou(lung.data, truthLung)).toBeGreaterThan(0.99); // the exact lung, after the clean-up (holes filled)
      const png = await readFile(report.overlayPath as string);
      expect(pngSize(png).width).toBe(3 * 96);
      const record = JSON.parse(await readFile(join(out, 'records', `${report.name}.json`), 'utf8'));
      expect(record.key).toBe(report.key);
    }
  });

  it('a second run with the same scans and models reads the cache and says so; nothing is rewritten', async () => {
    const before = (await stat(join(out, 'lung', 'phantom_001.nii.gz'))).mtimeMs;
    const messages: string[] = [];
    const result = await segmentScans(scans, { out, lung: lungModel, lesion, onScan: (r) => messages.push(r.message) });
    expect(result.cached).toBe(2);
    expect(result.computed).toBe(0);
    expect(messages[0]).toMatch(/^phantom_001: read from the cache \(key [0-9a-f]{24}/);
    expect((await stat(join(out, 'lung', 'phantom_001.nii.gz'))).mtimeMs).toBe(before);
    expect(result.scans[0]?.lesionVoxels).toBeGreaterThan(0);
  });

  it('another model, another intensity option or a missing output is a miss', async () => {
    const other = new PixelSegmenter('lesion', 96, (u) => (u >= 0.6 ? 1 : 0), 'lesion-b');
    const changed = await segmentScans(scans, { out, lung: lungModel, lesion: other });
    expect(changed.computed).toBe(2);
    // Back to the first model: recomputed again (the records now hold the other model's key).
    const back = await segmentScans(scans.slice(0, 1), { out, lung: lungModel, lesion });
    expect(back.computed).toBe(1);
    await rm(join(out, 'overlays', 'phantom_001.png'));
    const repaired = await segmentScans(scans.slice(0, 1), { out, lung: lungModel, lesion });
    expect(repaired.computed).toBe(1);
    const again = await segmentScans(scans.slice(0, 1), { out, lung: lungModel, lesion });
    expect(again.cached).toBe(1);
    // The same scan said to be in HU explicitly: another recipe, a miss.
    const stated = await segmentScans([{ ...(scans[0] as ScanToSegment), intensity: 'hu' }], { out, lung: lungModel, lesion });
    expect(stated.computed).toBe(1);
    // A damaged record is a miss, not an error.
    await writeFile(join(out, 'records', 'phantom_001.json'), '{"format":');
    expect((await segmentScans(scans.slice(0, 1), { out, lung: lungModel, lesion })).computed).toBe(1);
  });

  it('a lung-only run removes an infection mask left by an earlier run', async () => {
    const result = await segmentScans(scans.slice(0, 1), { out, lung: lungModel, overlays: false });
    expect(result.scans[0]?.infectionPath).toBeUndefined();
    await expect(stat(join(out, 'infection', 'phantom_001.nii.gz'))).rejects.toThrow(/ENOENT/);
    await expect(stat(join(out, 'overlays', 'phantom_001.png'))).rejects.toThrow(/ENOENT/);
  });

  it('the classical lung mask on the NIfTI scan (HU): IoU > 0.9 against the exact lung mask', async () => {
    const result = await segmentScans(scans.slice(0, 1), { out: join(root, 'classical'), lung: 'classical' });
    const lung = await readNifti(result.scans[0]?.lungPath as string);
    const score = iou(lung.data, truthLung);
    console.log(`phantom_001 via segmentScans, classical lung: IoU ${score.toFixed(4)} against the exact mask`);
    expect(score).toBeGreaterThan(0.9);
  });

  it('refuses names that cannot be file names and a windowed scan without its window', async () => {
    await expect(segmentScans([{ name: '../x', path: scans[0]?.path as string }], { out, lung: lungModel })).rejects.toThrow(
      /scan name "..\/x"/,
    );
    const jpg = { name: 'ct_scan_7', path: join(data, 'ct_scan_7') };
    await expect(segmentScans([jpg], { out: join(root, 'out2'), lung: lungModel })).rejects.toThrow(
      /ct_scan_7.*8-bit windowed; say which window/,
    );
  });
});
