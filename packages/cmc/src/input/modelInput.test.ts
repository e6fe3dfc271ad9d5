import { initBackend } from '@covsev/engine';
import { makeVolume } from '@covsev/io';
import { beforeAll, describe, expect, it } from 'vitest';
import { CMC_FULL_SHAPE, CMC_INTENSITY, scansToInput } from './modelInput.js';

beforeAll(async () => {
  await initBackend({ prefer: 'wasm', log: false });
});

describe('the model input (eq. 2)', () => {
  it('holds the method’s scaling and grid', () => {
    expect(CMC_INTENSITY).toEqual({ mean: 0.3529, std: 0.2983 });
    expect(CMC_FULL_SHAPE).toEqual([64, 256, 256]);
  });

  it('stacks [mask, CT] or CT alone per scan, CT scaled as the method, mask 0/1', () => {
    const shape = [1, 1, 3] as const;
    const image = makeVolume({ data: Uint8Array.from([0, 90, 255]), shape, intensity: 'uint8-windowed' });
    const mask = makeVolume({ data: Uint8Array.from([0, 1, 7]), shape, intensity: 'label' });
    const ct = [0, 90, 255].map((x) => (x / 255 - 0.3529) / 0.2983);

    const two = scansToInput([{ image, mask }], 2);
    // NDHWC rows: each voxel's [mask, CT].
    expect(two.tensor.shape).toEqual([1, 1, 3, 2]);
    const values = Array.from(two.tensor.dataSync());
    expect(values.filter((_, i) => i % 2 === 0)).toEqual([0, 1, 1]);
    values.filter((_, i) => i % 2 === 1).forEach((v, i) => expect(v).toBeCloseTo(ct[i] as number, 5));

    const one = scansToInput([{ image }, { image, mask }], 1);
    expect(one.batch).toBe(2);
    expect(one.tensor.shape).toEqual([2, 1, 3, 1]);
    Array.from(one.tensor.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(ct[i % 3] as number, 5));

    expect(() => scansToInput([], 1)).toThrow('no scans');
    const other = makeVolume({ data: new Uint8Array(4), shape: [1, 2, 2], intensity: 'uint8-windowed' });
    expect(() => scansToInput([{ image }, { image: other }], 1)).toThrow(/scan 1 is \[1,2,2\], the first is \[1,1,3\]/);
    const shortMask = makeVolume({ data: new Uint8Array(2), shape: [1, 1, 2], intensity: 'label' });
    expect(() => scansToInput([{ image, mask: shortMask }], 2)).toThrow(/scan 0: its mask is \[1,1,2\] but its CT is \[1,1,3\]/);
    two.tensor.dispose();
    one.tensor.dispose();
  });
});
