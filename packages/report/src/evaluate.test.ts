import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootstrapMacroF1 } from '@covsev/eval';
import { CovsevInputError, type LabelRow, type PredictionRow, writeLabelCsv, writePredictionCsv } from '@covsev/io';
import { describe, expect, it } from 'vitest';
import { evaluatePredictionFiles, evaluatePredictions, modelNameFromPath } from './evaluate.js';

type Category = 1 | 2 | 3 | 4;

function row(name: string, category: Category): PredictionRow {
  const probabilities = [0.1, 0.1, 0.1, 0.1] as [number, number, number, number];
  probabilities[category - 1] = 0.7;
  return { name, category, probabilities };
}

// Truth: Mild, Mild, Moderate, Severe, Severe, Critical.
const LABELS: LabelRow[] = [
  { name: 's1', category: 1 },
  { name: 's2', category: 1 },
  { name: 's3', category: 2 },
  { name: 's4', category: 3 },
  { name: 's5', category: 3 },
  { name: 's6', category: 4 },
];
// Predicted: Mild, Moderate, Moderate, Severe, Severe, Severe (listed out of order on purpose).
const PLAIN = [row('s6', 3), row('s1', 1), row('s2', 2), row('s3', 2), row('s4', 3), row('s5', 3)];
const PERFECT = LABELS.map((l) => row(l.name, l.category));

describe('evaluatePredictions', () => {
  it('gives the hand-computed confusion matrix, per-class F1, Macro F1 and quadratic kappa', () => {
    const [plain, perfect] = evaluatePredictions(
      [
        { name: 'plain', path: 'plain.csv', rows: PLAIN },
        { name: 'perfect', rows: PERFECT },
      ],
      LABELS,
    );
    if (plain === undefined || perfect === undefined) throw new Error('two models expected');
    expect(plain.confusion).toEqual([
      [1, 1, 0, 0],
      [0, 1, 0, 0],
      [0, 0, 2, 0],
      [0, 0, 1, 0],
    ]);
    // Mild: tp 1, 2 true, 1 predicted: 2/3. Moderate: tp 1, 1 true, 2 predicted: 2/3.
    // Severe: tp 2, 2 true, 3 predicted: 4/5. Critical: never predicted: 0.
    expect(plain.perClassF1[0]).toBeCloseTo(2 / 3, 12);
    expect(plain.perClassF1[1]).toBeCloseTo(2 / 3, 12);
    expect(plain.perClassF1[2]).toBeCloseTo(0.8, 12);
    expect(plain.perClassF1[3]).toBe(0);
    expect(plain.macroF1.estimate).toBeCloseTo((2 / 3 + 2 / 3 + 0.8) / 4, 12);
    // Weighted disagreement (weights (i-j)^2/9): observed 2/9, expected 64/54, kappa 1 - 12/64.
    expect(plain.quadraticKappa).toBeCloseTo(0.8125, 12);
    expect(plain.accuracy).toBeCloseTo(4 / 6, 12);
    expect(plain.scans).toBe(6);
    expect(plain.unscoredLabels).toBe(0);
    expect(plain.path).toBe('plain.csv');
    expect(perfect.path).toBe('perfect');
    expect(perfect.perClassF1).toEqual([1, 1, 1, 1]);
    expect(perfect.quadraticKappa).toBeCloseTo(1, 12);
  });

  it('gives the bootstrap interval of @covsev/eval, reproducibly from the seed', () => {
    const [a] = evaluatePredictions([{ name: 'plain', rows: PLAIN }], LABELS, { seed: 7, resamples: 500 });
    const [b] = evaluatePredictions([{ name: 'plain', rows: PLAIN }], LABELS, { seed: 7, resamples: 500 });
    // The rows in table order: truth and prediction class ids.
    const truth = [3, 0, 0, 1, 2, 2];
    const pred = [2, 0, 1, 1, 2, 2];
    expect(a?.macroF1).toEqual(bootstrapMacroF1(truth, pred, { numClasses: 4, seed: 7, resamples: 500 }));
    expect(b?.macroF1).toEqual(a?.macroF1);
    expect(a?.macroF1.low).toBeLessThanOrEqual(a?.macroF1.estimate as number);
    expect(a?.macroF1.high).toBeGreaterThanOrEqual(a?.macroF1.estimate as number);
    expect(a?.macroF1.low).toBeLessThan(a?.macroF1.high as number);
    expect(a?.macroF1.confidence).toBe(0.95);
  });

  it('refuses a table scan with no label, naming the table file and the scan', () => {
    const run = () =>
      evaluatePredictions([{ name: 'plain', path: 'runs/plain/val.csv', rows: [...PLAIN, row('ghost_7', 2)] }], LABELS, {
        labelsPath: 'val_labels.csv',
      });
    expect(run).toThrow(CovsevInputError);
    expect(run).toThrow('runs/plain/val.csv: 1 scan with no label in val_labels.csv: ghost_7');
    // subset does not make an unlabelled scan scorable.
    expect(() =>
      evaluatePredictions([{ name: 'p', path: 'p.csv', rows: [...PLAIN, row('ghost_7', 2)] }], LABELS, { subset: true }),
    ).toThrow(/p\.csv: 1 scan with no label in labels: ghost_7/);
  });

  it('refuses a labelled scan missing from a table (naming file and scan) unless subset', () => {
    const partial = PLAIN.filter((r) => r.name !== 's6' && r.name !== 's3');
    const run = (subset: boolean) =>
      evaluatePredictions([{ name: 'plain', path: 'pred.csv', rows: partial }], LABELS, { labelsPath: 'labels.csv', subset });
    expect(() => run(false)).toThrow(CovsevInputError);
    expect(() => run(false)).toThrow('pred.csv: 2 labelled scans of labels.csv missing from the table: s3, s6');
    const [scored] = run(true);
    expect(scored?.scans).toBe(4);
    expect(scored?.unscoredLabels).toBe(2);
    expect(scored?.confusion).toEqual([
      [1, 1, 0, 0],
      [0, 0, 0, 0],
      [0, 0, 2, 0],
      [0, 0, 0, 0],
    ]);
  });

  it('lists at most five scans, then a count', () => {
    const many = Array.from({ length: 8 }, (_, i) => row(`extra_${i}`, 1));
    expect(() => evaluatePredictions([{ name: 'p', path: 'p.csv', rows: [...PLAIN, ...many] }], LABELS)).toThrow(
      'p.csv: 8 scans with no label in labels: extra_0, extra_1, extra_2, extra_3, extra_4 (and 3 more)',
    );
  });

  it('refuses no tables, twice the same name, an empty table and no labels', () => {
    expect(() => evaluatePredictions([], LABELS)).toThrow(RangeError);
    expect(() =>
      evaluatePredictions(
        [
          { name: 'a', rows: PLAIN },
          { name: 'a', rows: PERFECT },
        ],
        LABELS,
      ),
    ).toThrow(/two tables are named "a"/);
    expect(() => evaluatePredictions([{ name: 'a', path: 'a.csv', rows: [] }], LABELS)).toThrow(
      'a.csv: prediction table has no rows',
    );
    expect(() => evaluatePredictions([{ name: 'a', rows: PLAIN }], [], { labelsPath: 'l.csv' })).toThrow('l.csv: no labels');
  });
});

