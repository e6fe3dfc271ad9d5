import type { PredictionRow } from '@covsev/io';
import { describe, expect, it } from 'vitest';
import { combinePredictions } from './combine.js';
import type { EnsembleMember } from './tables.js';
import { fitEnsembleWeights } from './weights.js';

type P = [number, number, number, number];

// Four scans, one per grade (class ids 0..3).
const truth = new Map<string, number>([
  ['s0', 1],
  ['s1', 2],
  ['s2', 3],
  ['s3', 4],
]);
const names = ['s0', 's1', 's2', 's3'];

/** A member giving probability `p` to class (true + shift) % 4 and `rest` to each other class. */
function member(name: string, shift: number, p: number, rest: number): EnsembleMember {
  return {
    name,
    rows: names.map((scan, t): PredictionRow => {
      const probabilities = [rest, rest, rest, rest] as P;
      probabilities[(t + shift) % 4] = p;
      return { name: scan, category: 1, probabilities };
    }),
  };
}

describe('fitEnsembleWeights', () => {
  it('finds the planted best member, with the most uniform of the tied weights', () => {
    // good: .55 on the true class, .15 elsewhere. bad: .97 on the next class, .01 elsewhere.
    // Weighted mean with weights (a, 1 - a): true .55a + .01(1 - a), wrong .15a + .97(1 - a);
    // the true class wins iff 1.36a > .96, a > .70588. So a = .8, .9, 1 all score Macro F1 1 and
    // a <= .7 scores 0 (every scan wrong); the most uniform of the three is a = .8.
    const fit = fitEnsembleWeights([member('good', 0, 0.55, 0.15), member('bad', 1, 0.97, 0.01)], truth);
    expect(fit.weights).toEqual([0.8, 0.2]);
    expect(fit.macroF1).toBe(1);
    expect(fit.memberMacroF1).toEqual([1, 0]);
    // a = .5: true .28, wrong .56.
    expect(fit.uniformMacroF1).toBe(0);
    expect(fit.candidates).toBe(11);
    // The weights, applied, give back the fitted table's grades.
    const applied = combinePredictions(
      [member('good', 0, 0.55, 0.15), member('bad', 1, 0.97, 0.01)].map((m, i) => ({ ...m, weight: fit.weights[i] as number })),
      { rule: 'weighted-mean' },
    );
    expect(applied.map((r) => r.category)).toEqual([1, 2, 3, 4]);
  });

  it('with three members: the good one keeps the most weight', () => {
    // good (a), bad1 (b, .97 on true + 1), bad2 (c, .97 on true + 2). true - wrong1 = .4a - .96b,
    // true - wrong2 = .4a - .96c: F1 = 1 iff b, c < .41667a. The most uniform grid point is
    // (.6, .2, .2) (b, c < .25); (.5, .2, .3) fails (.3 > .2083).
    const fit = fitEnsembleWeights(
      [member('good', 0, 0.55, 0.15), member('bad1', 1, 0.97, 0.01), member('bad2', 2, 0.97, 0.01)],
      truth,
    );
    expect(fit.weights).toEqual([0.6, 0.2, 0.2]);
    expect(fit.macroF1).toBe(1);
    expect(fit.candidates).toBe(66);
  });

  it('finds a mix better than each member alone', () => {
    // a is right (.7) on s0, s1 and narrowly wrong on s2, s3 (.35 Severe vs .45 Critical and the
    // reverse); b the other way round. Alone each predicts [0, 1, 3, 2] or [1, 0, 2, 3]:
    // Macro F1 (1 + 1 + 0 + 0) / 4 = .5. The mean gives .525 to the true class: F1 1, at (.5, .5).
    const a: EnsembleMember = {
      name: 'a',
      rows: [
        { name: 's0', category: 1, probabilities: [0.7, 0.1, 0.1, 0.1] },
        { name: 's1', category: 2, probabilities: [0.1, 0.7, 0.1, 0.1] },
        { name: 's2', category: 4, probabilities: [0.1, 0.1, 0.35, 0.45] },
        { name: 's3', category: 3, probabilities: [0.1, 0.1, 0.45, 0.35] },
      ],
    };
    const b: EnsembleMember = {
      name: 'b',
      rows: [
        { name: 's0', category: 2, probabilities: [0.35, 0.45, 0.1, 0.1] },
        { name: 's1', category: 1, probabilities: [0.45, 0.35, 0.1, 0.1] },
        { name: 's2', category: 3, probabilities: [0.1, 0.1, 0.7, 0.1] },
        { name: 's3', category: 4, probabilities: [0.1, 0.1, 0.1, 0.7] },
      ],
    };
    const fit = fitEnsembleWeights(
      [a, b],
      [...truth].map(([name, category]) => ({ name, category })),
    );
    expect(fit.memberMacroF1).toEqual([0.5, 0.5]);
    expect(fit.uniformMacroF1).toBe(1);
    expect(fit.weights).toEqual([0.5, 0.5]);
    expect(fit.macroF1).toBe(1);
    // A step of .25: weights on 0, .25, .5, .75, 1.
    expect(fitEnsembleWeights([a, b], truth, { step: 0.25 }).candidates).toBe(5);
  });

  it('ignores truth for other scans and refuses missing truth, bad categories and a bad step', () => {
    const members = [member('good', 0, 0.55, 0.15)];
    expect(fitEnsembleWeights(members, new Map([...truth, ['other', 2]])).weights).toEqual([1]);
    expect(() => fitEnsembleWeights(members, new Map([['s0', 1]]))).toThrow(
      'fitEnsembleWeights: truth lacks 3 of the 4 scans (s1, s2, s3)',
    );
    expect(() => fitEnsembleWeights(members, new Map([...truth, ['s0', 0]]))).toThrow(/scan "s0" has category 0/);
    expect(() =>
      fitEnsembleWeights(members, [
        { name: 's0', category: 1 },
        { name: 's0', category: 1 },
      ]),
    ).toThrow(/scan "s0" is given twice/);
    expect(() => fitEnsembleWeights(members, truth, { step: 0.3 })).toThrow(/1 \/ step an integer/);
    expect(() => fitEnsembleWeights([], truth)).toThrow(/no members/);
  });

  it('refuses a search too large to run', () => {
    const many = Array.from({ length: 12 }, (_, i) => ({ ...member('good', 0, 0.55, 0.15), name: `m${i}` }));
    // C(10 + 11, 11) = 352716 weight vectors.
    expect(() => fitEnsembleWeights(many, truth)).toThrow(/12 members with step 0.1 make 352716 weight vectors/);
  });
});
