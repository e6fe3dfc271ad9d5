import type { PredictionRow } from '@covsev/io';
import { CovsevInputError } from '@covsev/io';
import { describe, expect, it } from 'vitest';
import { combinePredictions } from './combine.js';
import type { EnsembleMember } from './tables.js';

type P = [number, number, number, number];

/** A row whose category is the arg-max (the category field is not what the ensemble reads). */
function row(name: string, probabilities: P, category: 1 | 2 | 3 | 4 = 1): PredictionRow {
  return { name, category, probabilities };
}

// Three scans, three members (Mild, Moderate, Severe, Critical):
//            s1                    s2                    s3
//   m1  .6  .2  .1  .1      .1  .5  .3  .1      .1  .1  .3  .5
//   m2  .2  .6  .1  .1      .1  .2  .6  .1      0   .1  .2  .7
//   m3  .5  .3  .1  .1      .1  .3  .5  .1      .1  .1  .6  .2
const m1: EnsembleMember = {
  name: 'm1',
  rows: [row('s1', [0.6, 0.2, 0.1, 0.1]), row('s2', [0.1, 0.5, 0.3, 0.1]), row('s3', [0.1, 0.1, 0.3, 0.5])],
};
// m2's rows in another order: the output follows m1's.
const m2: EnsembleMember = {
  name: 'm2',
  rows: [row('s3', [0, 0.1, 0.2, 0.7]), row('s1', [0.2, 0.6, 0.1, 0.1]), row('s2', [0.1, 0.2, 0.6, 0.1])],
};
const m3: EnsembleMember = {
  name: 'm3',
  rows: [row('s1', [0.5, 0.3, 0.1, 0.1]), row('s2', [0.1, 0.3, 0.5, 0.1]), row('s3', [0.1, 0.1, 0.6, 0.2])],
};

function expectRows(actual: PredictionRow[], expected: { name: string; category: number; probabilities: P }[]): void {
  expect(actual.map((r) => r.name)).toEqual(expected.map((r) => r.name));
  expect(actual.map((r) => r.category)).toEqual(expected.map((r) => r.category));
  actual.forEach((r, i) => {
    (expected[i] as { probabilities: P }).probabilities.forEach((p, c) => {
      expect(r.probabilities[c]).toBeCloseTo(p, 12);
    });
  });
}

describe('combinePredictions: mean', () => {
  it('averages the probabilities, category = arg-max, in the first member order', () => {
    // s1: (.6+.2+.5)/3 = .43333, (.2+.6+.3)/3 = .36667, .1, .1           -> Mild (1)
    // s2: .1, (.5+.2+.3)/3 = .33333, (.3+.6+.5)/3 = .46667, .1           -> Severe (3)
    // s3: (.1+0+.1)/3 = .06667, .1, (.3+.2+.6)/3 = .36667, (.5+.7+.2)/3 = .46667 -> Critical (4)
    expectRows(combinePredictions([m1, m2, m3], { rule: 'mean' }), [
      { name: 's1', category: 1, probabilities: [1.3 / 3, 1.1 / 3, 0.1, 0.1] },
      { name: 's2', category: 3, probabilities: [0.1, 1 / 3, 1.4 / 3, 0.1] },
      { name: 's3', category: 4, probabilities: [0.2 / 3, 0.1, 1.1 / 3, 1.4 / 3] },
    ]);
  });

  it("is the default rule, ignores weights, and a single member's own table comes back", () => {
    const weighted = [
      { ...m1, weight: 5 },
      { ...m2, weight: 0 },
    ];
    // s2 of the plain mean of m1 and m2: Moderate .35 < Severe .45 -> Severe.
    expect(combinePredictions(weighted).map((r) => r.category)).toEqual([1, 3, 4]);
    expectRows(combinePredictions([m2]), [
      { name: 's3', category: 4, probabilities: [0, 0.1, 0.2, 0.7] },
      { name: 's1', category: 2, probabilities: [0.2, 0.6, 0.1, 0.1] },
      { name: 's2', category: 3, probabilities: [0.1, 0.2, 0.6, 0.1] },
    ]);
  });

  it('breaks an arg-max tie towards the lower class id', () => {
    const only: EnsembleMember = { name: 'only', rows: [row('a', [0.5, 0.5, 0, 0]), row('b', [0, 0.4, 0.2, 0.4])] };
    expect(combinePredictions([only]).map((r) => r.category)).toEqual([1, 2]);
  });

  it('divides each mean by its sum, so rows within the tolerance give rows summing to 1', () => {
    const off: EnsembleMember = { name: 'off', rows: [row('a', [0.25, 0.25, 0.25, 0.25 + 5e-5])] };
    const [r] = combinePredictions([off]);
    const p = (r as PredictionRow).probabilities;
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 14);
    expect(p[3]).toBeCloseTo(0.25005 / 1.00005, 14);
  });
});

