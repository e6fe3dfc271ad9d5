import { makeVolume, type PredictionRow, type Shape3 } from '@covsev/io';
import { describe, expect, it } from 'vitest';
import { combinePredictions } from './combine.js';
import { involvementBaseline, involvementFromMasks, involvementPrediction } from './involvement.js';

function mask(values: number[], shape: Shape3 = [1, 2, 4], source?: string) {
  return makeVolume({ data: Uint8Array.from(values), shape, intensity: 'label', ...(source === undefined ? {} : { source }) });
}

// A 1 x 2 x 4 scan: 6 lung voxels; infection on 2 of them and on 2 voxels outside the lung.
//   lung       1 1 1 1 | 1 1 0 0
//   infection  1 0 1 0 | 0 0 1 1
const lung = mask([1, 1, 1, 1, 1, 1, 0, 0]);
const infection = mask([1, 0, 1, 0, 0, 0, 1, 1]);

describe('involvementFromMasks', () => {
  it('is infected lung voxels over lung voxels, ignoring infection outside the lung', () => {
    // 2 / 6; counting the infection outside the lung would give 4 / 6.
    expect(involvementFromMasks(lung, infection)).toBe(2 / 6);
    expect(involvementFromMasks(lung, mask([0, 0, 0, 0, 0, 0, 1, 1]))).toBe(0);
    expect(involvementFromMasks(lung, mask([1, 1, 1, 1, 1, 1, 0, 0]))).toBe(1);
  });

  it('reads any voxel type: > 0 is inside', () => {
    const soft = makeVolume({ data: Float32Array.from([0.5, 0, 0.5, 0, 0, 0, 0, 0]), shape: [1, 2, 4], intensity: 'unknown' });
    // lung voxels 0 and 2; infected: voxel 0 only.
    expect(involvementFromMasks(soft, mask([1, 0, 0, 0, 0, 0, 0, 0]))).toBe(0.5);
  });

  it('refuses masks of different shapes, naming both, and an empty lung, naming the scan', () => {
    expect(() => involvementFromMasks(lung, mask([1, 0, 1, 0, 0, 0, 1, 1], [1, 4, 2]), { name: 'ct_scan_7' })).toThrow(
      'involvementFromMasks: scan "ct_scan_7": lung mask shape [1, 2, 4] and infection mask shape [1, 4, 2] differ',
    );
    expect(() =>
      involvementFromMasks(mask([0, 0, 0, 0, 0, 0, 0, 0], [1, 2, 4], '/masks/ct_scan_9_lung.nii.gz'), infection),
    ).toThrow('involvementFromMasks: scan "/masks/ct_scan_9_lung.nii.gz": the lung mask has no lung voxel (none > 0)');
  });
});

describe('involvementPrediction', () => {
  it('grades by Table 1 with one-hot probabilities by default', () => {
    const cases: [number, number][] = [
      [0, 1],
      [0.1, 1],
      [0.25, 1],
      [0.2500001, 2],
      [0.5, 2],
      [0.6, 3],
      [0.75, 4],
      [1, 4],
    ];
    for (const [x, category] of cases) {
      const r = involvementPrediction('ct_scan_1', x);
      expect(r.category).toBe(category);
      expect(r.probabilities).toEqual([0, 1, 2, 3].map((c) => (c === category - 1 ? 1 : 0)));
    }
  });

  it('gives soft probabilities: a logistic in the distance to each class interval', () => {
    // x = .26, s = .03: Moderate; distances .01 (Mild), 0, .24 (Severe), .49 (Critical).
    // scores 1/(1 + e^(d/s)) = .41742979, .5, 3.3535013e-4, 8.0634970e-8; sum .91776458
    // probabilities .45483287, .54480164, 3.6539860e-4, 8.7860128e-8
    const r = involvementPrediction('ct_scan_1', 0.26, { softness: 0.03 });
    expect(r.category).toBe(2);
    const expected = [0.45483287281303186, 0.5448016407242501, 0.0003653986025904572, 8.78601276121245e-8];
    r.probabilities.forEach((p, c) => {
      expect(p).toBeCloseTo(expected[c] as number, 12);
    });
    expect(r.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 14);
  });

  it('keeps the arg-max on the Table 1 grade at the borders (75 % is Critical)', () => {
    // x = .75: Severe is 1e-9 away, Critical 0 away: .49987984 < .49987985.
    const at75 = involvementPrediction('s', 0.75, { softness: 0.03 });
    expect(at75.category).toBe(4);
    expect(at75.probabilities[3]).toBeGreaterThan(at75.probabilities[2]);
    // Through the ensemble (which re-takes the arg-max): still Critical; .25 and .5 stay Mild and Moderate.
    const rows = [0.25, 0.5, 0.75].map((x, i) => involvementPrediction(`b${i}`, x, { softness: 0.03 }));
    expect(combinePredictions([{ name: 'involvement', rows }]).map((r) => r.category)).toEqual([1, 2, 4]);
    expect(rows.map((r) => r.category)).toEqual([1, 2, 4]);
  });

  it('refuses a bad name, an involvement outside [0, 1] and a bad softness', () => {
    expect(() => involvementPrediction('a b', 0.1)).toThrow(/bad scan name "a b"/);
    expect(() => involvementPrediction('s', 1.2)).toThrow(
      'involvementPrediction: scan "s": involvement 1.2 is not a fraction in [0, 1]',
    );
    expect(() => involvementPrediction('s', Number.NaN)).toThrow(/involvement NaN/);
    expect(() => involvementPrediction('s', 0.3, { softness: 0 })).toThrow(/softness must be a finite number > 0/);
  });
});

describe('involvementBaseline', () => {
  it('grades many scans from fractions or masks, and the soft rows join an ensemble', () => {
    const rows = involvementBaseline(
      [
        { name: 'a', involvement: 0.8 },
        { name: 'b', lung, infection },
      ],
      { softness: 0.03 },
    );
    expect(rows.map((r) => r.category)).toEqual([4, 2]);
    const model: PredictionRow[] = [
      { name: 'b', category: 3, probabilities: [0, 0.2, 0.8, 0] },
      { name: 'a', category: 4, probabilities: [0, 0, 0.3, 0.7] },
    ];
    const combined = combinePredictions([
      { name: 'involvement', rows },
      { name: 'model', rows: model },
    ]);
    expect(combined.map((r) => r.name)).toEqual(['a', 'b']);
    // b: involvement 1/3, s = .03: scores .0585 (Mild, d = .0833), .5, .0039 (Severe, d = .1667), ~0:
    // Moderate .889, Severe .0068; the mean with the model's .2 / .8 gives Moderate .545 > Severe .403.
    expect(combined.map((r) => r.category)).toEqual([4, 2]);
  });

  it('refuses no entries and a scan given twice', () => {
    expect(() => involvementBaseline([])).toThrow(/no scans/);
    expect(() =>
      involvementBaseline([
        { name: 'a', involvement: 0.1 },
        { name: 'a', involvement: 0.2 },
      ]),
    ).toThrow('involvementBaseline: scan "a" is given twice');
  });
});
