import { createHash } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CheckpointEvent,
  CONTROL_FILE,
  type ControlEvent,
  type EpochEvent,
  type RunErrorEvent,
  type RunStartEvent,
  readEvents,
  type StepEvent,
  sendControl,
  type TrainEvent,
} from '@covsev/events';
import { CovsevInputError } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { canonicalJson } from './json.js';
import { runTraining } from './loop.js';
// @ts-expect-error: plain-JS test support without declarations
import { disposeTinyModel, tinyRunOptions } from './testing/tinyRun.mjs';
import { type NamedVariables, variableEntries } from './variables.js';

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

/** Appends a control line as a front-end would (synchronously, from an onEvent callback). */
function command(dir: string, id: string, name: string, time = Date.now()): void {
  appendFileSync(join(dir, CONTROL_FILE), `${JSON.stringify({ id, command: name, time })}\n`);
}

function weightsOf(model: { variables: NamedVariables }): Map<string, Float32Array> {
  return new Map(variableEntries(model.variables).map(([name, v]) => [name, Float32Array.from(v.dataSync())]));
}

describe('the control channel', () => {
  it('stop mid-epoch checkpoints at that step; the resumed run ends with exactly the weights and step losses of an uninterrupted run', async () => {
    const shape = { epochs: 3, stepsPerEpoch: 4 };
    const reference = await runTraining(tinyRunOptions({ runDir: join(runDir, 'a'), ...shape }));
    const want = weightsOf(reference.model);
    disposeTinyModel(reference.model);
    const refEvents = await readEvents(join(runDir, 'a', 'events.jsonl'));
    const losses = (events: TrainEvent[] | unknown[]) =>
      (events as TrainEvent[]).filter((e): e is StepEvent => e.type === 'step').map((e) => [e.globalStep, e.losses]);
    const epochLosses = (events: unknown[]) =>
      (events as TrainEvent[]).filter((e): e is EpochEvent => e.type === 'epoch').map((e) => [e.epoch, e.metrics.loss]);

    const b = join(runDir, 'b');
    const seen: TrainEvent[] = [];
    const first = await runTraining(
      tinyRunOptions({
        runDir: b,
        ...shape,
        onEvent: (e: TrainEvent) => {
          seen.push(e);
          // A checkpoint in epoch 0 after 3 steps (then going on), a stop in epoch 1 after 2 steps.
          if (e.type === 'step' && e.epoch === 0 && e.step === 2) command(b, 'c-1', 'checkpoint');
          if (e.type === 'step' && e.epoch === 1 && e.step === 1) command(b, 's-1', 'stop');
        },
      }),
    );
    expect(first).toMatchObject({ stopped: true, epochsRun: 1, globalStep: 6 });
    expect(first.lastCheckpoint).toBe(join(b, 'checkpoints', 'epoch-1-step-2'));
    disposeTinyModel(first.model);
    expect(seen.map((e) => e.type)).toEqual([
      'run-start',
      ...['step', 'step', 'step', 'checkpoint', 'control', 'step', 'epoch', 'checkpoint'],
      ...['step', 'step', 'checkpoint', 'control', 'run-end'],
    ]);
    const checkpoints = seen.filter((e): e is CheckpointEvent => e.type === 'checkpoint');
    expect(checkpoints.map(({ epoch, step, path }) => ({ epoch, step, path }))).toEqual([
      { epoch: 0, step: 3, path: join(b, 'checkpoints', 'epoch-0-step-3') },
      { epoch: 1, step: undefined, path: join(b, 'checkpoints', 'epoch-1') },
      { epoch: 1, step: 2, path: join(b, 'checkpoints', 'epoch-1-step-2') },
    ]);
    const answers = seen.filter((e): e is ControlEvent => e.type === 'control');
    expect(answers).toMatchObject([
      { id: 'c-1', command: 'checkpoint', status: 'done', path: join(b, 'checkpoints', 'epoch-0-step-3') },
      { id: 's-1', command: 'stop', status: 'done', path: join(b, 'checkpoints', 'epoch-1-step-2') },
    ]);
    expect(seen.at(-1)).toMatchObject({ type: 'run-end', stopped: true, globalStep: 6 });
    expect(JSON.parse(await readFile(join(b, 'checkpoints', 'latest.json'), 'utf8'))).toMatchObject({
      epoch: 1,
      step: 2,
      path: 'epoch-1-step-2',
    });

    // Resumed: at step 2 of epoch 1; the stop line (older than this run) is not obeyed again.
    const resumed = await runTraining(tinyRunOptions({ runDir: b, ...shape }));
    expect(resumed).toMatchObject({
      stopped: false,
      epochsRun: 2,
      globalStep: 12,
      resumedFrom: join(b, 'checkpoints', 'epoch-1-step-2'),
    });
    const have = weightsOf(resumed.model);
    disposeTinyModel(resumed.model);
    for (const [name, w] of want) expect(have.get(name), name).toEqual(w);
    const all = await readEvents(join(b, 'events.jsonl'));
    const starts = all.filter((e): e is RunStartEvent => e.type === 'run-start');
    expect(starts[1]).toMatchObject({ startEpoch: 1, startStepInEpoch: 2, startStep: 6 });
    expect(all.filter((e) => e.type === 'control')).toHaveLength(2);
    // Every step once, with the uninterrupted run's losses; the interrupted epoch's mean loss too.
    expect(losses(all)).toEqual(losses(refEvents));
    expect(epochLosses(all)).toEqual(epochLosses(refEvents));
  });

  it('refuses unknown commands, skips malformed lines with a warning, ignores lines older than the run, and answers at the end', async () => {
    await writeFile(
      join(runDir, CONTROL_FILE),
      `${JSON.stringify({ id: 'old', command: 'stop', time: Date.now() - 60_000 })}\nnot json\n{"id":"x"}\n`,
    );
    const warnings: string[] = [];
    const seen: TrainEvent[] = [];
    const result = await runTraining({
      ...tinyRunOptions({
        runDir,
        epochs: 2,
        stepsPerEpoch: 2,
        onEvent: (e: TrainEvent) => {
          seen.push(e);
          if (e.type === 'step' && e.globalStep === 1) {
            command(runDir, 'p-1', 'pause');
            command(runDir, 'p-1', 'pause'); // the same id again: answered once
          }
          if (e.type === 'step' && e.globalStep === 4) command(runDir, 'late', 'stop');
        },
      }),
      onWarning: (w: string) => warnings.push(w),
    });
    disposeTinyModel(result.model);
    expect(result.stopped).toBe(false);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/control\.jsonl line 2 is not a control command/);
    expect(warnings[1]).toMatch(/control\.jsonl line 3 is not a control command/);
    expect(seen.filter((e) => e.type === 'control')).toEqual([
      expect.objectContaining({
        id: 'p-1',
        command: 'pause',
        status: 'refused',
        message: expect.stringMatching(/unknown command/),
      }),
      expect.objectContaining({ id: 'late', command: 'stop', status: 'done', path: join(runDir, 'checkpoints', 'epoch-2') }),
    ]);
    expect(seen.at(-1)).toMatchObject({ type: 'run-end', globalStep: 4 });
    expect(seen.at(-1)).not.toHaveProperty('stopped');

    // control: false: the file is not read.
    const other = join(runDir, 'off');
    const ignored = await runTraining({
      ...tinyRunOptions({
        runDir: other,
        epochs: 1,
        stepsPerEpoch: 2,
        onEvent: (e: TrainEvent) => {
          if (e.type === 'step' && e.step === 0) command(other, 'ignored', 'stop');
        },
      }),
      control: false,
    });
    disposeTinyModel(ignored.model);
    expect(ignored).toMatchObject({ stopped: false, globalStep: 2 });
    expect((await readEvents(join(other, 'events.jsonl'))).some((e) => e.type === 'control')).toBe(false);
  });

  it('sendControl reaches a running trainer', async () => {
    const pending: Promise<string>[] = [];
    const result = await runTraining(
      tinyRunOptions({
        runDir,
        epochs: 2,
        stepsPerEpoch: 4,
        sleepMs: 20,
        onEvent: (e: TrainEvent) => {
          if (e.type === 'step' && e.globalStep === 1) pending.push(sendControl(runDir, 'stop'));
        },
      }),
    );
    disposeTinyModel(result.model);
    const id = await (pending[0] as Promise<string>);
    expect(result.stopped).toBe(true);
    const answer = (await readEvents(join(runDir, 'events.jsonl'))).find((e) => e.type === 'control');
    expect(answer).toMatchObject({ id, command: 'stop', status: 'done', path: expect.stringMatching(/epoch-0-step-[1-3]$/) });
  });
});