describe('combinePredictions: weighted-mean', () => {
  it('normalises the weights (3, 1, 0 -> .75, .25, 0) and can differ from the mean', () => {
    // s1: .75*.6 + .25*.2 = .5,   .75*.2 + .25*.6 = .3,  .1, .1                      -> Mild
    // s2: .1,  .75*.5 + .25*.2 = .425,  .75*.3 + .25*.6 = .375,  .1                  -> Moderate (the mean said Severe)
    // s3: .75*.1 + 0 = .075,  .1,  .75*.3 + .25*.2 = .275,  .75*.5 + .25*.7 = .55     -> Critical
    // m3 has weight 0: its Severe .6 on s3 plays no part.
    const members = [
      { ...m1, weight: 3 },
      { ...m2, weight: 1 },
      { ...m3, weight: 0 },
    ];
    expectRows(combinePredictions(members, { rule: 'weighted-mean' }), [
      { name: 's1', category: 1, probabilities: [0.5, 0.3, 0.1, 0.1] },
      { name: 's2', category: 2, probabilities: [0.1, 0.425, 0.375, 0.1] },
      { name: 's3', category: 4, probabilities: [0.075, 0.1, 0.275, 0.55] },
    ]);
  });

  it('refuses a missing, negative or non-finite weight naming the member, and all-zero weights', () => {
    expect(() => combinePredictions([{ ...m1, weight: 1 }, m2], { rule: 'weighted-mean' })).toThrow(/member "m2": has no weight/);
    expect(() =>
      combinePredictions(
        [
          { ...m1, weight: -1 },
          { ...m2, weight: 1 },
        ],
        { rule: 'weighted-mean' },
      ),
    ).toThrow(/member "m1": weight -1 is not a finite number >= 0/);
    expect(() => combinePredictions([{ ...m1, weight: Number.NaN }], { rule: 'weighted-mean' })).toThrow(
      /member "m1": weight NaN/,
    );
    expect(() =>
      combinePredictions(
        [
          { ...m1, weight: 0 },
          { ...m2, weight: 0 },
        ],
        { rule: 'weighted-mean' },
      ),
    ).toThrow(/every member's weight is 0/);
  });
});

describe('combinePredictions: vote', () => {
  it('takes the majority of the arg-max classes; probabilities are the vote shares', () => {
    // arg-max per member: s1 m1 Mild, m2 Moderate, m3 Mild -> Mild 2/3, Moderate 1/3
    //                     s2 Moderate, Severe, Severe      -> Severe 2/3, Moderate 1/3
    //                     s3 Critical, Critical, Severe    -> Critical 2/3, Severe 1/3
    expectRows(combinePredictions([m1, m2, m3], { rule: 'vote' }), [
      { name: 's1', category: 1, probabilities: [2 / 3, 1 / 3, 0, 0] },
      { name: 's2', category: 3, probabilities: [0, 1 / 3, 2 / 3, 0] },
      { name: 's3', category: 4, probabilities: [0, 0, 1 / 3, 2 / 3] },
    ]);
  });

  it('breaks a tie in votes by the mean probability, then by the lower class id', () => {
    // x: a votes Moderate (.5), b votes Severe (.6): 1 vote each; means Moderate .4 < Severe .5 -> Severe.
    // y: a votes Moderate (.5), b votes Severe (.5): 1 vote each; means .4 and .4 -> the lower id, Moderate.
    const a: EnsembleMember = { name: 'a', rows: [row('x', [0.1, 0.5, 0.4, 0]), row('y', [0.2, 0.5, 0.3, 0])] };
    const b: EnsembleMember = { name: 'b', rows: [row('x', [0.1, 0.3, 0.6, 0]), row('y', [0.2, 0.3, 0.5, 0])] };
    expectRows(combinePredictions([a, b], { rule: 'vote' }), [
      { name: 'x', category: 3, probabilities: [0, 0.5, 0.5, 0] },
      { name: 'y', category: 2, probabilities: [0, 0.5, 0.5, 0] },
    ]);
  });
});

describe('combinePredictions: refusals', () => {
  it('refuses zero members and a member given twice', () => {
    expect(() => combinePredictions([])).toThrow(/no members/);
    expect(() => combinePredictions([m1, { ...m2, name: 'm1' }])).toThrow(/member name "m1" is given twice/);
  });

  it('refuses scan sets that differ, listing missing and extra names (at most 5 each)', () => {
    const short: EnsembleMember = {
      name: 'short',
      rows: [row('s1', [1, 0, 0, 0]), row('s2', [1, 0, 0, 0]), row('sx', [1, 0, 0, 0])],
    };
    expect(() => combinePredictions([m1, short])).toThrow(
      'combinePredictions: member "short": its scans differ from those of member "m1": 1 missing (s3), 1 extra (sx)',
    );
    const many: EnsembleMember = {
      name: 'many',
      rows: Array.from({ length: 8 }, (_, i) => row(`scan_${i}`, [0.25, 0.25, 0.25, 0.25])),
    };
    const few: EnsembleMember = { name: 'few', rows: [row('scan_0', [0.25, 0.25, 0.25, 0.25])] };
    expect(() => combinePredictions([many, few])).toThrow('7 missing (scan_1, scan_2, scan_3, scan_4, scan_5 and 2 more)');
  });

  it('refuses a scan twice in a table, an empty table and a bad scan name', () => {
    const doubled: EnsembleMember = { name: 'doubled', rows: [row('s1', [1, 0, 0, 0]), row('s1', [1, 0, 0, 0])] };
    expect(() => combinePredictions([doubled])).toThrow('member "doubled": scan "s1" appears twice (rows 1 and 2)');
    expect(() => combinePredictions([{ name: 'empty', rows: [] }])).toThrow('member "empty": the table holds no rows');
    expect(() => combinePredictions([{ name: 'bad', rows: [row('a,b', [1, 0, 0, 0])] }])).toThrow(
      /member "bad": row 1: bad scan name "a,b"/,
    );
  });

  it('refuses probabilities that are not finite, outside [0, 1], or do not sum to 1 within 1e-3 (io reader tolerance)', () => {
    const bad = (p: P): EnsembleMember[] => [m1, { name: 'bad', rows: [...m2.rows.slice(0, 2), row('s2', p)] }];
    expect(() => combinePredictions(bad([Number.NaN, 0.5, 0.5, 0]))).toThrow(
      'member "bad": row 3 (scan "s2"): p_mild = NaN is not a finite number',
    );
    expect(() => combinePredictions(bad([0, Number.POSITIVE_INFINITY, 0, 0]))).toThrow(/p_moderate = Infinity is not a finite/);
    expect(() => combinePredictions(bad([-0.1, 0.6, 0.5, 0]))).toThrow(/p_mild = -0.1 is outside \[0, 1\]/);
    expect(() => combinePredictions(bad([0.25, 0.25, 0.25, 0.252]))).toThrow(
      /row 3 \(scan "s2"\): probabilities sum to 1.002, not 1 \(tolerance 0.001\)/,
    );
    // 5e-4 away passes (a table rounded to 4 decimals); a stricter tolerance refuses 2e-4.
    expect(() => combinePredictions(bad([0.25, 0.25, 0.25, 0.2505]))).not.toThrow();
    expect(() => combinePredictions(bad([0.25, 0.25, 0.25, 0.2502]), { sumTolerance: 1e-4 })).toThrow(/tolerance 0.0001/);
  });

  it('refuses a category outside 1..4 and an unknown rule', () => {
    const r = { name: 's', category: 5, probabilities: [1, 0, 0, 0] } as unknown as PredictionRow;
    expect(() => combinePredictions([{ name: 'cat', rows: [r] }])).toThrow(/member "cat": row 1 \(scan "s"\): category 5/);
    expect(() => combinePredictions([m1], { rule: 'median' as never })).toThrow(/unknown rule "median"/);
  });

  it('names the file, as a CovsevInputError, for a member read from one', () => {
    const fromFile: EnsembleMember = { ...m2, name: 'x', path: '/runs/a/predictions/val.csv', rows: m2.rows.slice(1) };
    let caught: unknown;
    try {
      combinePredictions([m1, fromFile]);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CovsevInputError);
    expect((caught as CovsevInputError).path).toBe('/runs/a/predictions/val.csv');
    expect((caught as Error).message).toBe(
      '/runs/a/predictions/val.csv: combinePredictions: its scans differ from those of member "m1": 1 missing (s3)',
    );
  });
});
