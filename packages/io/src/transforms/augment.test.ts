import { describe, expect, it } from 'vitest';
import { Rng } from '../random.js';
import { makeVolume } from '../volume.js';
import {
  applyContrast,
  applyFlip,
  applyImageView,
  applyResizedCrop,
  applyRotation,
  applyViewParams,
  augmentImageAndMask,
  drawResizedCrop,
  drawRotation,
} from './augment.js';

const ramp = (slices: number, rows: number, cols: number) =>
  makeVolume({
    data: Uint8Array.from({ length: slices * rows * cols }, (_, i) => i % 251),
    shape: [slices, rows, cols],
    intensity: 'uint8-windowed',
  });

describe('in-plane augmentations', () => {
  it('flips columns and rows', () => {
    const v = makeVolume({ data: Uint8Array.from([1, 2, 3, 4, 5, 6]), shape: [1, 2, 3], intensity: 'label' });
    expect(Array.from(applyFlip(v, { cols: true }).data)).toEqual([3, 2, 1, 6, 5, 4]);
    expect(Array.from(applyFlip(v, { rows: true }).data)).toEqual([4, 5, 6, 1, 2, 3]);
  });

  it('rotates counter-clockwise on screen (torchvision sign), with zero fill', () => {
    // A 3x3 slice with one bright pixel right of centre moves to above centre after +90 degrees.
    const data = new Uint8Array(9);
    data[1 * 3 + 2] = 200;
    const out = applyRotation(makeVolume({ data, shape: [1, 3, 3], intensity: 'label' }), 90, 'nearest');
    const expected = new Uint8Array(9);
    expected[0 * 3 + 1] = 200;
    expect(Array.from(out.data)).toEqual(Array.from(expected));
    // At 45 degrees the corners come from outside: zero.
    const full = makeVolume({ data: new Uint8Array(25).fill(9), shape: [1, 5, 5], intensity: 'label' });
    const r45 = applyRotation(full, 45, 'nearest');
    expect(r45.data[0]).toBe(0);
    expect(r45.data[12]).toBe(9);
  });

  it('a crop box the size of the output is an exact copy of that box, on every slice', () => {
    const v = ramp(3, 8, 10);
    const out = applyResizedCrop(v, { top: 2, left: 3, height: 4, width: 5 }, { rows: 4, cols: 5 }, 'linear');
    for (let z = 0; z < 3; z++)
      for (let y = 0; y < 4; y++)
        for (let x = 0; x < 5; x++) expect(out.data[(z * 4 + y) * 5 + x]).toBe(v.data[(z * 8 + y + 2) * 10 + x + 3]);
    const whole = applyResizedCrop(v, { top: 0, left: 0, height: 8, width: 10 }, { rows: 8, cols: 10 }, 'nearest');
    expect(Array.from(whole.data)).toEqual(Array.from(v.data));
  });

  it('contrast blends with the scan mean: factor 1 is identity, factor 0 is the mean', () => {
    const v = makeVolume({ data: Uint8Array.from([0, 100, 200, 100]), shape: [1, 2, 2], intensity: 'uint8-windowed' });
    expect(Array.from(applyContrast(v, 1).data)).toEqual([0, 100, 200, 100]);
    expect(Array.from(applyContrast(v, 0).data)).toEqual([100, 100, 100, 100]);
    expect(Array.from(applyContrast(v, 1.5).data)).toEqual([0, 100, 250, 100]);
  });

  it('draws crops inside the image with area fraction in [0.7, 1] and integer angles in [-10, 10)', () => {
    const rng = Rng.fromSeed(7);
    for (let i = 0; i < 500; i++) {
      const box = drawResizedCrop(rng, 64, 80);
      expect(box.top).toBeGreaterThanOrEqual(0);
      expect(box.left).toBeGreaterThanOrEqual(0);
      expect(box.top + box.height).toBeLessThanOrEqual(64);
      expect(box.left + box.width).toBeLessThanOrEqual(80);
      const fraction = (box.height * box.width) / (64 * 80);
      expect(fraction).toBeGreaterThan(0.66);
      expect(fraction).toBeLessThanOrEqual(1.0001);
      const angle = drawRotation(rng);
      expect(Number.isInteger(angle) && angle >= -10 && angle < 10).toBe(true);
    }
  });

  it('the image/mask twin applies one draw to both, so they stay aligned', () => {
    const rows = 48;
    const cols = 48;
    const mask = makeVolume({ data: new Uint8Array(2 * rows * cols), shape: [2, rows, cols], intensity: 'label' });
    for (let z = 0; z < 2; z++)
      for (let y = 10; y < 30; y++) for (let x = 14; x < 40; x++) mask.data[(z * rows + y) * cols + x] = 1;
    const image = makeVolume({
      data: Uint8Array.from(mask.data, (m) => (m ? 200 : 20)),
      shape: mask.shape,
      intensity: 'uint8-windowed',
    });
    const a = augmentImageAndMask({ image, mask }, Rng.fromSeed(3), { rows: 32, cols: 32 });
    const b = augmentImageAndMask({ image, mask }, Rng.fromSeed(3), { rows: 32, cols: 32 });
    expect(a.params).toEqual(b.params);
    expect(a.image.shape).toEqual([2, 32, 32]);
    let agree = 0;
    const threshold = (Math.max(...a.image.data) + Math.min(...a.image.data)) / 2;
    a.mask.data.forEach((m, i) => {
      if ((m === 1) === (a.image.data[i] as number) > threshold) agree++;
    });
    expect(agree / a.mask.data.length).toBeGreaterThan(0.97);
    expect(new Set(a.mask.data)).toEqual(new Set([0, 1]));
    // Drawing and applying apart (a worker applies what the main thread drew) gives the same view.
    const c = applyViewParams({ image, mask }, a.params, { rows: 32, cols: 32 });
    expect(c.image.data).toEqual(a.image.data);
    expect(c.mask.data).toEqual(a.mask.data);
    expect(applyImageView(image, a.params, { rows: 32, cols: 32 }).data).toEqual(a.image.data);
  });
});

