import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CovsevInputError, type PredictionRow, writePredictionCsv } from '@covsev/io';
import { partTablePath } from '@covsev/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MERGE_USAGE, main, USAGE } from './submit.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covsev-submit-merge-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const row = (name: string, category: 1 | 2 | 3 | 4): PredictionRow => {
  const probabilities: [number, number, number, number] = [0.1, 0.1, 0.1, 0.1];
  probabilities[category - 1] = 0.7;
  return { name, category, probabilities };
};

/** Writes part tables of `out`, one per list of names. */
async function writeParts(out: string, parts: string[][]): Promise<void> {
  for (const [k, names] of parts.entries())
    await writePredictionCsv(
      partTablePath(out, k, parts.length),
      names.map((n) => row(n, n === 'ct_scan_10' ? 4 : 2)),
    );
}

describe('pnpm submit -- merge', () => {
  it('joins the parts into one table in scan name order, checked against --test-dir, then submits it', async () => {
    const out = join(dir, 'ok', 'pred.csv');
    await mkdir(join(dir, 'ok'));
    await writeParts(out, [['ct_scan_9', 'ct_scan_10'], ['ct_scan_2']]);
    for (const n of ['ct_scan_2', 'ct_scan_9', 'ct_scan_10']) await mkdir(join(dir, 'test', n), { recursive: true });
    const lines: string[] = [];
    expect(
      await main(['--', 'merge', '--out', out, '--num-parts', '2', '--test-dir', join(dir, 'test')], (l) => lines.push(l)),
    ).toBe(0);
    expect(lines).toEqual([`merge: 2 parts (${partTablePath(out, 0, 2)} .. ${partTablePath(out, 1, 2)}) -> ${out} (3 scans)`]);
    const text = await readFile(out, 'utf8');
    expect(text.split('\n').map((l) => l.split(',')[0])).toEqual(['name', 'ct_scan_2', 'ct_scan_9', 'ct_scan_10', '']);
    expect(text.split('\n')[3]).toBe('ct_scan_10,4,0.100000000,0.100000000,0.100000000,0.700000000');
    const quiet = () => undefined;
    expect(
      await main(['--predictions', out, '--out', join(dir, 'ok', 'sub'), '--test-dir', join(dir, 'test')], quiet, quiet),
    ).toBe(0);
    expect(await readFile(join(dir, 'ok', 'sub', 'critical.csv'), 'utf8')).toBe('ct_scan_10\n');
  });

  it('refuses a missing part, a scan in two parts and a test scan no part predicts, naming the files', async () => {
    const out = join(dir, 'bad.csv');
    await writeParts(out, [['ct_scan_2'], ['ct_scan_9'], ['ct_scan_10']]);
    await rm(partTablePath(out, 1, 3));
    await expect(main(['merge', '--out', out, '--num-parts', '3'])).rejects.toThrow(
      `${partTablePath(out, 1, 3)}: part 1 of 3 is missing`,
    );
    await writeParts(out, [['ct_scan_2'], ['ct_scan_9']]);
    await expect(main(['merge', '--out', out, '--num-parts', '2', '--test-dir', join(dir, 'test')])).rejects.toThrow(
      `${join(dir, 'test')}: 1 scan(s) have no prediction in the 2 parts: ct_scan_10`,
    );
    await writeParts(out, [['ct_scan_2', 'ct_scan_9'], ['ct_scan_9']]);
    const error = await main(['merge', '--out', out, '--num-parts', '2']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CovsevInputError);
    expect((error as Error).message).toBe(
      `${partTablePath(out, 1, 2)}: scan "ct_scan_9" is also predicted in ${partTablePath(out, 0, 2)}`,
    );
  });

  it.each([
    [['merge', '--num-parts', '2'], /--out PRED\.csv is required/],
    [['merge', '--out', 'p.csv'], /--num-parts N is required/],
    [['merge', '--out', 'p.csv', '--num-parts', '0'], /--num-parts must be a positive integer/],
    [['merge', '--out', 'p.csv', '--num-parts', '2', '--predictions', 'x.csv'], /Unknown option '--predictions'/],
  ])('%j: a usage error naming the option', async (argv, message) => {
    await expect(main(argv)).rejects.toThrow(message);
  });

  it('answers merge --help with its usage', async () => {
    await expect(main(['--', 'merge', '--help'])).rejects.toMatchObject({ name: 'HelpRequested', usage: MERGE_USAGE });
    expect(USAGE).toContain('pnpm submit -- merge --out PRED.csv --num-parts N [--test-dir DIR]');
  });
});
