import type { PredictionRow } from '@covsev/io';
import { describe, expect, it } from 'vitest';
import { applyDecisionOffsets, fitDecisionOffsets } from './offsets.js';

type P = [number, number, number, number];

/** 10 scans of each grade; `probabilities(trueClass, index)` gives each scan's row. */
function cohort(probabilities: (trueClass: number, index: number) => P): { rows: PredictionRow[]; truth: Map<string, number> } {
  const rows: PredictionRow[] = [];
  const truth = new Map<string, number>();
  for (let t = 0; t < 4; t++) {
    for (let i = 0; i < 10; i++) {
      const name = `ct_${t}_${i}`;
      rows.push({ name, category: 1, probabilities: probabilities(t, i) });
      truth.set(name, t + 1);
    }
  }
  return { rows, truth };
}

// A model that under-calls Critical: Critical scans get Severe .5 > Critical .35.
//   Mild     .7  .2  .05 .05      Moderate .2  .7  .05 .05
//   Severe   .05 .1  .7  .15      Critical .05 .1  .5  .35
const UNDER_CALLS_CRITICAL: P[] = [
  [0.7, 0.2, 0.05, 0.05],
  [0.2, 0.7, 0.05, 0.05],
  [0.05, 0.1, 0.7, 0.15],
  [0.05, 0.1, 0.5, 0.35],
];

