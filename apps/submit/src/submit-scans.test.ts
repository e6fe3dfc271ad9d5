import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '@covsev/cli';
import { writeCohort } from '@covsev/phantom';
import { classifyCohort, runFolder } from '@covsev/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from './submit.js';

let dir: string;
let cohort: string;
let run: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covsev-submit-scans-'));
  cohort = join(dir, 'cohort');
  run = join(dir, 'run');
  await writeCohort({ layout: 'cov19-ct-db', out: cohort, scans: 10, seed: 4, slices: [8, 10], rows: 48, cols: 48 });
  // A trained run: plain CMC, one epoch, its test split predicted with 2 TTA passes.
  await classifyCohort({
    cohort,
    run,
    grid: [16, 32, 32],
    training: { network: { backbone: 'resnest-tiny-3d' }, epochs: 1, batchSize: 2, seed: 1, emptyClasses: 'weight-one' },
    tta: { passes: 2, seed: 0 },
  });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('pnpm submit -- --scans TEST_DIR --run RUN_DIR --out DIR', () => {
  it("grades a test folder with the run's classifier and its TTA: the run's own submission, byte for byte", async () => {
    const out = join(dir, 'submission');
    const lines: string[] = [];
    const warnings: string[] = [];
    const code = await main(
      ['--', '--scans', join(cohort, 'test'), '--run', run, '--out', out],
      (l) => lines.push(l),
      (l) => warnings.push(l),
    );
    expect(code).toBe(0);
    for (const file of ['mild.csv', 'moderate.csv', 'severe.csv', 'critical.csv', 'predictions.csv'])
      expect(await readFile(join(out, file), 'utf8')).toBe(await readFile(join(runFolder(run).submission, file), 'utf8'));
    expect(lines.at(-1)).toMatch(new RegExp(`^submit: \\d+ scans of ${join(cohort, 'test')} graded with ${run} -> `));
    expect(lines).toContain(`submit: cmc: ${join(run, 'graded', 'test', 'predictions', 'cmc', 'test.csv')}`);
    // --tta 0 (the plain pass) gives other probabilities: the option reaches the predictions.
    const plain = join(dir, 'plain');
    await main(
      ['--scans', join(cohort, 'test'), '--run', run, '--out', plain, '--tta', '0', '--work', join(dir, 'work')],
      () => {},
      () => {},
    );
    expect(await readFile(join(plain, 'predictions.csv'), 'utf8')).not.toBe(await readFile(join(out, 'predictions.csv'), 'utf8'));
  });

  it('refuses a half-given or mixed command line, naming the options', async () => {
    const quiet = () => {};
    await expect(main(['--scans', join(cohort, 'test'), '--out', join(dir, 'x')], quiet, quiet)).rejects.toThrow(UsageError);
    await expect(main(['--scans', join(cohort, 'test'), '--out', join(dir, 'x')], quiet, quiet)).rejects.toThrow(
      /give --scans, --run and --out/,
    );
    await expect(
      main(['--scans', join(cohort, 'test'), '--run', run, '--out', join(dir, 'x'), '--predictions', 'a.csv'], quiet, quiet),
    ).rejects.toThrow(/--predictions does not go with it/);
    await expect(main(['--tta', '2', '--predictions', 'a.csv', '--out', join(dir, 'x')], quiet, quiet)).rejects.toThrow(
      /--tta grades scans with a trained run/,
    );
  });
});
