import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { iou } from '@covsev/eval';
import { applyHuWindow, HU_WINDOWS, makeVolume, readVolume, type Volume } from '@covsev/io';
import { writeCohort } from '@covsev/phantom';
import { afterAll, describe, expect, it } from 'vitest';
import { huFromWindowed, resolveIntensity } from './modelInput.js';
import { type SegmentProgress, segmentVolume } from './segmentVolume.js';
import { PixelSegmenter } from './testModels.test-helpers.js';

/** u of an HU value under the default window. */
const unitOf = (hu: number): number => Math.min(1, Math.max(0, (hu + 1250) / 1500));

const out = await mkdtemp(join(tmpdir(), 'covsev-segment-volume-'));
afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});
await writeCohort({ scans: 1, slices: [24, 24], rows: 96, cols: 96, splits: [1, 0, 0], layout: 'ct-seg', out, seed: 11 });
const ct = await readVolume(join(out, 'ct_scans', 'phantom_001.nii.gz'));
const truth = (await readVolume(join(out, 'lung_mask', 'phantom_001.nii.gz'))).data;
const truthLung = Uint8Array.from(truth, (v) => (v > 0 ? 1 : 0));

describe('HU from an 8-bit window (docs/formats.md, "HU windows")', () => {
  it('maps 0 and 255 to the window bounds and brings values inside the window back within half a step', () => {
    const w = HU_WINDOWS.cov19ctdb;
    expect(huFromWindowed(0, w)).toBe(w.low);
    expect(huFromWindowed(255, w)).toBe(w.high);
    const step = (w.high - w.low) / 255;
    const hu = Int16Array.from([-1400, -1150, -900, -500, -37, 0, 349, 350, 1200]);
    const windowed = applyHuWindow(makeVolume({ data: hu, shape: [1, 1, hu.length], intensity: 'hu' }), w).data;
    hu.forEach((v, i) => {
      const back = huFromWindowed(windowed[i] as number, w);
      const clipped = Math.min(w.high, Math.max(w.low, v));
      expect(Math.abs(back - clipped)).toBeLessThanOrEqual(step / 2 + 1e-9);
    });
  });

  it('takes the intensity from the volume or the option, and refuses what it cannot read', () => {
    const hu = makeVolume({ data: new Int16Array(4), shape: [1, 2, 2], intensity: 'hu', source: 'a.nii.gz' });
    const bytes = makeVolume({ data: new Uint8Array(4), shape: [1, 2, 2], intensity: 'uint8-windowed', source: 'ct_scan_1' });
    expect(resolveIntensity(hu)).toEqual({ kind: 'hu' });
    expect(resolveIntensity(bytes, { window: 'cov19ctdb' })).toEqual({ kind: 'windowed', window: HU_WINDOWS.cov19ctdb });
    expect(() => resolveIntensity(bytes)).toThrow(/ct_scan_1.*8-bit windowed; say which window.*cov19ctdb/);
    expect(() => resolveIntensity(bytes, { window: 'nope' as 'ctseg' })).toThrow(/unknown HU window "nope"; known: cov19ctdb/);
    expect(() => resolveIntensity(hu, { window: 'ctseg' })).toThrow(/a.nii.gz.*the volume is in HU/);
    expect(() => resolveIntensity({ ...hu, intensity: 'label' })).toThrow(/got intensity "label"/);
  });
});

