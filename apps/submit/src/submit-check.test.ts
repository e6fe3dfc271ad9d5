import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '@covsev/cli';
import { writePredictionCsv } from '@covsev/io';
import { describe, expect, it } from 'vitest';
import { main } from './submit.js';

const SCANS = ['ct_scan_1', 'ct_scan_2', 'ct_scan_3', 'ct_scan_4'];

/** A submission written by `pnpm submit` itself, and the test folder it was checked against. */
async function submission(
  layout: 'one-per-line' | 'one-row' = 'one-per-line',
): Promise<{ dir: string; out: string; test: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'covsev-submit-check-'));
  const predictions = join(dir, 'pred.csv');
  await writePredictionCsv(predictions, [
    { name: 'ct_scan_1', category: 1, probabilities: [0.7, 0.1, 0.1, 0.1] },
    { name: 'ct_scan_2', category: 2, probabilities: [0.1, 0.7, 0.1, 0.1] },
    { name: 'ct_scan_3', category: 3, probabilities: [0.1, 0.1, 0.7, 0.1] },
    { name: 'ct_scan_4', category: 3, probabilities: [0.1, 0.1, 0.7, 0.1] },
  ]);
  const test = join(dir, 'test');
  for (const n of SCANS) await mkdir(join(test, n), { recursive: true });
  const out = join(dir, 'out');
  expect(
    await main(
      ['--predictions', predictions, '--out', out, '--layout', layout, '--test-dir', test],
      () => undefined,
      () => undefined,
    ),
  ).toBe(0);
  return { dir, out, test };
}

async function check(...args: string[]): Promise<{ status: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const status = await main(
    ['--check', ...args],
    (l) => out.push(l),
    (l) => err.push(l),
  );
  return { status, out, err };
}

describe('pnpm submit --check', () => {
  it('passes a good folder with a count summary and "ok", against the test folder and the layout', async () => {
    const { out, test } = await submission();
    expect(await check(out, '--test-dir', test, '--layout', 'one-per-line')).toEqual({
      status: 0,
      out: [
        `check: ${out}: 4 scans (mild 1, moderate 1, severe 2, critical 0); every scan folder of ${test} (4) listed once`,
        'ok',
      ],
      err: ['check: warning: no scan is graded critical (critical.csv is empty)'],
    });
    expect((await check(out)).out).toEqual([`check: ${out}: 4 scans (mild 1, moderate 1, severe 2, critical 0)`, 'ok']);
    const row = await submission('one-row');
    expect((await check(row.out, '--layout', 'one-row')).status).toBe(0);
    expect(await check(row.out, '--layout', 'one-per-line')).toEqual({
      status: 2,
      out: [],
      err: [
        `${join(row.out, 'severe.csv')}:1: 2 names on one line (layout one-per-line: one name per line)`,
        `check: ${row.out}: 1 problem`,
      ],
    });
  });

  it('lists a scan in two files, a duplicate, a missing file and a scan missing against --test-dir, with exit status 2', async () => {
    const { out, test } = await submission();
    await writeFile(join(out, 'mild.csv'), 'ct_scan_1\nct_scan_3\nct_scan_1\n');
    await rm(join(out, 'moderate.csv'));
    expect(await check(out, '--test-dir', test)).toEqual({
      status: 2,
      out: [],
      err: [
        `${join(out, 'mild.csv')}:3: scan "ct_scan_1" is listed twice (first on line 1)`,
        `${join(out, 'moderate.csv')}: missing class file`,
        `${join(out, 'severe.csv')}:1: scan "ct_scan_3" is also listed in mild.csv:2`,
        `${out}: test scan "ct_scan_2" (${test}) is in no class file`,
        `check: ${out}: 4 problems`,
      ],
    });
  });

  it('lists scans missing from or foreign to the test folder', async () => {
    const { out, test } = await submission();
    await mkdir(join(test, 'ct_scan_5'));
    await rm(join(test, 'ct_scan_4'), { recursive: true });
    expect(await check(out, '--test-dir', test)).toEqual({
      status: 2,
      out: [],
      err: [
        `${join(out, 'severe.csv')}:2: scan "ct_scan_4" is not a test scan (not in ${test})`,
        `${out}: test scan "ct_scan_5" (${test}) is in no class file`,
        `check: ${out}: 2 problems`,
      ],
    });
  });

  it('refuses write options with --check, naming them', async () => {
    await expect(main(['--check', 'x', '--out', 'y'])).rejects.toThrow(UsageError);
    await expect(main(['--check', 'x', '--out', 'y'])).rejects.toThrow(
      '--check reads an existing submission: --out does not go with it',
    );
    await expect(main(['--check', 'x', '--predictions', 'p.csv'])).rejects.toThrow('--predictions does not go with it');
    await expect(main(['--check', 'x', '--ensemble', 'vote'])).rejects.toThrow('--ensemble does not go with it');
  });
});