describe('afterEpoch', () => {
  it('runs after the last step of each epoch, before evaluate and the checkpoint, whose weights hold what it did', async () => {
    const calls: string[] = [];
    const options = {
      ...tinyRunOptions({ runDir, epochs: 2, stepsPerEpoch: 2 }),
      afterEpoch: ({ epoch, model }: { epoch: number; model: { variables: Map<string, tf.Variable> } }) => {
        calls.push(`after ${epoch}`);
        // Marks the weights, as a batch-norm recalibration changes buffers.
        const [first] = model.variables.values();
        first?.assign(tf.fill(first.shape, epoch + 10));
      },
      evaluate: ({ epoch, model }: { epoch: number; model: { variables: Map<string, tf.Variable> } }) => {
        const [first] = model.variables.values();
        calls.push(`evaluate ${epoch} sees ${first?.dataSync()[0]}`);
        return { score: epoch };
      },
    };
    const wrapped = {
      ...options,
      trainStep: (ctx: { epoch: number; step: number }) => {
        calls.push(`step ${ctx.epoch}.${ctx.step}`);
        return options.trainStep(ctx as Parameters<typeof options.trainStep>[0]);
      },
    };
    const result = await runTraining(wrapped);
    disposeTinyModel(result.model);
    expect(calls).toEqual([
      'step 0.0',
      'step 0.1',
      'after 0',
      'evaluate 0 sees 10',
      'step 1.0',
      'step 1.1',
      'after 1',
      'evaluate 1 sees 11',
    ]);
  });
});

