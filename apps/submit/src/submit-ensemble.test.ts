import { mkdir, mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '@covsev/cli';
import { CovsevInputError, type PredictionRow, readPredictionCsv, writePredictionCsv } from '@covsev/io';
import { describe, expect, it } from 'vitest';
import { main, takePredictions } from './submit.js';

// Hand-computed: mean ct_scan_1 [0.6, 0.2, 0.1, 0.1] Mild, ct_scan_2 [0.2, 0.2, 0.35, 0.25]
// Severe (neither table's arg-max), ct_scan_3 [0.05, 0.1, 0.25, 0.6] Critical. Vote: ct_scan_1
// Mild (2 votes), ct_scan_2 Mild (1 vote each for Mild and Moderate, equal mean 0.2: the lower
// grade; shares 0.5, 0.5), ct_scan_3 Critical.
const PLAIN: PredictionRow[] = [
  { name: 'ct_scan_1', category: 1, probabilities: [0.7, 0.1, 0.1, 0.1] },
  { name: 'ct_scan_2', category: 1, probabilities: [0.4, 0, 0.35, 0.25] },
  { name: 'ct_scan_3', category: 4, probabilities: [0.1, 0.1, 0.3, 0.5] },
];
const INFECTION: PredictionRow[] = [
  { name: 'ct_scan_2', category: 2, probabilities: [0, 0.4, 0.35, 0.25] },
  { name: 'ct_scan_3', category: 4, probabilities: [0, 0.1, 0.2, 0.7] },
  { name: 'ct_scan_1', category: 1, probabilities: [0.5, 0.3, 0.1, 0.1] },
];

async function setup(): Promise<{ dir: string; a: string; b: string; test: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'covsev-submit-ensemble-'));
  const a = join(dir, 'plain.csv');
  const b = join(dir, 'infection.csv');
  await writePredictionCsv(a, PLAIN);
  await writePredictionCsv(b, INFECTION);
  const test = join(dir, 'test');
  for (const n of ['ct_scan_1', 'ct_scan_2', 'ct_scan_3']) await mkdir(join(test, n), { recursive: true });
  return { dir, a, b, test };
}

function capture(): { out: string[]; err: string[]; print: (l: string) => void; warn: (l: string) => void } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, print: (l) => out.push(l), warn: (l) => err.push(l) };
}

