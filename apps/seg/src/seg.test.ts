import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, sha256Hex, torchStateDict, writeSafetensors } from '@covsev/engine';
import { Rng, readNifti } from '@covsev/io';
import { writeCohort } from '@covsev/phantom';
import { getEncoder } from '@covsev/segment';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVAL_USAGE, INSPECT_USAGE, PREDICT_USAGE, seg, TRAIN_USAGE, USAGE } from './seg.js';

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
      [['inspect', '--help'], INSPECT_USAGE],
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
      [
        ['train', '--task', 'lung', '--cohort', cohort, '--run', dir, '--init', 'resnet34.pth'],
        /--init expects a .safetensors file/,
      ],
      [
        ['train', '--task', 'lung', '--cohort', cohort, '--run', dir, '--init', 'w.safetensors', '--init-sha256', 'abc'],
        /--init-sha256 expects a SHA-256/,
      ],
      [['train', '--task', 'lung', '--cohort', cohort, '--run', dir, '--partial'], /--partial goes with --init FILE/],
      [
        ['train', '--task', 'lung', '--cohort', cohort, '--run', dir, '--init', 'w.safetensors', '--stem-init', 'rgb'],
        /--stem-init must be one of random, mean/,
      ],
      [['inspect'], /inspect takes one FILE.safetensors, got none/],
      [['inspect', 'a.safetensors', '--encoder', 'vgg16'], /--encoder/],
      [['inspect', join(dir, 'absent.safetensors')], /absent.safetensors/],
    ];
    for (const [argv, message] of cases) {
      const r = await run(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err.join('\n'), argv.join(' ')).toMatch(message);
    }
  });
});

describe('pnpm seg: ImageNet weights (--init, inspect)', () => {
  beforeAll(async () => {
    await initBackend({ prefer: 'wasm', log: () => {} });
  });

  /** A torchvision-named ResNet-34 checkpoint at width 1/16 (covsev's encoder names are torchvision's), with its head. */
  async function checkpoint(path: string, withHead = true): Promise<string> {
    const encoder = getEncoder('resnet34', { inChannels: 1, width: 0.0625, rng: Rng.fromSeed(3) });
    const tensors = [...torchStateDict(encoder)].map(([name, t]) => ({ name, shape: t.shape, data: t.data }));
    if (withHead) tensors.push({ name: 'fc.weight', shape: [10, 32], data: new Float32Array(320) });
    await writeSafetensors(path, tensors);
    return path;
  }

  it('inspect lists each tensor and its encoder layer and says a strict load would succeed; a misfit exits 1', async () => {
    const file = await checkpoint(join(dir, 'resnet34-tiny.safetensors'));
    const r = await run(['inspect', file, '--encoder', 'resnet34', '--width', '0.0625']);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out[0]).toMatch(/resnet34-tiny.safetensors: \d+ tensors, sha256 [0-9a-f]{64}, map torchvision-resnet34, into /);
    expect(r.out).toContainEqual(
      expect.stringMatching(/^ {2}layer1\.0\.conv1\.weight +F32 +\[\d+, \d+, 3, 3\] +-> layer1\.0\.conv1\.weight$/),
    );
    expect(r.out).toContainEqual(expect.stringMatching(/^ {2}fc\.weight +F32 +\[10, 32\] +dropped$/));
    expect(r.out.at(-1)).toMatch(/^strict load into .*: would succeed, \d+ tensors$/);

    // The same file against the full-width encoder: every kernel has the wrong shape.
    const wide = await run(['inspect', file, '--encoder', 'resnet34']);
    expect(wide.code).toBe(1);
    expect(wide.out.join('\n')).toMatch(/would fail \(\d+ faults; --partial loads the \d+ that fit\)/);
    expect(wide.out.join('\n')).toMatch(/wrong shape: layer1\.0\.conv1\.weight: file \[4, 4, 3, 3\], model \[64, 64, 3, 3\]/);
  });

  it('train --init loads the file, says its SHA-256; a wrong --init-sha256 stops before training', async () => {
    const file = await checkpoint(join(dir, 'resnet34-init.safetensors'));
    const sha256 = sha256Hex(await readFile(file));
    const base = ['train', '--task', 'lung', '--cohort', cohort, '--arch', 'unet', '--width', '0.0625', '--size', '32'];
    const more = ['--epochs', '1', '--batch', '4', '--val-scans', '1', '--slices-per-epoch', '4', '--init', file];
    const runDir = join(dir, 'init-run');
    const trained = await run([...base, '--run', runDir, ...more, '--init-sha256', sha256]);
    expect(trained.err).toEqual([]);
    expect(trained.code).toBe(0);
    expect(trained.out).toContain(`   init: ${file} (torchvision-resnet34), sha256 ${sha256}`);
    const refusedDir = join(dir, 'init-refused');
    const refused = await run([...base, '--run', refusedDir, ...more, '--init-sha256', 'f'.repeat(64)]);
    expect(refused.code).toBe(2);
    expect(refused.err.join('\n')).toContain(`${file}: SHA-256 mismatch: the file is ${sha256}, the run pins ${'f'.repeat(64)}`);
    expect(existsSync(join(refusedDir, 'checkpoints'))).toBe(false);
  });
});