describe('fresh', () => {
  it('runs once on a fresh start, before run-start and the first step, and not on a resume (its weights are in the checkpoint)', async () => {
    const calls: string[] = [];
    const options = (epochs: number) => {
      const base = tinyRunOptions({ runDir, epochs, stepsPerEpoch: 1, onEvent: (e: TrainEvent) => calls.push(e.type) });
      return {
        ...base,
        fresh: ({ model }: { model: { variables: Map<string, tf.Variable> } }) => {
          calls.push('fresh');
          const [first] = model.variables.values();
          first?.assign(tf.fill(first.shape, 3));
        },
        trainStep: (ctx: { model: { variables: Map<string, tf.Variable> } }) => {
          const [first] = ctx.model.variables.values();
          calls.push(`step sees ${first?.dataSync()[0]}`);
          return base.trainStep(ctx as Parameters<typeof base.trainStep>[0]);
        },
      };
    };
    disposeTinyModel((await runTraining(options(1))).model);
    expect(calls.slice(0, 3)).toEqual(['fresh', 'run-start', 'step sees 3']);
    calls.length = 0;
    // The finished run restored from its checkpoint: no fresh start.
    disposeTinyModel((await runTraining(options(1))).model);
    expect(calls).toEqual(['run-start', 'run-end']);
  });
});

describe('richer events and the best checkpoint', () => {
  it('tracks the best epoch by the monitored metric (ties by the tie-break), keeps it in checkpoints/best, and logs samples, memory, config hash, model and report', async () => {
    const score = [0.5, 0.9, 0.9, 0.3, 0.2];
    const valLoss = [1, 0.8, 0.6, 0.1, 0.1];
    const report = {
      classNames: ['A', 'B'],
      perClassF1: [0.5, 1],
      confusion: [
        [1, 1],
        [0, 2],
      ],
    };
    const options = {
      ...tinyRunOptions({ runDir, epochs: 5, stepsPerEpoch: 2 }),
      keepLast: 2,
      label: 'tiny-mlp, 4 features',
      kind: 'classifier' as const,
      samplesPerStep: 16,
      monitor: { metric: 'score', mode: 'max' as const, tieBreak: { metric: 'valLoss', mode: 'min' as const } },
      evaluate: ({ epoch }: { epoch: number }) => ({
        metrics: { score: score[epoch] as number, valLoss: valLoss[epoch] as number },
        report,
      }),
    };
    const result = await runTraining(options);
    disposeTinyModel(result.model);
    const best = join(runDir, 'checkpoints', 'best');
    expect(result.best).toEqual({ epoch: 2, metric: 'score', value: 0.9, path: best });
    const events = await readEvents(join(runDir, 'events.jsonl'));
    const epochs = events.filter((e): e is EpochEvent => e.type === 'epoch');
    expect(epochs.map((e) => e.best?.epoch)).toEqual([0, 1, 2, 2, 2]);
    expect(epochs[4]?.best).toEqual({ epoch: 2, metric: 'score', value: 0.9, path: best });
    expect(epochs[0]?.report).toEqual(report);
    expect(epochs[0]?.metrics).toMatchObject({ loss: expect.any(Number), score: 0.5, valLoss: 1 });
    // Pruned down to 2, but best/ (the state after epoch index 2) stays.
    expect((await readdir(join(runDir, 'checkpoints'))).sort()).toEqual(['best', 'epoch-4', 'epoch-5', 'latest.json']);
    const state = JSON.parse(await readFile(join(best, 'state.json'), 'utf8'));
    expect(state).toMatchObject({ epoch: 3, extra: { metrics: { score: 0.9, valLoss: 0.6 } } });

    const start = events[0] as RunStartEvent;
    expect(start).toMatchObject({ model: 'tiny-mlp, 4 features', kind: 'classifier' });
    expect(start.configHash).toBe(createHash('sha256').update(canonicalJson(start.config)).digest('hex'));
    const step = events.find((e): e is StepEvent => e.type === 'step') as StepEvent;
    expect(step.samples).toBe(16);
    expect(step.memory).toEqual({ rss: expect.any(Number), heapUsed: expect.any(Number), tensors: expect.any(Number) });
    expect(step.memory?.rss).toBeGreaterThan(0);

    // A finished run resumed remembers its best epoch.
    const again = await runTraining(options);
    disposeTinyModel(again.model);
    expect(again.best).toEqual({ epoch: 2, metric: 'score', value: 0.9, path: best });
  });

  it('takes samples from a trainStep that returns { losses, samples }', async () => {
    const options = tinyRunOptions({ runDir, epochs: 1, stepsPerEpoch: 2 });
    const trainStep = options.trainStep;
    const result = await runTraining({
      ...options,
      memory: false,
      trainStep: async (ctx: unknown) => ({ losses: await trainStep(ctx), samples: 3 }),
    });
    disposeTinyModel(result.model);
    const steps = (await readEvents(join(runDir, 'events.jsonl'))).filter((e): e is StepEvent => e.type === 'step');
    expect(steps.map((s) => [s.samples, Object.keys(s.losses)])).toEqual([
      [3, ['total', 'mse']],
      [3, ['total', 'mse']],
    ]);
    expect(steps[0]).not.toHaveProperty('memory');
  });
});

