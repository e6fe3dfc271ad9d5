import type { LabelRow, PredictionRow } from '@covsev/io';
import { describe, expect, it } from 'vitest';
import { evaluatePredictions } from './evaluate.js';
import { formatConfusionMatrix, formatTable3, percent } from './table3.js';

function row(name: string, category: 1 | 2 | 3 | 4): PredictionRow {
  const probabilities = [0.1, 0.1, 0.1, 0.1] as [number, number, number, number];
  probabilities[category - 1] = 0.7;
  return { name, category, probabilities };
}

const LABELS: LabelRow[] = [
  { name: 's1', category: 1 },
  { name: 's2', category: 1 },
  { name: 's3', category: 2 },
  { name: 's4', category: 3 },
  { name: 's5', category: 3 },
  { name: 's6', category: 4 },
];
const PLAIN = [row('s1', 1), row('s2', 2), row('s3', 2), row('s4', 3), row('s5', 3), row('s6', 3)];
const ALL_MILD = LABELS.map((l) => row(l.name, 1));

describe('formatTable3', () => {
  it("lays the models out as the paper's Table 3: per-class and Macro F1 in percent, CI, kappa", () => {
    const models = evaluatePredictions(
      [
        { name: 'plain', rows: PLAIN },
        { name: 'all-mild', rows: ALL_MILD },
      ],
      LABELS,
      { resamples: 200 },
    );
    const text = formatTable3(models);
    const lines = text.split('\n');
    expect(lines).toHaveLength(4);
    expect(new Set(lines.map((l) => l.length)).size).toBe(1); // aligned
    const cells = (line: string) =>
      line
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim());
    expect(cells(lines[0] as string)).toEqual([
      'ID',
      'Model',
      'Mild',
      'Moderate',
      'Severe',
      'Critical',
      'Macro F1',
      'Macro F1 95 % CI',
      'QW kappa',
      'Scans',
    ]);
    expect(lines[1]).toMatch(/^\|-+\|-+\|-+:\|/);
    const plain = cells(lines[2] as string);
    const ci = models[0]?.macroF1;
    expect(plain).toEqual([
      '1',
      'plain',
      '66.67',
      '66.67',
      '80.00',
      '0.00',
      '53.33',
      `[${((ci?.low as number) * 100).toFixed(2)}, ${((ci?.high as number) * 100).toFixed(2)}]`,
      '0.8125',
      '6',
    ]);
    // All Mild: Mild F1 = 2 * 2 / (2 + 6) = 50 %, the others 0; kappa 0 (a constant prediction).
    expect(cells(lines[3] as string).slice(0, 7)).toEqual(['2', 'all-mild', '50.00', '0.00', '0.00', '0.00', '12.50']);
    expect(cells(lines[3] as string)[8]).toBe('0.0000');
    const custom = formatTable3(models, { ids: ['A', 'B'], scans: false });
    expect(cells(custom.split('\n')[2] as string)[0]).toBe('A');
    expect(custom).not.toMatch(/Scans/);
    expect(() => formatTable3(models, { ids: ['A'] })).toThrow(RangeError);
  });

  it('writes n/a for an undefined kappa', () => {
    const oneClass: LabelRow[] = [
      { name: 'a', category: 2 },
      { name: 'b', category: 2 },
    ];
    const models = evaluatePredictions([{ name: 'm', rows: [row('a', 2), row('b', 2)] }], oneClass, { resamples: 10 });
    expect(Number.isNaN(models[0]?.quadraticKappa)).toBe(true);
    expect(formatTable3(models)).toMatch(/\| +n\/a \|/);
    expect(percent(Number.NaN)).toBe('n/a');
    expect(percent(0.81234)).toBe('81.23');
  });
});

describe('formatConfusionMatrix', () => {
  it('prints rows = truth, columns = prediction, with totals', () => {
    expect(
      formatConfusionMatrix([
        [1, 1, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 2, 0],
        [0, 0, 1, 0],
      ]),
    ).toBe(
      [
        '| truth \\ prediction | Mild | Moderate | Severe | Critical | total |',
        '|--------------------|-----:|---------:|-------:|---------:|------:|',
        '| Mild               |    1 |        1 |      0 |        0 |     2 |',
        '| Moderate           |    0 |        1 |      0 |        0 |     1 |',
        '| Severe             |    0 |        0 |      2 |        0 |     2 |',
        '| Critical           |    0 |        0 |      1 |        0 |     1 |',
        '| total              |    1 |        2 |      3 |        0 |     6 |',
      ].join('\n'),
    );
    expect(() => formatConfusionMatrix([[1]])).toThrow(RangeError);
  });
});
