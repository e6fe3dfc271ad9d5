import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { makeVolume, readPredictionCsv, writeNifti } from '@covsev/io';
import { writeCohort } from '@covsev/phantom';
import { loadCohort, scanFolders } from '@covsev/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAM_USAGE, cmc, PREDICT_USAGE, TRAIN_USAGE, USAGE } from './cmc.js';

let dir: string;
let cohort: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covsev-cmc-cli-'));
  cohort = join(dir, 'cohort');
  await writeCohort({ layout: 'cov19-ct-db', out: cohort, scans: 14, seed: 3, slices: [8, 10], rows: 48, cols: 48 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `pnpm cmc` through runCli: the exit status and what it wrote. */
async function run(argv: readonly string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await cmc(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out, err };
}

describe('pnpm cmc: train, predict, cam end to end', () => {
  it('trains one epoch on a phantom cohort, predicts every test scan from the run folder and draws a CAM', async () => {
    const runDir = join(dir, 'run');
    const trained = await run([
      '--',
      'train',
      '--cohort',
      cohort,
      '--run',
      runDir,
      '--grid',
      '16x32x32',
      '--backbone',
      'resnest-tiny-3d',
      '--epochs',
      '1',
      '--batch',
      '2',
      '--seed',
      '1',
      '--empty-classes',
      'weight-one',
      '--tta',
      '1',
    ]);
    expect(trained.err).toEqual([]);
    expect(trained.code).toBe(0);
    expect(trained.out.some((l) => l.startsWith('train: 1 epoch(s) run'))).toBe(true);
    expect(existsSync(join(runDir, 'runs', 'cmc', 'checkpoints', 'latest.json'))).toBe(true);

    const pred = join(dir, 'pred.csv');
    const predicted = await run(['predict', '--run', runDir, '--scans', join(cohort, 'test'), '--out', pred, '--tta', '1']);
    expect(predicted.err).toEqual([]);
    expect(predicted.code).toBe(0);
    const testScans = (await readdir(join(cohort, 'test'))).sort();
    expect(testScans.length).toBeGreaterThan(0);
    const rows = await readPredictionCsv(pred);
    expect(rows.map((r) => r.name).sort()).toEqual(testScans);
    // The pipeline's own test predictions (same weights, same TTA seed and passes) agree.
    const own = await readPredictionCsv(join(runDir, 'predictions', 'test.csv'));
    for (const row of rows) {
      const same = own.find((r) => r.name === row.name);
      for (let c = 0; c < 4; c++) expect(row.probabilities[c]).toBeCloseTo(same?.probabilities[c] as number, 4);
    }

    const png = join(dir, 'cam.png');
    const drawn = await run([
      'cam',
      '--run',
      runDir,
      '--scan',
      join(cohort, 'test', testScans[0] as string),
      '--out',
      png,
      '--class',
      'Severe',
    ]);
    expect(drawn.err).toEqual([]);
    expect(drawn.code).toBe(0);
    expect(existsSync(png)).toBe(true);
    expect(drawn.out.at(-1)).toMatch(/^cam: .*class Severe; predicted (Mild|Moderate|Severe|Critical), p \d\.\d{3}/);

    // A folder that holds no trained run: exit 2, the file named.
    const noRun = await run(['predict', '--run', join(dir, 'nothing'), '--scans', join(cohort, 'test'), '--out', pred]);
    expect(noRun.code).toBe(2);
    expect(noRun.err[0]).toMatch(/latest\.json: does not exist/);
  }, 600_000);
});

describe('pnpm cmc: the infection-aware variant with masks', () => {
  it('trains infection-cmc from a folder of mask NIfTIs on another grid, and predict / cam ask for the masks', async () => {
    const runDir = join(dir, 'run-masks');
    const masksDir = join(dir, 'masks');
    await mkdir(masksDir, { recursive: true });
    const scans = [
      ...(await scanFolders(join(cohort, 'test'))),
      ...(await loadCohort(cohort)).scans.filter((s) => s.split !== 'test'),
    ];
    for (const s of scans) {
      const data = new Uint8Array(4 * 24 * 24).map((_, i) => (i % 24 < 12 ? 1 : 0));
      await writeNifti(join(masksDir, `${s.name}.nii.gz`), makeVolume({ data, shape: [4, 24, 24], intensity: 'label' }));
    }
    const common = ['--grid', '16x32x32', '--backbone', 'resnest-tiny-3d', '--epochs', '1', '--batch', '2'];
    const trained = await run([
      'train',
      '--cohort',
      cohort,
      '--run',
      runDir,
      '--variant',
      'infection-cmc',
      '--masks',
      masksDir,
      ...common,
      '--empty-classes',
      'weight-one',
      '--tta',
      '0',
    ]);
    expect(trained.err).toEqual([]);
    expect(trained.code).toBe(0);
    const pred = join(dir, 'pred-masks.csv');
    const test = join(cohort, 'test');
    const noMasks = await run(['predict', '--run', runDir, '--scans', test, '--out', pred]);
    expect(noMasks.code).toBe(2);
    expect(noMasks.err[0]).toMatch(
      /--masks DIR is required: the run's classifier \(infection-cmc\) takes \[infection mask, CT\]/,
    );
    const predicted = await run([
      'predict',
      '--run',
      runDir,
      '--scans',
      test,
      '--out',
      pred,
      '--masks',
      masksDir,
      '--tta',
      '0',
      '--engine',
      'tfjs',
    ]);
    expect(predicted.code).toBe(0);
    expect((await readPredictionCsv(pred)).length).toBe((await readdir(test)).length);
    const scan = join(test, (await readdir(test))[0] as string);
    const png = join(dir, 'cam-masks.png');
    const noMask = await run(['cam', '--run', runDir, '--scan', scan, '--out', png]);
    expect(noMask.code).toBe(2);
    expect(noMask.err[0]).toMatch(/--mask NIFTI is required/);
    const drawn = await run([
      'cam',
      '--run',
      runDir,
      '--scan',
      scan,
      '--out',
      png,
      '--mask',
      join(masksDir, `${basename(scan)}.nii.gz`),
    ]);
    expect(drawn.code).toBe(0);
    expect(existsSync(png)).toBe(true);
  }, 600_000);
});

describe('pnpm cmc: bad options', () => {
  const base = ['train', '--cohort', 'c', '--run', 'r'];
  it.each([
    [[...base, '--variant', 'densenet'], /--variant must be one of resnest, mixup, cmc, lung-cmc, infection-cmc, got "densenet"/],
    [[...base, '--grid', '0x1x1'], /--grid must be three positive integers DxHxW, got "0x1x1"/],
    [[...base, '--grid', '16x32'], /--grid expects DxHxW/],
    [['train', '--run', 'r'], /--cohort DIR is required/],
    [[...base, '--variant', 'infection-cmc'], /--variant infection-cmc takes \[infection mask, CT\]: give --masks DIR/],
    [[...base, '--variant', 'lung-cmc'], /--variant lung-cmc takes \[lung mask, CT\]: give --masks DIR/],
    [[...base, '--masks', 'm'], /--masks: --variant cmc takes the CT alone/],
    [[...base, '--epochs', '0'], /--epochs must be a positive integer/],
    [[...base, '--batch', '1'], /--batch must be in 2\.\./],
    [[...base, '--lr', '-1'], /--lr expects a number/],
    [[...base, '--backbone', 'resnest-huge-3d'], /--backbone must be one of/],
    [[...base, '--frobnicate'], /Unknown option '--frobnicate'/],
    [['predict', '--run', 'r', '--scans', 's', '--out', 'p.csv', '--tta', '-1'], /--tta must not be negative/],
    [['predict', '--run', 'r', '--scans', 's', '--out', 'p.csv', '--engine', 'cuda'], /--engine must be one of onnx, tfjs/],
    [
      ['predict', '--run', 'r', '--scans', 's', '--out', 'p.csv', '--checkpoint', 'first'],
      /--checkpoint must be one of latest, best/,
    ],
    [['predict', '--run', 'r', '--out', 'p.csv'], /--scans DIR is required/],
    [
      ['cam', '--run', 'r', '--scan', 's', '--out', 'o.png', '--class', 'Grave'],
      /--class must be one of Mild, Moderate, Severe, Critical/,
    ],
    [['cam', '--run', 'r', '--scan', 's'], /--out PNG is required/],
    [['fit'], /unknown command "fit"/],
    [[], /a command is required/],
  ])('%j: exit 2, the option named', async (argv, message) => {
    const { code, err } = await run(argv);
    expect(code).toBe(2);
    expect(err.join('\n')).toMatch(message);
  });

  it('answers --help on the command and each subcommand with exit 0', async () => {
    for (const [argv, usage] of [
      [['--help'], USAGE],
      [['--', '-h'], USAGE],
      [['train', '--help'], TRAIN_USAGE],
      [['predict', '--help'], PREDICT_USAGE],
      [['cam', '-h'], CAM_USAGE],
    ] as const) {
      const { code, out } = await run(argv);
      expect(code).toBe(0);
      expect(out).toEqual([usage]);
    }
  });
});
