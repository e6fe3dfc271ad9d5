/**
 * Agreement with scikit-learn on the cases in fixtures/sklearn_cases.json (made by
 * fixtures/make_fixtures.py; see the README for how to regenerate). Tolerance 1e-12.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { accuracy, macroF1, macroPrecision, macroRecall, perClassScores } from './classification.js';
import { ConfusionMatrixAccumulator, confusionMatrix } from './confusion.js';
import { cohenKappa, quadraticWeightedKappa } from './kappa.js';
import { LabelSegmentationAccumulator, labelSegmentationMetrics, perLabelDice, perLabelIou } from './label-segmentation.js';
import { classificationReport } from './report.js';
import { dice, iou, miou, SegmentationMetricAccumulator, segmentationMetrics } from './segmentation.js';

interface ClassificationCase {
  name: string;
  numClasses: number;
  truth: number[];
  pred: number[];
  confusion: number[][];
  precision: number[];
  recall: number[];
  f1: number[];
  support: number[];
  macroPrecision: number;
  macroRecall: number;
  macroF1: number;
  accuracy: number;
  kappa: { none: number | null; linear: number | null; quadratic: number | null };
}

interface BinaryCase {
  name: string;
  truth: number[];
  pred: number[];
  iou: number;
  dice: number;
  miou: number;
}

interface LabelCase {
  name: string;
  numLabels: number;
  truth: number[];
  pred: number[];
  iou: number[];
  dice: number[];
}

interface Fixture {
  sklearn: string;
  classification: ClassificationCase[];
  binarySegmentation: BinaryCase[];
  labelSegmentation: LabelCase[];
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/sklearn_cases.json', import.meta.url), 'utf8')) as Fixture;

const TOL = 1e-12;

/** Expects |actual - expected| <= TOL; a null expectation (sklearn's NaN) expects NaN. */
function expectClose(actual: number, expected: number | null, what: string): void {
  if (expected === null) {
    expect(actual, what).toBeNaN();
    return;
  }
  expect(Number.isFinite(actual), `${what}: ${actual} is not finite`).toBe(true);
  expect(Math.abs(actual - expected), `${what}: got ${actual}, sklearn ${expected}`).toBeLessThanOrEqual(TOL);
}

function expectAllClose(actual: readonly number[], expected: readonly number[], what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) expectClose(actual[i] as number, expected[i] as number, `${what}[${i}]`);
}

/** Splits [0, n) into consecutive chunks of pseudo-random sizes (deterministic per n). */
function chunks(n: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let start = 0;
  let step = 1;
  while (start < n) {
    const end = Math.min(n, start + step);
    out.push([start, end]);
    start = end;
    step = (step * 7 + 3) % 97;
  }
  return out;
}

describe('fixture', () => {
  it('holds the kinds of cases the tests rely on', () => {
    const c = fixture.classification;
    expect(c.length).toBeGreaterThanOrEqual(60);
    const names = c.map((x) => x.name);
    for (const prefix of ['uniform-', 'ordinal-', 'absent-', 'all-one-pred-', 'perfect-', 'one-class-both-', 'single-']) {
      expect(
        names.some((n) => n.startsWith(prefix)),
        prefix,
      ).toBe(true);
    }
    expect(new Set(c.map((x) => x.numClasses))).toEqual(new Set([2, 3, 4, 5]));
    expect(c.some((x) => x.truth.length === 1)).toBe(true);
    expect(c.some((x) => x.truth.length >= 400)).toBe(true);
    // Absent classes in the truth, and kappa's NaN case, are both exercised.
    expect(c.some((x) => x.support.includes(0))).toBe(true);
    expect(c.some((x) => x.kappa.quadratic === null)).toBe(true);
    expect(fixture.binarySegmentation.length).toBeGreaterThanOrEqual(30);
    expect(fixture.labelSegmentation.length).toBeGreaterThanOrEqual(10);
  });
});

