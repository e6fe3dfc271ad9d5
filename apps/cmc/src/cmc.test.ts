import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createResNeSt3d, resnestSourceKey } from '@covsev/cmc';
import { disposeModule, initBackend, sha256Hex, torchStateDict, writeSafetensors } from '@covsev/engine';
import { makeVolume, Rng, readPredictionCsv, writeNifti } from '@covsev/io';
import { writeCohort } from '@covsev/phantom';
import { loadCohort, mergePredictionParts, partTablePath, scanFolders } from '@covsev/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAM_USAGE, cmc, INSPECT_USAGE, PREDICT_USAGE, TRAIN_USAGE, USAGE } from './cmc.js';

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

/** The training options of every run here: a tiny network, one epoch, on the 16x32x32 grid. */
const TINY_TRAINING = ['--grid', '16x32x32', '--backbone', 'resnest-tiny-3d', '--epochs', '1', '--batch', '2'];

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
      ...TINY_TRAINING,
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
    const camOf = (extra: string[]) =>
      run(['cam', '--run', runDir, '--scan', join(cohort, 'test', testScans[0] as string), '--out', png, ...extra]);
    const drawn = await camOf(['--class', 'Severe']);
    expect(drawn.err).toEqual([]);
    expect(drawn.code).toBe(0);
    expect(existsSync(png)).toBe(true);
    expect(drawn.out.at(-1)).toMatch(
      /^cam: .*\(CAM, layer 4, grid \d+x\d+x\d+; class Severe; predicted (Mild|Moderate|Severe|Critical), p \d\.\d{3}/,
    );
    const fine = await camOf(['--layer', '2']);
    expect(fine.code).toBe(0);
    expect(fine.out.at(-1)).toMatch(/\(Grad-CAM, layer 2, grid \d+x\d+x\d+; class /);

    // A folder that holds no trained run: exit 2, the file named.
    const noRun = await run(['predict', '--run', join(dir, 'nothing'), '--scans', join(cohort, 'test'), '--out', pred]);
    expect(noRun.code).toBe(2);
    expect(noRun.err[0]).toMatch(/latest\.json: does not exist/);
  }, 600_000);
});