describe('runTraining: a loss that is not finite', () => {
  it('stops the run with the epoch, step and terms, and keeps the last good checkpoint as the latest', async () => {
    const tiny = tinyRunOptions({ runDir, epochs: 3, stepsPerEpoch: 2 });
    const seen: TrainEvent[] = [];
    const poisoned = {
      ...tiny,
      onEvent: (e: TrainEvent) => seen.push(e),
      // The second step of the second epoch reports NaN, as exploding weights would.
      trainStep: async (ctx: { epoch: number; step: number }) => {
        const out = await tiny.trainStep(ctx);
        return ctx.epoch === 1 && ctx.step === 1 ? { total: Number.NaN, mse: out.mse } : out;
      },
    };
    await expect(runTraining(poisoned)).rejects.toThrow(
      /training stopped: the loss is not finite at epoch 2, step 2 \(total not finite: total NaN, mse [0-9.e-]+\).*no checkpoint of these weights is written/,
    );
    const error = seen.at(-1) as RunErrorEvent;
    expect(error).toMatchObject({ type: 'error', name: 'NonFiniteLossError', epoch: 1, step: 1 });
    expect(error.message).toMatch(/total not finite/);
    // No checkpoint after the bad step: latest.json still points to the end of epoch 1.
    const latest = JSON.parse(await readFile(join(runDir, 'checkpoints', 'latest.json'), 'utf8'));
    expect(latest).toMatchObject({ epoch: 1, path: 'epoch-1' });
    expect((await readdir(join(runDir, 'checkpoints'))).sort()).toEqual(['epoch-1', 'latest.json']);
    const { loadCheckpoint } = await import('./checkpoint.js');
    const good = await loadCheckpoint(join(runDir, 'checkpoints', 'epoch-1'));
    for (const [name, t] of good.weights) expect(Array.from(t.data as Float32Array).every(Number.isFinite), name).toBe(true);
  });

  it('says at its step a NonFiniteLossError a trainer threw before its optimiser step', async () => {
    const { NonFiniteLossError } = await import('./nonFinite.js');
    const tiny = tinyRunOptions({ runDir, epochs: 1, stepsPerEpoch: 2 });
    const run = runTraining({
      ...tiny,
      trainStep: async (ctx: { step: number }) => {
        if (ctx.step === 1) throw new NonFiniteLossError({ total: Number.POSITIVE_INFINITY, ce: 1 }, undefined, true);
        return tiny.trainStep(ctx);
      },
    });
    await expect(run).rejects.toThrow(
      /at epoch 1, step 2 \(total not finite: total Infinity, ce 1\); the optimiser step was not applied/,
    );
    await expect(stat(join(runDir, 'checkpoints', 'latest.json'))).rejects.toThrow();
  });
});
