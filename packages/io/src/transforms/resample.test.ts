import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { diagonalAffine, makeVolume, type Shape3 } from '../volume.js';
import { resampleVolume } from './resample.js';

interface Case {
  input_shape: [number, number, number];
  output_shape: [number, number, number];
  input: number[];
  linear: number[];
  nearest: number[];
}
// Made by fixtures/make_fixtures.py with PyTorch's F.interpolate.
const fixture = JSON.parse(readFileSync(new URL('../../fixtures/resample_cases.json', import.meta.url), 'utf8')) as {
  cases: Case[];
};

describe('resampleVolume agrees with PyTorch F.interpolate', () => {
  it.each(fixture.cases.map((c) => [`${c.input_shape.join('x')} -> ${c.output_shape.join('x')}`, c] as const))(
    '%s',
    (_name, c) => {
      const volume = makeVolume({ data: Uint8Array.from(c.input), shape: c.input_shape, intensity: 'uint8-windowed' });
      const linear = resampleVolume(volume, c.output_shape as Shape3);
      expect(linear.shape).toEqual(c.output_shape);
      expect(linear.data).toBeInstanceOf(Float32Array);
      let worst = 0;
      linear.data.forEach((v, i) => {
        worst = Math.max(worst, Math.abs(v - (c.linear[i] as number)));
      });
      expect(worst).toBeLessThan(1e-3);
      const nearest = resampleVolume(volume, c.output_shape as Shape3, { mode: 'nearest' });
      expect(nearest.data).toBeInstanceOf(Uint8Array);
      expect(Array.from(nearest.data)).toEqual(c.nearest);
    },
  );
});

describe('resampleVolume geometry and storage', () => {
  it('keeps the world extent: spacing scales and voxel centres move by half a voxel', () => {
    const volume = makeVolume({
      data: new Int16Array(10 * 8 * 4),
      shape: [10, 8, 4],
      spacing: [2, 0.5, 0.5],
      affine: diagonalAffine([2, 0.5, 0.5], [-10, 20, 30]),
      intensity: 'hu',
    });
    const out = resampleVolume(volume, [5, 16, 2]);
    expect(out.spacing).toEqual([4, 0.25, 1]);
    // Output voxel 0 along cols sits at input index (0 + 0.5) * 2 - 0.5 = 0.5, i.e. x = -10 + 0.25.
    expect(out.affine[3]).toBeCloseTo(-9.75, 12);
    expect(out.affine[0]).toBeCloseTo(1, 12);
    expect(out.affine[7]).toBeCloseTo(20 + 0.5 * (0.5 * 0.5 - 0.5), 12);
    expect(out.affine[11]).toBeCloseTo(30 + 2 * (0.5 * 2 - 0.5), 12);
  });

  it("with output 'same' rounds and clips to the source type", () => {
    const volume = makeVolume({ data: Int16Array.from([-1000, 1000]), shape: [1, 1, 2], intensity: 'hu' });
    const out = resampleVolume(volume, [1, 1, 3], { output: 'same' });
    expect(out.data).toBeInstanceOf(Int16Array);
    // Output 1 reads input index 0.5: halfway between the two voxels.
    expect(Array.from(out.data)).toEqual([-1000, 0, 1000]);
  });

  it('refuses a bad target shape', () => {
    const volume = makeVolume({ data: new Uint8Array(8), shape: [2, 2, 2], intensity: 'label' });
    expect(() => resampleVolume(volume, [0, 2, 2])).toThrow(/positive integers/);
  });
});
