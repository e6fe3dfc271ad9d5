import { describe, expect, it } from 'vitest';
import { accuracy, macroF1, macroPrecision, macroRecall, perClassScores } from './classification.js';
import { confusionMatrix } from './confusion.js';
import { classificationReport } from './report.js';

// truth [0,0,1,1,2,2], pred [0,1,1,1,2,0]
const M = [
  [1, 1, 0],
  [0, 2, 0],
  [1, 0, 1],
];

describe('per-class scores (hand-computed)', () => {
  it('precision, recall, F1, support', () => {
    const s = perClassScores(M);
    expect(s.precision).toEqual([1 / 2, 2 / 3, 1]);
    expect(s.recall).toEqual([1 / 2, 1, 1 / 2]);
    expect(s.f1[0]).toBeCloseTo(0.5, 15);
    expect(s.f1[1]).toBeCloseTo(0.8, 15);
    expect(s.f1[2]).toBeCloseTo(2 / 3, 15);
    expect(s.support).toEqual([2, 2, 2]);
  });

  it('macro scores and accuracy', () => {
    expect(macroF1(M)).toBeCloseTo(59 / 90, 15);
    expect(macroPrecision(M)).toBeCloseTo((1 / 2 + 2 / 3 + 1) / 3, 15);
    expect(macroRecall(M)).toBeCloseTo((1 / 2 + 1 + 1 / 2) / 3, 15);
    expect(accuracy(M)).toBeCloseTo(4 / 6, 15);
  });

  it('counts a class absent from truth and prediction as F1 = 0 in the macro mean (sklearn)', () => {
    const m = confusionMatrix([0, 1, 1], [0, 1, 0], 4);
    const s = perClassScores(m);
    expect(s.f1).toEqual([2 / 3, 2 / 3, 0, 0]);
    expect(macroF1(m)).toBeCloseTo(1 / 3, 15);
    // Same data with K = 2: no absent class, higher score.
    expect(macroF1(confusionMatrix([0, 1, 1], [0, 1, 0], 2))).toBeCloseTo(2 / 3, 15);
  });

  it('zero_division = 0 for a class predicted but never true, and never predicted', () => {
    const s = perClassScores(confusionMatrix([0, 0], [1, 1], 2));
    expect(s.precision).toEqual([0, 0]);
    expect(s.recall).toEqual([0, 0]);
    expect(s.f1).toEqual([0, 0]);
    expect(s.support).toEqual([2, 0]);
  });

  it('perfect predictions give 1 for every present class', () => {
    const m = confusionMatrix([0, 1, 2, 1], [0, 1, 2, 1], 3);
    expect(macroF1(m)).toBe(1);
    expect(accuracy(m)).toBe(1);
  });

  it('rejects bad matrices', () => {
    expect(() => macroF1([])).toThrow(/confusion matrix is empty/);
    expect(() => macroF1([[1, 0]])).toThrow(/must be square, row 0 has 2 entries for 1 rows/);
    expect(() =>
      accuracy([
        [1, 0],
        [-1, 2],
      ]),
    ).toThrow(/entry \[1\]\[0\] = -1 is not a non-negative integer/);
    expect(() =>
      perClassScores([
        [1, 0.5],
        [0, 2],
      ]),
    ).toThrow(/\[0\]\[1\] = 0.5/);
    expect(() =>
      macroF1([
        [0, 0],
        [0, 0],
      ]),
    ).toThrow(/holds no samples/);
    expect(() => accuracy([[Number.NaN]])).toThrow(RangeError);
  });
});

describe('classificationReport', () => {
  it('collects every metric, with class names', () => {
    const r = classificationReport(M, { classNames: ['Mild', 'Moderate', 'Severe'] });
    expect(r.numClasses).toBe(3);
    expect(r.total).toBe(6);
    expect(r.confusion).toEqual(M);
    expect(r.confusion).not.toBe(M);
    expect(r.perClass.map((c) => c.name)).toEqual(['Mild', 'Moderate', 'Severe']);
    expect(r.perClass.map((c) => c.classId)).toEqual([0, 1, 2]);
    expect(r.perClass.map((c) => c.predicted)).toEqual([2, 3, 1]);
    expect(r.perClass.map((c) => c.support)).toEqual([2, 2, 2]);
    expect(r.perClass[1]?.recall).toBe(1);
    expect(r.macroF1).toBeCloseTo(59 / 90, 15);
    expect(r.accuracy).toBeCloseTo(2 / 3, 15);
    expect(r.quadraticKappa).toBeCloseTo(2 / 7, 15);
    expect(r.linearKappa).toBeCloseTo(0.4, 15);
    expect(r.kappa).toBeCloseTo(0.5, 15);
  });

  it('names classes by id when no names are given', () => {
    expect(classificationReport(M).perClass.map((c) => c.name)).toEqual(['0', '1', '2']);
  });

  it('rejects a wrong number of class names and an empty matrix', () => {
    expect(() => classificationReport(M, { classNames: ['a', 'b'] })).toThrow(/got 2 classNames for 3 classes/);
    expect(() => classificationReport([[0]])).toThrow(/no samples/);
  });
});
