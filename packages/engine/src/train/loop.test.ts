import { mkdtemp, readdir, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunErrorEvent, readEvents, type TrainEvent } from '@covsev/events';
import { CovsevInputError } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runTraining } from './loop.js';
// @ts-expect-error: plain-JS test support without declarations
import { disposeTinyModel, tinyRunOptions } from './testing/tinyRun.mjs';

let runDir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
});
beforeEach(async () => {
  runDir = await mkdtemp(join(tmpdir(), 'covsev-loop-'));
});
afterEach(async () => {
  await rm(runDir, { recursive: true, force: true });
});

describe('runTraining', () => {
  it('runs, checkpoints every epoch (keeping 3), and logs the run; a finished run resumes to a no-op', async () => {
    const seen: TrainEvent[] = [];
    const before = tf.memory().numTensors;
    const result = await runTraining(
      tinyRunOptions({ runDir, epochs: 5, stepsPerEpoch: 2, onEvent: (e: TrainEvent) => seen.push(e) }),
    );
    expect(result).toMatchObject({ epochsRun: 5, globalStep: 10, lastCheckpoint: join(runDir, 'checkpoints', 'epoch-5') });
    disposeTinyModel(result.model);
    expect(tf.memory().numTensors).toBe(before);
    expect((await readdir(join(runDir, 'checkpoints'))).sort()).toEqual(['epoch-3', 'epoch-4', 'epoch-5', 'latest.json']);

    const events = await readEvents(join(runDir, 'events.jsonl'));
    expect(events).toEqual(seen);
    const kinds = events.map((e) => e.type);
    expect(kinds).toEqual(['run-start', ...Array(5).fill(['step', 'step', 'epoch', 'checkpoint']).flat(), 'run-end']);
    expect(events[0]).toMatchObject({
      type: 'run-start',
      backend: 'cpu',
      seed: 7,
      epochs: 5,
      stepsPerEpoch: 2,
      startEpoch: 0,
      startStep: 0,
    });
    const lrs = events.filter((e) => e.type === 'epoch').map((e) => (e as { lr: number }).lr);
    expect(lrs).toEqual([1, 1, 0.1, 0.1, 0.1 ** 2].map((f) => 0.02 * f)); // milestones [round(1.5), round(4)] = [2, 4]
    const epoch0 = events.find((e) => e.type === 'epoch');
    expect(epoch0).toMatchObject({ epoch: 0, metrics: { loss: expect.any(Number), mse: expect.any(Number) } });
    expect((epoch0 as { eta: number }).eta).toBeGreaterThan(0);

    // The runtime (e.g. worker threads) is recorded but not compared: another one resumes.
    const again = await runTraining({ ...tinyRunOptions({ runDir, epochs: 5, stepsPerEpoch: 2 }), runtime: { workers: 2 } });
    expect(again).toMatchObject({ epochsRun: 0, globalStep: 10, resumedFrom: join(runDir, 'checkpoints', 'epoch-5') });
    disposeTinyModel(again.model);
    const tail = (await readEvents(join(runDir, 'events.jsonl'))).slice(-2);
    expect(tail.map((e) => e.type)).toEqual(['run-start', 'run-end']);
    expect(tail[0]).toMatchObject({ runtime: { workers: 2 } });
    expect(events[0]).not.toHaveProperty('runtime');
  });

  it('logs an error with where it happened, and resumes after it from the last checkpoint', async () => {
    const options = tinyRunOptions({ runDir, epochs: 3, stepsPerEpoch: 2 });
    const trainStep = options.trainStep;
    await expect(
      runTraining({
        ...options,
        trainStep: (ctx: { epoch: number; step: number }) => {
          if (ctx.epoch === 1 && ctx.step === 1) throw new Error('out of memory (simulated)');
          return trainStep(ctx);
        },
      }),
    ).rejects.toThrow('out of memory (simulated)');
    const events = await readEvents(join(runDir, 'events.jsonl'));
    const error = events.at(-1) as RunErrorEvent;
    expect(error).toMatchObject({ type: 'error', name: 'Error', message: 'out of memory (simulated)', epoch: 1, step: 1 });
    const resumed = await runTraining(options);
    expect(resumed).toMatchObject({ epochsRun: 2, resumedFrom: join(runDir, 'checkpoints', 'epoch-1') });
    disposeTinyModel(resumed.model);
  });

  it('resumes past a corrupt latest checkpoint from the previous intact one, saying so in run-start and onWarning', async () => {
    disposeTinyModel((await runTraining(tinyRunOptions({ runDir, epochs: 2, stepsPerEpoch: 2 }))).model);
    const weights = join(runDir, 'checkpoints', 'epoch-2', 'weights.bin');
    await truncate(weights, 10);
    const warnings: string[] = [];
    const seen: TrainEvent[] = [];
    const resumed = await runTraining({
      ...tinyRunOptions({ runDir, epochs: 2, stepsPerEpoch: 2, onEvent: (e: TrainEvent) => seen.push(e) }),
      onWarning: (w: string) => warnings.push(w),
    });
    expect(resumed).toMatchObject({ epochsRun: 1, resumedFrom: join(runDir, 'checkpoints', 'epoch-1') });
    disposeTinyModel(resumed.model);
    const reason = `${weights}: has 10 bytes, its manifest says 196 (truncated or overwritten)`;
    expect(seen[0]).toMatchObject({
      type: 'run-start',
      startEpoch: 1,
      resumedFrom: join(runDir, 'checkpoints', 'epoch-1'),
      skippedCheckpoints: [
        { path: join(runDir, 'checkpoints', 'epoch-2'), reason, movedTo: expect.stringMatching(/epoch-2\.corrupt-\d+$/) },
      ],
    });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(reason);
    const names = await readdir(join(runDir, 'checkpoints'));
    expect(names.filter((n) => n.startsWith('epoch-2.corrupt-'))).toHaveLength(1);
    expect(names).toContain('epoch-2'); // written again by the resumed run
  });

  it('stops with a CovsevInputError naming every corrupt checkpoint when none is intact, and refuses a changed config', async () => {
    disposeTinyModel((await runTraining(tinyRunOptions({ runDir, epochs: 2, stepsPerEpoch: 2 }))).model);
    const weights = join(runDir, 'checkpoints', 'epoch-2', 'weights.bin');
    await truncate(weights, 10);
    await truncate(join(runDir, 'checkpoints', 'epoch-1', 'weights.bin'), 10);
    const error = await runTraining(tinyRunOptions({ runDir, epochs: 2, stepsPerEpoch: 2 })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CovsevInputError);
    expect((error as Error).message).toMatch(/checkpoints: has no intact checkpoint to resume from \(2 tried, newest first\)/);
    expect((error as Error).message).toContain(`${weights}: has 10 bytes, its manifest says 196 (truncated or overwritten)`);
    expect((error as Error).message).toContain(`${join(runDir, 'checkpoints', 'epoch-1', 'weights.bin')}: has 10 bytes`);
    const logged = (await readEvents(join(runDir, 'events.jsonl'))).at(-1);
    expect(logged).toMatchObject({ type: 'error', name: 'CovsevInputError', message: (error as Error).message });

    const other = await mkdtemp(join(tmpdir(), 'covsev-loop-'));
    disposeTinyModel((await runTraining(tinyRunOptions({ runDir: other, epochs: 1, stepsPerEpoch: 2 }))).model);
    await expect(runTraining(tinyRunOptions({ runDir: other, epochs: 2, stepsPerEpoch: 2 }))).rejects.toThrow(
      /different config \(epochs differ\)/,
    );
    const longer = await runTraining({
      ...tinyRunOptions({ runDir: other, epochs: 2, stepsPerEpoch: 2 }),
      allowConfigChange: true,
    });
    expect(longer.epochsRun).toBe(1);
    disposeTinyModel(longer.model);
    await rm(other, { recursive: true, force: true });
  });
});