describe('classification metrics agree with sklearn', () => {
  it.each(fixture.classification.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const m = confusionMatrix(c.truth, c.pred, c.numClasses);
    expect(m).toEqual(c.confusion);
    const s = perClassScores(m);
    expectAllClose(s.precision, c.precision, 'precision');
    expectAllClose(s.recall, c.recall, 'recall');
    expectAllClose(s.f1, c.f1, 'f1');
    expect(s.support).toEqual(c.support);
    expectClose(macroF1(m), c.macroF1, 'macroF1');
    expectClose(macroPrecision(m), c.macroPrecision, 'macroPrecision');
    expectClose(macroRecall(m), c.macroRecall, 'macroRecall');
    expectClose(accuracy(m), c.accuracy, 'accuracy');
    expectClose(quadraticWeightedKappa(m), c.kappa.quadratic, 'quadratic kappa');
    expectClose(cohenKappa(m, 'linear'), c.kappa.linear, 'linear kappa');
    expectClose(cohenKappa(m, 'none'), c.kappa.none, 'kappa');

    const r = classificationReport(m);
    expect(r.total).toBe(c.truth.length);
    expectClose(r.macroF1, c.macroF1, 'report.macroF1');
    expectClose(r.macroPrecision, c.macroPrecision, 'report.macroPrecision');
    expectClose(r.macroRecall, c.macroRecall, 'report.macroRecall');
    expectClose(r.accuracy, c.accuracy, 'report.accuracy');
    expectClose(r.quadraticKappa, c.kappa.quadratic, 'report.quadraticKappa');
    expectClose(r.linearKappa, c.kappa.linear, 'report.linearKappa');
    expectClose(r.kappa, c.kappa.none, 'report.kappa');
    expectAllClose(
      r.perClass.map((x) => x.f1),
      c.f1,
      'report f1',
    );
    expect(r.perClass.map((x) => x.support)).toEqual(c.support);

    // The accumulator over chunks gives the same matrix.
    const acc = new ConfusionMatrixAccumulator(c.numClasses);
    for (const [a, b] of chunks(c.truth.length)) acc.update(c.truth.slice(a, b), c.pred.slice(a, b));
    expect(acc.aggregate()).toEqual(c.confusion);
    expect(acc.count).toBe(c.truth.length);
  });
});

describe('binary segmentation agrees with sklearn', () => {
  it.each(fixture.binarySegmentation.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const pred = Uint8Array.from(c.pred);
    const truth = Uint8Array.from(c.truth);
    expectClose(iou(pred, truth), c.iou, 'iou');
    expectClose(dice(pred, truth), c.dice, 'dice');
    expectClose(miou(pred, truth), c.miou, 'miou');
    // Plain number arrays with other nonzero values mean the same masks.
    expectClose(
      iou(
        c.pred.map((v) => v * 255),
        c.truth.map((v) => -3 * v),
      ),
      c.iou,
      'iou (255/-3 masks)',
    );

    const acc = new SegmentationMetricAccumulator();
    for (const [a, b] of chunks(pred.length)) acc.update(pred.subarray(a, b), truth.subarray(a, b));
    const agg = acc.aggregate();
    expectClose(agg.iou, c.iou, 'accumulated iou');
    expectClose(agg.dice, c.dice, 'accumulated dice');
    expectClose(agg.miou, c.miou, 'accumulated miou');
    expect(agg).toEqual(segmentationMetrics(pred, truth));
  });
});

describe('label segmentation agrees with sklearn', () => {
  it.each(fixture.labelSegmentation.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const pred = Uint8Array.from(c.pred);
    const truth = Uint8Array.from(c.truth);
    expectAllClose(perLabelIou(pred, truth, c.numLabels), c.iou, 'iou');
    expectAllClose(perLabelDice(c.pred, c.truth, c.numLabels), c.dice, 'dice');
    const m = labelSegmentationMetrics(pred, truth, { numLabels: c.numLabels });
    expectClose(m.meanIou, c.iou.reduce((a, b) => a + b, 0) / c.numLabels, 'meanIou');
    expectClose(m.meanDice, c.dice.reduce((a, b) => a + b, 0) / c.numLabels, 'meanDice');

    const acc = new LabelSegmentationAccumulator({ numLabels: c.numLabels });
    for (const [a, b] of chunks(pred.length)) acc.update(pred.subarray(a, b), truth.subarray(a, b));
    expect(acc.aggregate()).toEqual(m);
  });
});