describe('evaluatePredictionFiles', () => {
  it('reads the label file and the tables, naming models after their files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-report-'));
    await writeLabelCsv(join(dir, 'labels.csv'), LABELS);
    await writePredictionCsv(join(dir, 'plain.csv'), PLAIN);
    await writePredictionCsv(join(dir, 'infection.csv'), PERFECT);
    const models = await evaluatePredictionFiles([join(dir, 'plain.csv'), join(dir, 'infection.csv')], join(dir, 'labels.csv'));
    expect(models.map((m) => m.name)).toEqual(['plain', 'infection']);
    expect(models[0]?.quadraticKappa).toBeCloseTo(0.8125, 12);
    const named = await evaluatePredictionFiles([join(dir, 'plain.csv')], join(dir, 'labels.csv'), { names: ['cmc'] });
    expect(named[0]?.name).toBe('cmc');
    expect(modelNameFromPath('runs/x/val.CSV')).toBe('val');
  });

  it('names the file for a missing table, a bad table and a scan the labels lack', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-report-'));
    const labels = join(dir, 'labels.csv');
    await writeLabelCsv(labels, LABELS);
    const missing = join(dir, 'nope.csv');
    await expect(evaluatePredictionFiles([missing], labels)).rejects.toThrow(`${missing}: cannot read prediction table`);
    const bad = join(dir, 'bad.csv');
    await writeFile(bad, 'name,category,p_mild,p_moderate,p_severe,p_critical\ns1,5,0.1,0.2,0.3,0.4\n');
    await expect(evaluatePredictionFiles([bad], labels)).rejects.toThrow(`${bad}:2: category: "5" is not one of 1, 2, 3, 4`);
    const extra = join(dir, 'extra.csv');
    await writePredictionCsv(extra, [...PLAIN, row('ct_scan_99', 4)]);
    await expect(evaluatePredictionFiles([extra], labels)).rejects.toThrow(
      `${extra}: 1 scan with no label in ${labels}: ct_scan_99`,
    );
    await expect(evaluatePredictionFiles([extra], join(dir, 'no-labels.csv'))).rejects.toThrow(
      /no-labels\.csv: cannot read label file/,
    );
  });
});