describe('fitDecisionOffsets', () => {
  it('corrects a planted bias (a model that under-calls Critical)', () => {
    const { rows, truth } = cohort((t) => UNDER_CALLS_CRITICAL[t] as P);
    const fit = fitDecisionOffsets(rows, truth, { resamples: 300, seed: 7 });
    // Before: Mild 1, Moderate 1, Severe 2*10/(10 + 20) = 2/3, Critical 0 -> Macro F1 (8/3)/4 = .66667.
    expect(fit.before.estimate).toBeCloseTo(2 / 3, 12);
    // Sweep 1 tries b_1 (no value helps: offsets stay 0), then b_2: the Critical scans turn
    // Critical once log .5 + b_2 < log .35 (b_2 < -.35667) and the Severe scans stay Severe while
    // log .7 + b_2 > log .15 (b_2 > -1.54045): -1.5..-.4 all score 1, -.4 is nearest 0. b_3 then
    // cannot do better than 1 and stays 0.
    expect(fit.offsets).toEqual([0, 0, -0.4, 0]);
    expect(fit.after.estimate).toBe(1);
    // Every resample holding a Critical scan gains; the interval of the gain excludes 0.
    expect(fit.gain.estimate).toBeCloseTo(1 / 3, 12);
    expect(fit.gain.low).toBeGreaterThan(0);
    expect(fit.after.low).toBeGreaterThan(fit.before.high);
    expect(fit.sweeps).toBe(2);
    // The offsets applied to the same table give every scan its true grade.
    const applied = applyDecisionOffsets(rows, fit.offsets);
    expect(applied.map((r) => r.category)).toEqual(rows.map((r) => truth.get(r.name)));
  });

  it('leaves a calibrated model unchanged', () => {
    // Each grade: 8 scans right at .7 (.1 elsewhere), 1 confidently wrong to each neighbour
    // (cyclic). Flipping a wrong scan needs b_c - b_d > log 7 = 1.946, which moves every scan
    // predicted d to c (F1 of d falls to 0, that of c to 18/30): no offset helps. Macro F1 .8.
    const { rows, truth } = cohort((t, i) => {
      const p: P = [0.1, 0.1, 0.1, 0.1];
      p[i === 8 ? (t + 1) % 4 : i === 9 ? (t + 3) % 4 : t] = 0.7;
      return p;
    });
    const fit = fitDecisionOffsets(rows, truth, { resamples: 300, seed: 7 });
    expect(fit.offsets).toEqual([0, 0, 0, 0]);
    expect(fit.before.estimate).toBeCloseTo(0.8, 12);
    expect(fit.after.estimate).toBeCloseTo(0.8, 12);
    expect(fit.after).toEqual(fit.before);
    expect([fit.gain.estimate, fit.gain.low, fit.gain.high]).toEqual([0, 0, 0]);
    expect(fit.sweeps).toBe(1);
  });

  it('is reproducible for a seed and honours the grid', () => {
    const { rows, truth } = cohort((t) => UNDER_CALLS_CRITICAL[t] as P);
    const a = fitDecisionOffsets(rows, truth, { resamples: 100, seed: 3 });
    expect(fitDecisionOffsets(rows, truth, { resamples: 100, seed: 3 })).toEqual(a);
    // A grid of -.3..2 cannot lower Severe enough; b_3 rises instead: log .35 + b_3 > log .5 needs
    // b_3 > .35667 and log .15 + b_3 < log .7 needs b_3 < 1.54045 -> .4.
    expect(fitDecisionOffsets(rows, truth, { grid: { min: -0.3 }, resamples: 100 }).offsets).toEqual([0, 0, 0, 0.4]);
  });

  it('refuses a bad grid, bad sweeps, missing truth and a bad row', () => {
    const { rows, truth } = cohort((t) => UNDER_CALLS_CRITICAL[t] as P);
    expect(() => fitDecisionOffsets(rows, truth, { grid: { min: 0.5 } })).toThrow(/min <= 0 <= max/);
    expect(() => fitDecisionOffsets(rows, truth, { grid: { step: 0 } })).toThrow(/step > 0/);
    expect(() => fitDecisionOffsets(rows, truth, { sweeps: 0 })).toThrow(/sweeps must be an integer >= 1/);
    expect(() => fitDecisionOffsets(rows, truth, { seed: -1 })).toThrow(
      'fitDecisionOffsets: seed must be an integer in 0..2^32-1, got -1',
    );
    expect(() => fitDecisionOffsets(rows, truth, { resamples: 0 })).toThrow(/fitDecisionOffsets: resamples must be/);
    expect(() => fitDecisionOffsets(rows, truth, { confidence: 1 })).toThrow(
      /fitDecisionOffsets: confidence must be in \(0, 1\)/,
    );
    expect(() => fitDecisionOffsets(rows, new Map([['ct_0_0', 1]]))).toThrow(/truth lacks 39 of the 40 scans \(ct_0_1, /);
    const bad = [...rows.slice(1), { name: 'ct_0_0', category: 1, probabilities: [0.7, 0.2, 0.05, 0.1] } as PredictionRow];
    expect(() => fitDecisionOffsets(bad, truth, { table: 'validation' })).toThrow(
      'fitDecisionOffsets: table "validation": row 40 (scan "ct_0_0"): probabilities sum to 1.05, not 1 (tolerance 0.001)',
    );
  });
});

describe('applyDecisionOffsets', () => {
  it('re-weights the probabilities by exp(b_c) and re-takes the arg-max', () => {
    // [.05, .1, .5 e^-.4, .35] = [.05, .1, .33516, .35] / .83516
    const [r] = applyDecisionOffsets([{ name: 's', category: 3, probabilities: [0.05, 0.1, 0.5, 0.35] }], [0, 0, -0.4, 0]);
    const row = r as PredictionRow;
    expect(row.category).toBe(4);
    const expected = [0.0598687660112452, 0.1197375320224904, 0.401312339887548, 0.4190813620787164];
    row.probabilities.forEach((p, c) => {
      expect(p).toBeCloseTo(expected[c] as number, 12);
    });
  });

  it('changes nothing with zero offsets or the same offset on every class; a zero probability stays 0', () => {
    const rows: PredictionRow[] = [
      { name: 'a', category: 2, probabilities: [0.2, 0.5, 0.3, 0] },
      { name: 'b', category: 1, probabilities: [0.4, 0.4, 0.1, 0.1] },
    ];
    for (const offsets of [
      [0, 0, 0, 0],
      [1.5, 1.5, 1.5, 1.5],
    ] as const) {
      const out = applyDecisionOffsets(rows, offsets);
      expect(out.map((r) => r.category)).toEqual([2, 1]);
      out.forEach((r, i) => {
        r.probabilities.forEach((p, c) => {
          expect(p).toBeCloseTo((rows[i] as PredictionRow).probabilities[c] as number, 14);
        });
      });
    }
    expect(applyDecisionOffsets(rows, [0, 0, 0, 5])[0]?.probabilities[3]).toBe(0);
  });

  it('refuses offsets that are not four finite numbers', () => {
    const rows: PredictionRow[] = [{ name: 'a', category: 1, probabilities: [1, 0, 0, 0] }];
    expect(() => applyDecisionOffsets(rows, [0, 0, 0] as never)).toThrow(/offsets must be 4 numbers/);
    expect(() => applyDecisionOffsets(rows, [0, Number.NaN, 0, 0])).toThrow(
      'applyDecisionOffsets: offset 1 = NaN is not a finite number',
    );
  });
});