describe('pnpm cmc: predict in parts (--num-parts, --part-id, or a Slurm array task)', () => {
  const shardVars = ['SLURM_ARRAY_TASK_ID', 'SLURM_ARRAY_TASK_MIN', 'SLURM_ARRAY_TASK_COUNT', 'JOB_COMPLETION_INDEX'];
  const saved = Object.fromEntries(shardVars.map((v) => [v, process.env[v]]));
  const setEnv = (values: Record<string, string | undefined>) => {
    for (const v of shardVars) {
      const value = values[v];
      if (value === undefined) delete process.env[v];
      else process.env[v] = value;
    }
  };
  afterAll(() => setEnv(saved));

  it('predicts each part of the run above into PRED.part-K-of-N.csv; merged, they are the unsharded table byte for byte', async () => {
    // The run and the unsharded table of the end-to-end test above (tests run in order).
    const runDir = join(dir, 'run');
    const whole = join(dir, 'pred.csv');
    expect(existsSync(whole)).toBe(true);
    const test = join(cohort, 'test');
    const out = join(dir, 'sharded', 'pred.csv');
    const common = ['predict', '--run', runDir, '--scans', test, '--out', out, '--tta', '1'];
    setEnv({});
    const first = await run([...common, '--num-parts', '3', '--part-id', '0']);
    expect(first.err).toEqual([]);
    expect(first.code).toBe(0);
    expect(first.out.some((l) => /^predict: part 0 of 3: \d+ of \d+ scans$/.test(l))).toBe(true);
    // Part 1 from a Kubernetes index with --num-parts; part 2 from a Slurm array task with TASK_MIN 1.
    setEnv({ JOB_COMPLETION_INDEX: '1' });
    expect((await run([...common, '--num-parts', '3'])).code).toBe(0);
    setEnv({ SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_COUNT: '3' });
    const last = await run(common);
    expect(last.err).toEqual([]);
    expect(last.out.at(-1)).toContain(partTablePath(out, 2, 3));
    setEnv({});
    expect(existsSync(`${partTablePath(out, 2, 3)}.partial.csv`)).toBe(false);
    await mergePredictionParts(out, { numParts: 3, expectedScans: await readdir(test) });
    expect(await readFile(out, 'utf8')).toBe(await readFile(whole, 'utf8'));
  }, 600_000);

  it.each([
    [{}, ['--part-id', '1'], /--num-parts N is required with a part id \(--part-id 1\)/],
    [{ JOB_COMPLETION_INDEX: '2' }, [], /--num-parts N is required with a part id \(JOB_COMPLETION_INDEX 2\)/],
    [{}, ['--num-parts', '2'], /--part-id K is required with --num-parts 2/],
    [{}, ['--num-parts', '2', '--part-id', '2'], /--part-id 2 must be below --num-parts 2/],
    [{}, ['--num-parts', '0', '--part-id', '0'], /--num-parts must be a positive integer/],
    [{ SLURM_ARRAY_TASK_ID: 'x' }, [], /--part-id \(from the environment\): SLURM_ARRAY_TASK_ID must be a non-negative integer/],
  ])('env %j, %j: exit 2, the option named', async (env, extra, message) => {
    setEnv(env);
    try {
      const { code, err } = await run(['predict', '--run', 'r', '--scans', 's', '--out', 'p.csv', ...extra]);
      expect(code).toBe(2);
      expect(err.join('\n')).toMatch(message);
    } finally {
      setEnv({});
    }
  });
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
      ...TINY_TRAINING,
      '--empty-classes',
      'weight-one',
      '--tta',
      '0',
      '--ce',
      'weighted-mean',
      '--precise-bn',
      'on',
    ]);
    expect(trained.err).toEqual([]);
    expect(trained.code).toBe(0);
    // The run config stores the non-default CE reduction and batch-norm choice (a resume compares them).
    const start = JSON.parse((await readFile(join(runDir, 'runs', 'cmc', 'events.jsonl'), 'utf8')).split('\n')[0] as string);
    expect(start.config).toMatchObject({ ceReduction: 'weighted-mean', preciseBatchNorm: true });
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
    [['cam', '--run', 'r', '--scan', 's', '--out', 'o.png', '--layer', '5'], /--layer must be in 1\.\.4, got 5/],
    [
      ['cam', '--run', 'r', '--scan', 's', '--out', 'o.png', '--class', 'Grave'],
      /--class must be one of Mild, Moderate, Severe, Critical/,
    ],
    [['cam', '--run', 'r', '--scan', 's'], /--out PNG is required/],
    [[...base, '--init', 'resnest50.pth'], /--init expects a .safetensors file/],
    [[...base, '--init', 'w.safetensors', '--init-sha256', 'xyz'], /--init-sha256 expects a SHA-256/],
    [[...base, '--stem-init', 'mean'], /--stem-init goes with --init FILE/],
    [[...base, '--init', 'w.safetensors', '--stem-init', 'rgb'], /--stem-init must be one of random, mean/],
    [['inspect'], /inspect takes one FILE.safetensors, got none/],
    [['inspect', 'w.safetensors', '--in-channels', '3'], /--in-channels must be in 1\.\.2/],
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
      [['inspect', '--help'], INSPECT_USAGE],
    ] as const) {
      const { code, out } = await run(argv);
      expect(code).toBe(0);
      expect(out).toEqual([usage]);
    }
  });
});