describe('pnpm submit: an ensemble of prediction tables', () => {
  it('averages two tables (--predictions twice) into the class files and predictions.csv', async () => {
    const { dir, a, b, test } = await setup();
    const out = join(dir, 'out');
    const io = capture();
    expect(await main(['--', '--predictions', a, '--predictions', b, '--out', out, '--test-dir', test], io.print, io.warn)).toBe(
      0,
    );
    expect(await readFile(join(out, 'mild.csv'), 'utf8')).toBe('ct_scan_1\n');
    expect(await readFile(join(out, 'moderate.csv'), 'utf8')).toBe('');
    expect(await readFile(join(out, 'severe.csv'), 'utf8')).toBe('ct_scan_2\n');
    expect(await readFile(join(out, 'critical.csv'), 'utf8')).toBe('ct_scan_3\n');
    const table = await readPredictionCsv(join(out, 'predictions.csv'));
    expect(table.map((r) => [r.name, r.category, ...r.probabilities.map((p) => Number(p.toFixed(9)))])).toEqual([
      ['ct_scan_1', 1, 0.6, 0.2, 0.1, 0.1],
      ['ct_scan_2', 3, 0.2, 0.2, 0.35, 0.25],
      ['ct_scan_3', 4, 0.05, 0.1, 0.25, 0.6],
    ]);
    expect(io.err).toEqual(['submit: warning: no scan is graded moderate (moderate.csv is empty)']);
    expect(io.out).toEqual([
      `submit: 3 scans from 2 tables (mean) -> ${['mild', 'moderate', 'severe', 'critical', 'predictions'].map((f) => join(out, `${f}.csv`)).join(', ')} (mild 1, moderate 0, severe 1, critical 1)`,
    ]);
  });

  it('takes a vote of a comma list', async () => {
    const { dir, a, b } = await setup();
    const out = join(dir, 'out');
    const io = capture();
    expect(await main(['--predictions', `${a},${b}`, '--ensemble', 'vote', '--out', out], io.print, io.warn)).toBe(0);
    expect(await readFile(join(out, 'mild.csv'), 'utf8')).toBe('ct_scan_1\nct_scan_2\n');
    expect(await readFile(join(out, 'severe.csv'), 'utf8')).toBe('');
    expect(await readFile(join(out, 'critical.csv'), 'utf8')).toBe('ct_scan_3\n');
    const table = await readPredictionCsv(join(out, 'predictions.csv'));
    expect(table.map((r) => [r.name, r.category, ...r.probabilities])).toEqual([
      ['ct_scan_1', 1, 1, 0, 0, 0],
      ['ct_scan_2', 1, 0.5, 0.5, 0, 0],
      ['ct_scan_3', 4, 0, 0, 0, 1],
    ]);
    expect(io.err).toEqual(['submit: warning: no scan is graded moderate, severe (moderate.csv, severe.csv are empty)']);
    expect(io.out[0]).toMatch(/^submit: 3 scans from 2 tables \(vote\) -> /);
  });

  it('weights with weighted-mean: 1 and 3 give ct_scan_1 [0.55, 0.25, 0.1, 0.1], ct_scan_2 [0.1, 0.3, 0.35, 0.25]', async () => {
    const { dir, a, b } = await setup();
    const out = join(dir, 'out');
    const io = capture();
    await main(
      ['--predictions', a, '--predictions', b, '--ensemble', 'weighted-mean', '--weights', '1,3', '--out', out],
      io.print,
      io.warn,
    );
    const table = await readPredictionCsv(join(out, 'predictions.csv'));
    expect(table.map((r) => [r.name, r.category, ...r.probabilities.map((p) => Number(p.toFixed(9)))])).toEqual([
      ['ct_scan_1', 1, 0.55, 0.25, 0.1, 0.1],
      ['ct_scan_2', 3, 0.1, 0.3, 0.35, 0.25],
      ['ct_scan_3', 4, 0.025, 0.1, 0.225, 0.65],
    ]);
  });

  it('refuses weights without weighted-mean, the wrong count of weights, and ensemble options for one table', async () => {
    const { dir, a, b } = await setup();
    const out = join(dir, 'out');
    const run = (...args: string[]) =>
      main(
        ['--predictions', a, '--predictions', b, '--out', out, ...args],
        () => undefined,
        () => undefined,
      );
    await expect(run('--weights', '1,2')).rejects.toThrow(UsageError);
    await expect(run('--weights', '1,2')).rejects.toThrow('--weights goes with --ensemble weighted-mean only (the rule is mean)');
    await expect(run('--ensemble', 'vote', '--weights', '1,2')).rejects.toThrow(
      '--weights goes with --ensemble weighted-mean only (the rule is vote)',
    );
    await expect(run('--ensemble', 'weighted-mean', '--weights', '1,2,3')).rejects.toThrow(
      '--weights gives 3 weights for 2 prediction tables',
    );
    await expect(run('--ensemble', 'weighted-mean')).rejects.toThrow(
      '--ensemble weighted-mean needs --weights (one per prediction table, 2)',
    );
    await expect(run('--ensemble', 'weighted-mean', '--weights', '1,x')).rejects.toThrow(
      '--weights expects numbers >= 0 separated by commas, got "x" in "1,x"',
    );
    await expect(run('--ensemble', 'weighted-mean', '--weights', '0,0')).rejects.toThrow('--weights: every weight is 0');
    await expect(run('--ensemble', 'median')).rejects.toThrow(
      '--ensemble must be one of mean, weighted-mean, vote, got "median"',
    );
    await expect(main(['--predictions', a, '--out', out, '--ensemble', 'vote'])).rejects.toThrow(
      '--ensemble combines several prediction tables, but --predictions gives one',
    );
    await expect(main(['--predictions', `${a},${a}`, '--out', out])).rejects.toThrow(`--predictions names ${a} twice`);
    expect(await readdir(dir)).not.toContain('out');
  });

  it('refuses tables whose scan sets differ, naming the file', async () => {
    const { dir, a, test } = await setup();
    const other = join(dir, 'other.csv');
    await writePredictionCsv(other, [...PLAIN.slice(0, 2), { name: 'ct_scan_9', category: 2, probabilities: [0, 1, 0, 0] }]);
    const run = () => main(['--predictions', a, '--predictions', other, '--out', join(dir, 'out'), '--test-dir', test]);
    await expect(run()).rejects.toThrow(CovsevInputError);
    await expect(run()).rejects.toThrow(
      new RegExp(
        `^${other.replaceAll('/', '\\/')}: combinePredictions: its scans differ from those of ${a.replaceAll('/', '\\/')}: 1 missing \\(ct_scan_3\\), 1 extra \\(ct_scan_9\\)$`,
      ),
    );
    expect(await readdir(dir)).not.toContain('out');
  });
});

describe('takePredictions', () => {
  it('collects repeated and comma-listed tables, leaving the other options (and their values) alone', () => {
    expect(
      takePredictions(['--', '--predictions', 'a.csv,b.csv', '--out', 'o', '--predictions=c.csv', '--weights', '-1']),
    ).toEqual({
      paths: ['a.csv', 'b.csv', 'c.csv'],
      rest: ['--out', 'o', '--weights', '-1'],
    });
    expect(() => takePredictions(['--predictions'])).toThrow('--predictions expects a path');
    expect(() => takePredictions(['--predictions', 'a.csv,'])).toThrow('--predictions expects a path, got an empty string');
  });
});
