import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { classifierRun, failedRun, jsonl, segmentationRun } from './events.fixture.js';
import { followPlain, plainPrinter } from './plain.js';
import { pipelineRunPaths, trainingRunPaths } from './run-folder.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('plain mode', () => {
  it('prints the start, a step every N, each epoch, checkpoints and the end of a recorded run', () => {
    const lines: string[] = [];
    const printer = plainPrinter(2, (l) => lines.push(l));
    for (const e of classifierRun()) printer.push(e);
    expect(lines[0]).toBe('run-start: CMC resnest-tiny-3d (classifier), backend wasm, 2 epochs x 3 steps, seed 2022');
    expect(lines.filter((l) => l.includes(' step '))).toHaveLength(3); // global steps 2, 4, 6
    expect(lines[1]).toMatch(/^epoch 1\/2 step 2\/3: total 2\.6, contrastive 1\.1, .*lr 1\.00e-4, 2 vol\/s$/);
    expect(lines).toContain('epoch 2/2: loss 2.2, valMacroF1 0.6 (best), 4s');
    expect(lines).toContain('checkpoint: epoch 2 -> run/checkpoints/epoch-2');
    expect(lines.at(-1)).toBe('run finished: 2 epochs, 6 steps in 10s; best valMacroF1 0.6 at epoch 2');
  });

  it('a segmentation run: slices/s on step lines, the validation IoU on the epoch line', () => {
    const lines: string[] = [];
    const printer = plainPrinter(1, (l) => lines.push(l));
    for (const e of segmentationRun()) printer.push(e);
    expect(lines[0]).toBe(
      'run-start: unetplusplus / resnet34 (width 0.0625), lesion (segmentation), backend tensorflow, 3 epochs x 2 steps, seed 7',
    );
    expect(lines[1]).toBe('epoch 1/3 step 1/2: dice 0.9, lr 0.001, 40 slices/s');
    expect(lines).toContain('epoch 1/3: loss 0.8, valIoU 0.31, valMIoU 0.62, valDice 0.47 (best), 0s, ETA 1s');
  });

  it('follows a finished training run with a half-written last line and an unknown event, and returns at once', async () => {
    dir = await mkdtemp(join(tmpdir(), 'covsev-tui-plain-'));
    const events = [...failedRun().slice(0, 2), { type: 'mystery', time: 1 }, failedRun()[2]];
    await writeFile(join(dir, 'events.jsonl'), jsonl(events));
    const lines: string[] = [];
    const state = await followPlain(trainingRunPaths(dir), { every: 1, print: (l) => lines.push(l), intervalMs: 20 });
    expect(state.phase).toBe('failed');
    expect(lines.at(-1)).toBe('run failed: RangeError: loss is NaN at step 2');

    // Truncated: the last line (run-end) cut in half. The writer (pid) is gone, so following ends.
    const cut = join(dir, 'cut');
    await writeFile(join(dir, 'events.jsonl'), '');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(cut);
    await writeFile(join(cut, 'events.jsonl'), jsonl(classifierRun(), true));
    const more: string[] = [];
    const s = await followPlain(trainingRunPaths(cut), {
      every: 3,
      print: (l) => more.push(l),
      intervalMs: 20,
      alive: () => false,
    });
    expect(s.phase).toBe('running');
    expect(s.epochRows).toHaveLength(2);
    expect(more.some((l) => l.startsWith('run finished'))).toBe(false);
  });

  it('prints the stage events of a pipeline run folder in time order with its training', async () => {
    dir = await mkdtemp(join(tmpdir(), 'covsev-tui-plain-'));
    const paths = pipelineRunPaths(dir);
    const { mkdir } = await import('node:fs/promises');
    await mkdir(paths.trainDir, { recursive: true });
    const run = classifierRun();
    const t0 = (run[0] as { time: number }).time;
    await writeFile(
      paths.stageLog as string,
      jsonl([
        { type: 'stage-start', time: t0 - 10, stage: 'preprocess', total: 2 },
        { type: 'stage-end', time: t0 - 5, stage: 'preprocess', ms: 5, outputs: [], summary: { scans: 2, cacheHits: 1 } },
        { type: 'stage-end', time: t0 + 20_000, stage: 'submission', ms: 5, outputs: [] },
      ]),
    );
    await writeFile(paths.trainLog, jsonl(run));
    const lines: string[] = [];
    await followPlain(paths, { every: 100, print: (l) => lines.push(l), intervalMs: 20 });
    expect(lines[0]).toBe('stage preprocess: started (2 items)');
    expect(lines[1]).toBe('stage preprocess: done in 0s (scans 2, cacheHits 1)');
    expect(lines[2]).toMatch(/^run-start/);
    expect(lines.at(-1)).toBe('stage submission: done in 0s');
  });
});
