import { describe, expect, it } from 'vitest';
import { makeVolume } from '../volume.js';
import { normaliseIntensity } from './normalise.js';
import { applyHuWindow, windowValue } from './window.js';

describe('HU windows and normalisation', () => {
  it('maps the COV19-CT-DB window [-1150, 350] to 0..255 with clipping', () => {
    const v = makeVolume({ data: Int16Array.from([-2000, -1150, -400, 350, 3000]), shape: [1, 1, 5], intensity: 'hu' });
    expect(Array.from(applyHuWindow(v, 'cov19ctdb').data)).toEqual([0, 0, Math.round((750 * 255) / 1500), 255, 255]);
    expect(windowValue(-1024, { low: -1024, high: 600 })).toBe(0);
    expect(() => applyHuWindow(v, 'nope' as 'lungmask')).toThrow(/unknown HU window "nope"; known: cov19ctdb, lungmask, ctseg/);
    expect(() => applyHuWindow({ ...v, intensity: 'label' }, 'lungmask')).toThrow(/needs a volume in HU/);
  });

  it("applies the method's scaling (x/255 - 0.3529) / 0.2983", () => {
    const v = makeVolume({ data: Uint8Array.from([0, 90, 255]), shape: [1, 1, 3], intensity: 'uint8-windowed' });
    const out = normaliseIntensity(v, { mean: 0.3529, std: 0.2983 });
    expect(out.intensity).toBe('normalised');
    [0, 90, 255].forEach((x, i) => expect(out.data[i]).toBeCloseTo((x / 255 - 0.3529) / 0.2983, 5));
  });
});