describe('pnpm cmc: ImageNet weights (--init, inspect)', () => {
  /** resnest-tiny-3d's backbone (seed 4) in the ResNeSt release's names and 2D kernels, with its ImageNet head. */
  async function checkpoint(path: string): Promise<string> {
    await initBackend({ prefer: 'wasm', log: () => {} });
    const backbone = createResNeSt3d('resnest-tiny-3d', 1, Rng.fromSeed(4));
    const tensors = [...torchStateDict(backbone)].map(([name, t]) => ({
      name: resnestSourceKey(name),
      shape: t.shape,
      data: t.data,
    }));
    disposeModule(backbone);
    tensors.push({ name: 'fc.weight', shape: [1000, 8], data: new Float32Array(8000) });
    await writeSafetensors(path, tensors);
    return path;
  }

  it('inspect lists each tensor and its 3D ResNeSt layer; a strict load fits resnest-tiny-3d, not resnest50-3d (exit 1)', async () => {
    const file = await checkpoint(join(dir, 'resnest-tiny.safetensors'));
    const r = await run(['inspect', file, '--backbone', 'resnest-tiny-3d']);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out[0]).toMatch(/resnest-tiny.safetensors: \d+ tensors, sha256 [0-9a-f]{64}, map resnest50, into /);
    expect(r.out).toContainEqual(expect.stringMatching(/^ {2}conv1\.0\.weight +F32 +\[\d+, 1, 7, 7\] +-> stem\.0\.weight$/));
    expect(r.out).toContainEqual(
      expect.stringMatching(
        /^ {2}layer1\.0\.downsample\.1\.weight +F32 +\[\d+, \d+, 1, 1\] +-> layers\.0\.0\.downsample\.0\.weight$/,
      ),
    );
    expect(r.out).toContainEqual(expect.stringMatching(/^ {2}fc\.weight +F32 +\[1000, 8\] +dropped$/));
    expect(r.out.at(-1)).toMatch(/^strict load into .*: would succeed, \d+ tensors$/);
    const two = await run(['inspect', file, '--backbone', 'resnest-tiny-3d', '--in-channels', '2']);
    expect(two.code).toBe(0);
    expect(two.out.join('\n')).toMatch(/conv1\.0\.weight .* -> stem\.0\.weight \(stem kept\)/);
    expect(two.out.at(-1)).toMatch(/would succeed, \d+ tensors \(stem: random\)$/);
    const wide = await run(['inspect', file]);
    expect(wide.code).toBe(1);
    expect(wide.out.join('\n')).toMatch(/would fail \(\d+ faults/);
  });

  it('train --init: the backbone from the file, its SHA-256 said at run start; a wrong --init-sha256 stops before training', async () => {
    const file = await checkpoint(join(dir, 'resnest-init.safetensors'));
    const sha256 = sha256Hex(await readFile(file));
    const args = (runDir: string) => [
      'train',
      '--cohort',
      cohort,
      '--run',
      runDir,
      ...TINY_TRAINING,
      '--empty-classes',
      'weight-one',
      '--tta',
      '0',
      '--engine',
      'tfjs',
      '--init',
      file,
    ];
    const runDir = join(dir, 'init-run');
    const trained = await run([...args(runDir), '--init-sha256', `sha256:${sha256}`]);
    expect(trained.err).toEqual([]);
    expect(trained.code).toBe(0);
    expect(trained.out).toContain(`   init: ${file} (resnest50), sha256 ${sha256}`);
    const start = JSON.parse((await readFile(join(runDir, 'runs', 'cmc', 'events.jsonl'), 'utf8')).split('\n')[0] as string);
    expect(start.config.init).toEqual({ sha256, map: 'resnest50' });

    const refusedDir = join(dir, 'init-refused');
    const refused = await run([...args(refusedDir), '--init-sha256', '0'.repeat(64)]);
    expect(refused.code).toBe(2);
    expect(refused.err.join('\n')).toContain(`${file}: SHA-256 mismatch: the file is ${sha256}, the run pins ${'0'.repeat(64)}`);
    expect(existsSync(join(refusedDir, 'runs', 'cmc', 'checkpoints'))).toBe(false);
  });
});