describe('segmentVolume', () => {
  let classicalHu: Volume<Uint8Array>;

  it('classical lung on a phantom ct-seg volume (HU): IoU > 0.9 against the exact lung mask; progress to the end', async () => {
    const progress: SegmentProgress[] = [];
    const result = await segmentVolume(ct, { lung: 'classical', onProgress: (p) => progress.push(p) });
    classicalHu = result.lung;
    expect(result.lung.shape).toEqual(ct.shape);
    expect(result.lung.affine).toEqual(ct.affine);
    expect(result.lung.intensity).toBe('label');
    expect(result.lesion).toBeUndefined();
    const score = iou(result.lung.data, truthLung);
    console.log(`classical lung, HU phantom 24 x 96 x 96: IoU ${score.toFixed(4)}`);
    expect(score).toBeGreaterThan(0.9);
    expect(progress.at(-1)).toEqual({ stage: 'lung', done: 24, total: 24 });
  });

  it('the same volume as windowed 8-bit gives nearly the same lung mask (the mapping back to HU works)', async () => {
    const bytes = applyHuWindow(ct, 'cov19ctdb');
    const result = await segmentVolume(bytes, { lung: 'classical', intensity: { window: 'cov19ctdb' } });
    const agreement = iou(result.lung.data, classicalHu.data);
    console.log(
      `classical lung, 8-bit (cov19ctdb) against HU: IoU ${agreement.toFixed(4)}, against truth ${iou(result.lung.data, truthLung).toFixed(4)}`,
    );
    expect(agreement).toBeGreaterThan(0.98);
    // A wrong window (the bytes read as if made from another one) moves the threshold: a worse match.
    const wrong = await segmentVolume(bytes, { lung: 'classical', intensity: { window: { low: -600, high: 900 } } });
    expect(iou(wrong.lung.data, classicalHu.data)).toBeLessThan(agreement);
  });

  it('runs the lesion model on the lung-masked slices (eq. 1) and keeps its mask inside the lung', async () => {
    // The stand-in lesion model marks every pixel whose windowed, lung-masked value is >= 0.5
    // (HU >= -500): inside the lung that is the lesions; outside, the masking zeroes the input.
    const lesionModel = new PixelSegmenter('lesion', 96, (u) => (u >= 0.5 ? 1 : 0));
    const result = await segmentVolume(ct, { lung: 'classical', lesion: lesionModel, batchSize: 5 });
    expect(lesionModel.calls).toBe(5); // 24 slices in batches of 5
    const lung = result.lung.data;
    const lesion = result.lesion?.data as Uint8Array;
    let expected = 0;
    let wrong = 0;
    for (let i = 0; i < lung.length; i++) {
      const want = lung[i] === 1 && unitOf(ct.data[i] as number) >= 0.5 ? 1 : 0;
      expected += want;
      if (lesion[i] !== want) wrong++;
    }
    expect(wrong).toBe(0);
    expect(expected).toBeGreaterThan(50); // the phantom has lesions inside its lungs
  });

  it('resizes to the model size and back (bilinear): a model at 64 x 64 finds two 96 x 96 discs', async () => {
    const [slices, rows, cols] = [3, 96, 96];
    const hu = new Int16Array(slices * rows * cols).fill(-50);
    const discs = new Uint8Array(hu.length);
    for (let z = 0; z < slices; z++)
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++)
          if ((r - 48) ** 2 + (c - 28) ** 2 < 18 ** 2 || (r - 48) ** 2 + (c - 70) ** 2 < 16 ** 2) {
            hu[(z * rows + r) * cols + c] = -850;
            discs[(z * rows + r) * cols + c] = 1;
          }
    const volume = makeVolume({ data: hu, shape: [slices, rows, cols], intensity: 'hu' });
    const at64 = new PixelSegmenter('lung', 64, (u) => (u < 0.5 ? 1 : 0));
    const result = await segmentVolume(volume, { lung: at64 });
    expect(at64.calls).toBe(1);
    const score = iou(result.lung.data, discs);
    expect(score).toBeGreaterThan(0.95);
    expect(score).toBeLessThan(1); // the edges moved a little: it did resize
  });

  it('no lung found: an empty lesion mask and a warning; the lesion model does not run', async () => {
    const noLung = new PixelSegmenter('lung', 96, () => 0);
    const lesionModel = new PixelSegmenter('lesion', 96, () => 1);
    const warnings: string[] = [];
    const result = await segmentVolume(ct, { lung: noLung, lesion: lesionModel, onWarning: (w) => warnings.push(w) });
    expect(result.lung.data.every((v) => v === 0)).toBe(true);
    expect(result.lesion?.data.every((v) => v === 0)).toBe(true);
    expect(lesionModel.calls).toBe(0);
    expect(result.warnings).toEqual(warnings);
    expect(warnings.join()).toMatch(/phantom_001.nii.gz: no lung found, so the lesion mask is empty/);
  });

  it('a model lung mask is cleaned up: two largest 3D components, holes filled', async () => {
    // The stand-in lung model marks the exact lung plus a speck outside it and a hole inside it.
    const [slices, rows, cols] = ct.shape;
    const marked = Float32Array.from(truthLung);
    const speck = (12 * rows + 5) * cols + 5;
    marked[speck] = 1;
    let hole = -1;
    for (let i = 12 * rows * cols; i < 13 * rows * cols && hole < 0; i++) {
      const r = Math.floor((i % (rows * cols)) / cols);
      const c = i % cols;
      if (
        r > 0 &&
        c > 0 &&
        r < rows - 1 &&
        c < cols - 1 &&
        [i, i - 1, i + 1, i - cols, i + cols].every((j) => truthLung[j] === 1)
      )
        hole = i;
    }
    expect(hole).toBeGreaterThan(0);
    marked[hole] = 0;
    const volumeIndex = { z: 0 };
    const lungModel = new PixelSegmenter('lung', 96, () => 0);
    lungModel.predictSlices = async (_input, count) => {
      const start = volumeIndex.z * rows * cols;
      volumeIndex.z += count;
      return marked.slice(start, start + count * rows * cols);
    };
    const result = await segmentVolume(ct, { lung: lungModel, batchSize: 7 });
    expect(volumeIndex.z).toBe(slices);
    expect(result.lung.data[speck]).toBe(0);
    expect(result.lung.data[hole]).toBe(1);
    expect(iou(result.lung.data, truthLung)).toBeGreaterThan(0.99);
  });

  it('refuses a model of the wrong task, naming it', async () => {
    await expect(segmentVolume(ct, { lung: new PixelSegmenter('lesion', 96, (u) => u) })).rejects.toThrow(
      /the lung model \(PixelSegmenter\(lesion, pixel\)\) is a lesion model/,
    );
  });
});
