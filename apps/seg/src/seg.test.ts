import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNifti } from '@covsev/io';
import { writeCohort } from '@covsev/phantom';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVAL_USAGE, PREDICT_USAGE, seg, TRAIN_USAGE, USAGE } from './seg.js';

let dir: string;
let cohort: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covsev-seg-cli-'));
  cohort = join(dir, 'ctseg');
  await writeCohort({ layout: 'ct-seg', out: cohort, scans: 4, seed: 5, slices: [8, 8], rows: 64, cols: 64 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `pnpm seg` through runCli: the exit status and what it wrote. */
async function run(argv: readonly string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await seg(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out, err };
}

describe('pnpm seg: train, eval, predict end to end', () => {
  it('trains a tiny lung model, scores it in Table 2 layout, and writes masks for a folder of NIfTI scans with it', async () => {
    const runDir = join(dir, 'lung-run');
    const trained = await run([
      '--',
      'train',
      '--task',
      'lung',
      '--cohort',
      cohort,
      '--run',
      runDir,
      '--arch',
      'unet',
      '--width',
      '0.0625',
      '--size',
      '32',
      '--epochs',
      '1',
      '--batch',
      '4',
      '--val-scans',
      '1',
      '--seed',
      '2',
    ]);
    expect(trained.err).toEqual([]);
    expect(trained.code).toBe(0);
    expect(trained.out.some((l) => l.startsWith('train: 1 epoch(s) run; best epoch 1'))).toBe(true);
    expect(existsSync(join(runDir, 'model.json'))).toBe(true);
    expect(existsSync(join(runDir, 'onnx', 'best', 'model.onnx'))).toBe(true);

    const scored = await run(['eval', '--cohort', cohort, '--lung', runDir]);
    expect(scored.err).toEqual([]);
    expect(scored.code).toBe(0);
    expect(scored.out.join('\n')).toMatch(/^eval: 1 held-out scans \(/m);
    const table = scored.out.join('\n');
    expect(table).toMatch(/\| Model \| Encoder\s*\| Lung mIoU \| Lung IoU \| Infection mIoU \| Infection IoU \|/);
    expect(table).toMatch(/\| U-Net \| ResNet-34 \| \d+\.\d\d\s*\| \d+\.\d\d\s*\| -/);

    const out = join(dir, 'masks');
    const predicted = await run(['predict', '--scans', join(cohort, 'ct_scans'), '--out', out, '--lung', runDir]);
    expect(predicted.err).toEqual([]);
    expect(predicted.code).toBe(0);
    const scans = (await readdir(join(cohort, 'ct_scans'))).map((f) => f.replace(/\.nii(\.gz)?$/, '')).sort();
    const written = (await readdir(join(out, 'lung'))).map((f) => f.replace(/\.nii\.gz$/, '')).sort();
    expect(written).toEqual(scans);
    const ct = await readNifti(join(cohort, 'ct_scans', (await readdir(join(cohort, 'ct_scans')))[0] as string));
    const mask = await readNifti(join(out, 'lung', `${scans[0]}.nii.gz`));
    expect(mask.shape).toEqual(ct.shape);
    expect(predicted.out.at(-1)).toMatch(/^predict: 4 segmented, 0 from the cache/);

    // A second call reuses every mask; a lung run given as the lesion model is refused by task.
    const again = await run(['predict', '--scans', join(cohort, 'ct_scans'), '--out', out, '--lung', runDir]);
    expect(again.out.at(-1)).toMatch(/^predict: 0 segmented, 4 from the cache/);
    const wrong = await run(['predict', '--scans', join(cohort, 'ct_scans'), '--out', out, '--lesion', runDir]);
    expect(wrong.code).toBe(2);
    expect(wrong.err.join('\n')).toMatch(/that is a lung model, --lesion needs a lesion model/);
  });

  it('the classical lung mask needs no model', async () => {
    const out = join(dir, 'classical');
    const r = await run(['predict', '--scans', join(cohort, 'ct_scans'), '--out', out]);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out.join('\n')).toMatch(/lung classical \(no weights\); no lesion model/);
    expect((await readdir(join(out, 'overlays'))).length).toBe(4);
  });
});

describe('pnpm seg: usage', () => {
  it('prints each usage on --help with exit 0', async () => {
    for (const [argv, usage] of [
      [['--help'], USAGE],
      [['train', '--help'], TRAIN_USAGE],
      [['eval', '--help'], EVAL_USAGE],
      [['predict', '--help'], PREDICT_USAGE],
    ] as const) {
      const r = await run(argv);
      expect(r.code).toBe(0);
      expect(r.out.join('\n')).toContain(usage.split('\n')[0]);
    }
  });

  it('refuses bad commands and options by name with exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [[], /a command is required/],
      [['fit'], /unknown command "fit"/],
      [['train', '--task', 'lungs', '--cohort', cohort, '--run', dir], /--task/],
      [['train', '--task', 'lung', '--cohort', cohort, '--run', dir, '--arch', 'unet++'], /--arch/],
      [['train', '--task', 'lung', '--cohort', cohort, '--run', dir, '--width', '2'], /--width/],
      [['eval', '--cohort', cohort], /give --lung RUN, --lesion RUN or both/],
      [['predict', '--scans', join(dir, 'nowhere'), '--out', join(dir, 'x')], /nowhere/],
      [['predict', '--scans', join(cohort, 'ct_scans'), '--out', join(dir, 'x'), '--window', 'bone'], /--window/],
    ];
    for (const [argv, message] of cases) {
      const r = await run(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err.join('\n'), argv.join(' ')).toMatch(message);
    }
  });
});
