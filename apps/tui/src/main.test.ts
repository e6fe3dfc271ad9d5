import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '@covsev/cli';
import { afterEach, describe, expect, it } from 'vitest';
import { sendControl } from './control.js';
import { classifierRun, failedRun, jsonl } from './events.fixture.js';
import { main } from './main.js';
import { startInProcess } from './train/in-process.fixture.js';
import type { TrainRequest } from './train/protocol.js';
import type { TrainChild } from './train/start.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

async function cli(argv: string[], deps: Parameters<typeof main>[1] = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(
    'tui',
    (a) => main(a, { print: (l) => out.push(l), printError: (l) => err.push(l), interactive: false, ...deps }),
    {
      argv,
      streams: { out: (t) => out.push(t), err: (t) => err.push(t) },
      exit: () => {},
    },
  );
  return { code, out, err };
}

describe('pnpm tui', () => {
  it('train seg: the request for the child, with CPU-sized defaults and a phantom cohort in <run>/cohort', async () => {
    dir = await mkdtemp(join(tmpdir(), 'covsev-tui-seg-args-'));
    const requests: TrainRequest[] = [];
    const start = (request: TrainRequest): TrainChild => {
      requests.push(request);
      return { subscribe: () => () => {}, exited: Promise.resolve({ code: 0 }), kill: () => {} };
    };
    const defaults = await cli(['--', 'train', 'seg', '--task', 'lung', '--phantom', '4'], { cwd: dir, env: {}, start });
    expect(defaults.err).toEqual([]);
    expect(defaults.code).toBe(0);
    const first = requests[0];
    if (first?.model !== 'seg') throw new Error('expected a segmentation request');
    expect(first.phantom).toBe(4);
    expect(first.seg.run).toMatch(new RegExp(`^${dir}/runs/seg-lung-\\d{8}-\\d{6}$`));
    expect(first.seg).toEqual({
      cohort: `${first.seg.run}/cohort`,
      run: first.seg.run,
      task: 'lung',
      arch: 'unet',
      encoder: 'resnet34',
      width: 0.0625,
      size: 64,
      epochs: 3,
      batch: 8,
      lr: 0.1,
      seed: 0,
    });
    expect(defaults.out[0]).toBe(`training in ${first.seg.run} (a child process); events: ${first.seg.run}/events.jsonl`);

    const given = await cli(
      [
        'train',
        'segmentation',
        '--task',
        'lesion',
        '--cohort',
        'data/ct-seg',
        '--run',
        'runs/l',
        '--arch',
        'deeplabv3',
        '--encoder',
        'densenet121',
        '--width',
        '0.125',
        '--size',
        '40',
        '--epochs',
        '2',
        '--batch',
        '4',
        '--lr',
        '0.01',
        '--seed',
        '3',
      ],
      { start },
    );
    expect(given.err).toEqual([]);
    expect(requests[1]).toEqual({
      model: 'seg',
      seg: {
        cohort: 'data/ct-seg',
        run: 'runs/l',
        task: 'lesion',
        arch: 'deeplabv3',
        encoder: 'densenet121',
        width: 0.125,
        size: 40,
        epochs: 2,
        batch: 4,
        lr: 0.01,
        seed: 3,
      },
    });
  });

  it('train seg refuses a bad or missing task, both or neither cohort option, and options it cannot train with (exit 2, nothing started)', async () => {
    let started = 0;
    const start = (): TrainChild => {
      started++;
      return { subscribe: () => () => {}, exited: Promise.resolve({ code: 0 }), kill: () => {} };
    };
    const refused = async (argv: string[], message: string) => {
      const { code, err } = await cli(argv, { start });
      expect(code, argv.join(' ')).toBe(2);
      expect(err[0], argv.join(' ')).toContain(message);
    };
    await refused(['train', 'seg', '--phantom', '4'], 'train seg needs --task lung (M1, raw slices) or --task lesion');
    await refused(['train', 'seg', '--task', 'liver', '--phantom', '4'], '--task must be one of lung, lesion, got "liver"');
    await refused(
      ['train', 'seg', '--task', 'lung'],
      'train seg needs one of --cohort DIR (a COVID-19-CT-Seg folder) or --phantom N',
    );
    await refused(
      ['train', 'seg', '--task', 'lung', '--cohort', 'x', '--phantom', '4'],
      'train seg needs one of --cohort DIR (a COVID-19-CT-Seg folder) or --phantom N',
    );
    await refused(
      ['train', 'seg', '--task', 'lung', '--phantom', '4', '--size', '48'],
      '--size 48: unet needs a slice size that divides by 32',
    );
    await refused(
      ['train', 'seg', '--task', 'lung', '--phantom', '4', '--batch', '1'],
      '--batch must be at least 2 for train seg',
    );
    await refused(['train', 'seg', '--task', 'lung', '--phantom', '4', '--width', '0'], '--width must be in (0, 1], got 0');
    await refused(
      ['train', 'seg', '--task', 'lung', '--phantom', '4', '--arch', 'segnet'],
      '--arch must be one of unet, unetplusplus',
    );
    await refused(['train', 'seg', '--task', 'lung', '--phantom', '4', '--encoder', 'vgg'], '--encoder must be one of resnet34');
    await refused(
      ['train', 'seg', '--task', 'lung', '--phantom', '4', '--grid', '8x32x32'],
      '--grid belongs to "train cmc", not "train seg"',
    );
    await refused(['train', 'cmc', '--phantom', '4', '--task', 'lung'], '--task belongs to "train seg", not "train cmc"');
    await refused(['follow', 'x', '--arch', 'unet'], '--arch belongs to "train seg"');
    await refused(['train', 'gan'], 'train needs a model: train cmc (the classifier) or train seg (segmentation) (got "gan")');
    expect(started).toBe(0);
  });

  it('train seg --phantom 4 --plain end to end: a phantom cohort, a tiny lung model, its epoch with val IoU, model.json and a checkpoint', async () => {
    dir = await mkdtemp(join(tmpdir(), 'covsev-tui-seg-run-'));
    const run = join(dir, 'run');
    const { code, out, err } = await cli(
      [
        '--',
        'train',
        'seg',
        '--task',
        'lung',
        '--phantom',
        '4',
        '--run',
        run,
        '--size',
        '32',
        '--width',
        '0.0625',
        '--epochs',
        '1',
        '--batch',
        '4',
        '--seed',
        '1',
        '--plain',
        '--every',
        '2',
      ],
      { start: startInProcess },
    );
    expect(err).toEqual([]);
    expect(code).toBe(0);
    expect(out[0]).toBe(`training in ${run} (a child process); events: ${run}/events.jsonl`);
    expect(out).toContain(`phantom cohort: scan 4/4 written to ${run}/cohort`);
    expect(out).toContainEqual(
      expect.stringMatching(
        /^run-start: unet \/ resnet34 \(width 0\.0625\), lung \(segmentation\), backend \S+, 1 epochs x \d+ steps, seed 1$/,
      ),
    );
    // lr 0.1 by default, x0.1 from epoch round(0.3 * 1) = 0 of a one-epoch run (the method's step schedule).
    expect(out).toContainEqual(expect.stringMatching(/^epoch 1\/1 step 2\/\d+: dice \d\.\d+, lr 0\.01, [\d.]+ slices\/s$/));
    const epoch = out.find((l) => l.startsWith('epoch 1/1: '));
    expect(epoch).toMatch(/^epoch 1\/1: loss \d\.\d+, valIoU \d(\.\d+)?, valMIoU \d(\.\d+)?, valDice \d(\.\d+)? \(best\), /);
    expect(out).toContainEqual(
      expect.stringMatching(/^run finished: 1 epochs, \d+ steps in .*; best valIoU \d(\.\d+)? at epoch 1$/),
    );
    // The child's result comes after the run's last lines.
    expect(out.at(-1)).toMatch(/^done: unet \/ resnet34 \(width 0\.0625\), lung, best val IoU \d\.\d{3} \(epoch 1\)/);
    const card = JSON.parse(await readFile(join(run, 'model.json'), 'utf8'));
    expect(card.task).toBe('lung');
    expect(card.input.size).toEqual([32, 32]);
    expect(await readdir(join(run, 'checkpoints'))).toEqual(expect.arrayContaining(['epoch-1', 'best']));
    expect(existsSync(join(run, 'cohort', 'ct_scans'))).toBe(true);
  });

  it('train seg obeys the control channel the dashboard writes to (c: checkpoint, q: stop), and the same command resumes', async () => {
    dir = await mkdtemp(join(tmpdir(), 'covsev-tui-seg-control-'));
    const run = join(dir, 'run');
    const argv = ['train', 'seg', '--task', 'lung', '--phantom', '4', '--run', run, '--size', '32', '--epochs', '6'];
    const out: string[] = [];
    const sent: string[] = [];
    const print = (line: string): void => {
      out.push(line);
      // What the keys do (App.tsx): c, then q once the checkpoint is answered.
      if (sent.length === 0 && /^epoch 1\/6 step /.test(line)) {
        sent.push('checkpoint');
        void sendControl(run, 'checkpoint');
      } else if (sent.length === 1 && line.startsWith('control checkpoint: ')) {
        sent.push('stop');
        void sendControl(run, 'stop');
      }
    };
    const stopped = await cli([...argv, '--plain', '--every', '1', '--batch', '4'], { start: startInProcess, print });
    expect(stopped.err).toEqual([]);
    expect(stopped.code).toBe(0);
    expect(sent).toEqual(['checkpoint', 'stop']);
    expect(out).toContainEqual(expect.stringMatching(/^control checkpoint: done \(.*\) -> .*checkpoints/));
    expect(out).toContainEqual(expect.stringMatching(/^control stop: done \(stopped at (the end of )?epoch [1-5]\b/));
    expect(out).toContainEqual(expect.stringMatching(/^run stopped: /));
    expect(out.at(-1)).toBe('stopped with a checkpoint (unet / resnet34 (width 0.0625), lung): the same command resumes it');

    const resumed = await cli([...argv, '--plain', '--every', '100', '--batch', '4'], { start: startInProcess });
    expect(resumed.err).toEqual([]);
    expect(resumed.code).toBe(0);
    expect(resumed.out).toContain(`phantom cohort: 4 scans already in ${run}/cohort, reused`);
    expect(resumed.out).toContainEqual(expect.stringMatching(/^run-start: .*, resumed from /));
    expect(resumed.out).toContainEqual(expect.stringMatching(/^run finished: 6 epochs, /));
  });

  it('refuses bad train options and misplaced ones with usage errors', async () => {
    expect((await cli(['train', 'cmc'])).err[0]).toContain('needs one of --cohort DIR');
    expect((await cli(['train', 'cmc', '--phantom', '8', '--grid', '16x64'])).err[0]).toContain('--grid expects DxHxW');
    expect((await cli(['train', 'cmc', '--phantom', '8', '--backbone', 'nope', '--run', '/tmp/x'])).err[0]).toContain(
      'network.backbone',
    );
    expect((await cli(['follow', 'x', '--epochs', '2'])).err[0]).toContain('--epochs belongs to "train cmc" and "train seg"');
    expect((await cli(['follow'])).code).toBe(2);
  });

  it('lists the runs newest first with their state when not a terminal', async () => {
    dir = await mkdtemp(join(tmpdir(), 'covsev-tui-list-'));
    await mkdir(join(dir, 'runs', 'a'), { recursive: true });
    await mkdir(join(dir, 'runs', 'b', 'runs', 'cmc'), { recursive: true });
    await writeFile(join(dir, 'runs', 'a', 'events.jsonl'), jsonl(failedRun()));
    await new Promise((r) => setTimeout(r, 20));
    await writeFile(join(dir, 'runs', 'b', 'events.jsonl'), jsonl([{ type: 'stage-start', time: 1, stage: 'load-cohort' }]));
    await writeFile(join(dir, 'runs', 'b', 'runs', 'cmc', 'events.jsonl'), jsonl(classifierRun(process.pid)));
    const { code, out } = await cli([], { cwd: dir, env: {} });
    expect(code).toBe(0);
    expect(out).toHaveLength(2);
    expect(out[0]).toMatch(/runs\/b {2}finished, 2\/2 epochs, best valMacroF1 0\.6 \(epoch 2\)/);
    expect(out[1]).toMatch(/runs\/a {2}failed, 0\/2 epochs/);
  });

  it('follow --plain prints a finished run and exits', async () => {
    dir = await mkdtemp(join(tmpdir(), 'covsev-tui-follow-'));
    await writeFile(join(dir, 'events.jsonl'), jsonl(classifierRun()));
    const { code, out } = await cli(['follow', dir, '--plain', '--every', '3']);
    expect(code).toBe(0);
    expect(out[0]).toMatch(/^run-start: CMC resnest-tiny-3d/);
    // The child's result comes after the run's last lines.
    expect(out.at(-1)).toMatch(/^run finished: 2 epochs, 6 steps/);
  });
});