describe('Rng', () => {
  it('is reproducible from a seed and from a saved state', () => {
    const a = Rng.fromSeed(42);
    const b = Rng.fromSeed(42);
    const xs = Array.from({ length: 5 }, () => a.uniform());
    expect(xs).toEqual(Array.from({ length: 5 }, () => b.uniform()));
    const state = a.state();
    const next = a.uniform();
    expect(Rng.fromState(state).uniform()).toBe(next);
    expect(Rng.fromSeed(43).uniform()).not.toBe(xs[0]);
  });

  it('draws Beta(0.4, 0.4) with mean 1/2 and variance ab/((a+b)^2 (a+b+1)) = 0.1389', () => {
    const rng = Rng.fromSeed(1);
    const n = 20000;
    const xs = Array.from({ length: n }, () => rng.beta(0.4, 0.4));
    const mean = xs.reduce((s, x) => s + x, 0) / n;
    const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / n;
    expect(mean).toBeCloseTo(0.5, 1);
    expect(variance).toBeGreaterThan(0.125);
    expect(variance).toBeLessThan(0.153);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
  });

  it('permutes', () => {
    expect([...Rng.fromSeed(5).permutation(10)].sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe('Rng seeding', () => {
  it('gives well-spread first draws for small seeds', () => {
    const firsts = Array.from({ length: 64 }, (_, seed) => Rng.fromSeed(seed).uniform());
    const mean = firsts.reduce((a, b) => a + b, 0) / firsts.length;
    expect(mean).toBeGreaterThan(0.35);
    expect(mean).toBeLessThan(0.65);
    expect(Math.max(...firsts)).toBeLessThan(0.9999);
  });
});
