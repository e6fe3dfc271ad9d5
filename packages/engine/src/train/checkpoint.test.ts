import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CovsevInputError } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Adam } from './adam.js';
import {
  type CheckpointData,
  cleanCrashLeftovers,
  findIntactCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  loadLatestCheckpoint,
  saveBestCheckpoint,
  saveCheckpoint,
  snapshotWeights,
} from './checkpoint.js';
import { resumeOrStart } from './resume.js';
import { rngStates, seedEverything } from './seed.js';

let run: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
});
beforeEach(async () => {
  run = await mkdtemp(join(tmpdir(), 'covsev-ckpt-'));
});
afterEach(async () => {
  await rm(run, { recursive: true, force: true });
});

function model(fill = 0) {
  const variables = new Map([
    ['conv/kernel', tf.variable(tf.tidy(() => tf.range(0, 24).reshape([2, 3, 4]).add(fill)))],
    ['conv/bias', tf.variable(tf.fill([4], 0.5 + fill))],
  ]);
  const optimizer = new Adam(variables, { lr: 0.01 });
  return { variables, optimizer, dispose: () => [optimizer, ...variables.values()].forEach((x) => x.dispose()) };
}

function data(epoch: number, m = model()): CheckpointData {
  const weights = snapshotWeights(m.variables);
  weights.set('bn/count', { shape: [2], dtype: 'int32', data: Int32Array.from([epoch, -7]) });
  return {
    epoch,
    globalStep: epoch * 10,
    seed: 5,
    config: { arch: 'mlp', width: 8 },
    weights,
    optimizer: m.optimizer.state(),
    rng: rngStates(seedEverything(5)),
    lr: 0.01,
    schedule: { kind: 'step' },
    extra: { best: 0.5 },
  };
}

async function expectInputError(promise: Promise<unknown>, path: string, problem: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CovsevInputError);
  expect((error as CovsevInputError).path).toBe(path);
  expect((error as CovsevInputError).message).toMatch(problem);
  expect((error as CovsevInputError).message.startsWith(path)).toBe(true);
}

describe('checkpoints', () => {
  it('round-trip weights (float32 and int32), optimiser, RNG, config, schedule and extra exactly', async () => {
    const m = model();
    m.optimizer.step({ 'conv/kernel': tf.ones([2, 3, 4]), 'conv/bias': tf.ones([4]) });
    const d = data(3, m);
    const path = await saveCheckpoint(run, d);
    expect(path).toBe(join(run, 'checkpoints', 'epoch-3'));
    expect((await readdir(path)).sort()).toEqual([
      'optimizer.bin',
      'optimizer.json',
      'state.json',
      'weights.bin',
      'weights.json',
    ]);
    const pointer = JSON.parse(await readFile(join(run, 'checkpoints', 'latest.json'), 'utf8'));
    expect(pointer).toMatchObject({ format: 'covsev-checkpoint-pointer', version: 1, epoch: 3, path: 'epoch-3' });
    const manifest = JSON.parse(await readFile(join(path, 'weights.json'), 'utf8'));
    expect(
      manifest.tensors.map((t: { name: string; shape: number[]; dtype: string; offset: number }) => [
        t.name,
        t.shape,
        t.dtype,
        t.offset,
      ]),
    ).toEqual([
      ['conv/kernel', [2, 3, 4], 'float32', 0],
      ['conv/bias', [4], 'float32', 96],
      ['bn/count', [2], 'int32', 112],
    ]);

    const back = await loadLatestCheckpoint(run);
    expect(back).toBeDefined();
    if (back === undefined) return;
    expect(back.path).toBe(path);
    expect([back.epoch, back.globalStep, back.seed, back.lr]).toEqual([3, 30, 5, 0.01]);
    expect(back.config).toEqual(d.config);
    expect(back.schedule).toEqual({ kind: 'step' });
    expect(back.extra).toEqual({ best: 0.5 });
    expect(back.rng).toEqual(d.rng);
    expect(back.weights).toEqual(d.weights);
    expect(back.optimizer).toEqual(d.optimizer);
    m.dispose();
  });

  it('moves latest.json last and keeps the last N, cleaning up after crashed writes', async () => {
    for (const epoch of [1, 2, 3, 4]) await saveCheckpoint(run, data(epoch), { keepLast: 2 });
    expect((await listCheckpoints(run)).map((c) => c.epoch)).toEqual([3, 4]);
    // A crash mid-write: a temp folder with half the files, no pointer change.
    const tmp = join(run, 'checkpoints', 'epoch-5.tmp-999-abcd');
    await mkdir(tmp);
    await writeFile(join(tmp, 'weights.bin'), new Uint8Array(7));
    expect((await loadLatestCheckpoint(run))?.epoch).toBe(4);
    await saveCheckpoint(run, data(5), { keepLast: 2 });
    expect((await readdir(join(run, 'checkpoints'))).sort()).toEqual(['epoch-4', 'epoch-5', 'latest.json']);
    // Saving an epoch again replaces it.
    await saveCheckpoint(run, { ...data(5), globalStep: 77 }, { keepLast: 2 });
    expect((await loadLatestCheckpoint(run))?.globalStep).toBe(77);
    expect((await readdir(join(run, 'checkpoints'))).sort()).toEqual(['epoch-4', 'epoch-5', 'latest.json']);
  });

  it('names mid-epoch checkpoints epoch-<n>-step-<k>, orders, prunes, recovers and cleans them; best/ is never pruned', async () => {
    await saveCheckpoint(run, data(1), { keepLast: 3 });
    const mid = await saveCheckpoint(run, { ...data(1), step: 2, trainerState: { order: [3, 1, 2] } }, { keepLast: 3 });
    expect(mid).toBe(join(run, 'checkpoints', 'epoch-1-step-2'));
    const pointer = JSON.parse(await readFile(join(run, 'checkpoints', 'latest.json'), 'utf8'));
    expect(pointer).toMatchObject({ epoch: 1, step: 2, path: 'epoch-1-step-2' });
    const back = await loadLatestCheckpoint(run);
    expect(back).toMatchObject({ path: mid, epoch: 1, step: 2, trainerState: { order: [3, 1, 2] } });
    expect((await loadCheckpoint(join(run, 'checkpoints', 'epoch-1'))).step).toBe(0);
    const best = await saveBestCheckpoint(run, join(run, 'checkpoints', 'epoch-1'));
    expect(best).toBe(join(run, 'checkpoints', 'best'));
    expect((await loadCheckpoint(best)).epoch).toBe(1);
    await saveCheckpoint(run, { ...data(1), step: 10 }, { keepLast: 3 });
    await saveCheckpoint(run, data(2), { keepLast: 3 });
    // Ordered by (epoch, step): step 10 after step 2; keepLast counts mid-epoch checkpoints too.
    expect((await listCheckpoints(run)).map((c) => [c.epoch, c.step])).toEqual([
      [1, 2],
      [1, 10],
      [2, 0],
    ]);
    expect((await readdir(join(run, 'checkpoints'))).sort()).toEqual([
      'best',
      'epoch-1-step-10',
      'epoch-1-step-2',
      'epoch-2',
      'latest.json',
    ]);
    // best/ is a whole copy: it outlives its source.
    expect((await loadCheckpoint(best)).epoch).toBe(1);
    // Leftovers of crashed writes of mid-epoch and best checkpoints are cleaned.
    await mkdir(join(run, 'checkpoints', 'epoch-2-step-1.tmp-9-ab'));
    await mkdir(join(run, 'checkpoints', 'best.tmp-9-cd'));
    await writeFile(join(run, 'checkpoints', 'epoch-1-step-10', 'state.json.tmp-9-ef'), '{');
    await writeFile(join(run, 'checkpoints', 'best', 'weights.bin.tmp-9-01'), '');
    expect((await cleanCrashLeftovers(run)).map((p) => p.slice(run.length + 1)).sort()).toEqual([
      join('checkpoints', 'best.tmp-9-cd'),
      join('checkpoints', 'best', 'weights.bin.tmp-9-01'),
      join('checkpoints', 'epoch-1-step-10', 'state.json.tmp-9-ef'),
      join('checkpoints', 'epoch-2-step-1.tmp-9-ab'),
    ]);
    // A corrupt latest falls back to the newest older one, a mid-epoch one included.
    await truncate(join(run, 'checkpoints', 'epoch-2', 'weights.bin'), 3);
    const found = await findIntactCheckpoint(run);
    expect(found.checkpoint?.path).toBe(join(run, 'checkpoints', 'epoch-1-step-10'));
    expect(found.skipped.map((x) => x.path)).toEqual([join(run, 'checkpoints', 'epoch-2')]);
  });

  it('returns undefined for a run without checkpoints', async () => {
    expect(await loadLatestCheckpoint(run)).toBeUndefined();
  });

  describe('a corrupt latest checkpoint is a CovsevInputError naming the file', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await saveCheckpoint(run, data(2));
    });
    it('truncated weights.bin', async () => {
      await truncate(join(dir, 'weights.bin'), 50);
      await expectInputError(loadLatestCheckpoint(run), join(dir, 'weights.bin'), /has 50 bytes, its manifest says 120/);
    });
    it('a flipped byte in optimizer.bin', async () => {
      const bytes = await readFile(join(dir, 'optimizer.bin'));
      bytes[5] = (bytes[5] as number) ^ 0xff;
      await writeFile(join(dir, 'optimizer.bin'), bytes);
      await expectInputError(loadLatestCheckpoint(run), join(dir, 'optimizer.bin'), /sha256/);
    });
    it('a missing weights.bin', async () => {
      await rm(join(dir, 'weights.bin'));
      await expectInputError(loadLatestCheckpoint(run), join(dir, 'weights.bin'), /ENOENT.*incomplete/);
    });
    it('garbage in state.json, weights.json and latest.json', async () => {
      await writeFile(join(dir, 'weights.json'), '{"format":"covsev-tensors","version":1,"tensors":[');
      await expectInputError(loadLatestCheckpoint(run), join(dir, 'weights.json'), /not valid JSON/);
      await writeFile(join(dir, 'state.json'), '{}');
      await expectInputError(loadLatestCheckpoint(run), join(dir, 'state.json'), /not a valid covsev checkpoint state/);
      const latest = join(run, 'checkpoints', 'latest.json');
      await writeFile(latest, '\0\0\0');
      await expectInputError(loadLatestCheckpoint(run), latest, /not valid JSON/);
      await writeFile(latest, '{"format":"covsev-checkpoint-pointer","version":1,"epoch":9,"path":"epoch-9"}');
      await expectInputError(loadLatestCheckpoint(run), latest, /points to epoch-9, which does not exist/);
    });
  });

  it('refuses weights that do not match the model, naming weights.json and the differences', async () => {
    const dir = await saveCheckpoint(run, data(1));
    const other = {
      'conv/kernel': tf.variable(tf.zeros([2, 3, 5])),
      'conv/bias': tf.variable(tf.zeros([4])),
      head: tf.variable(tf.zeros([1])),
    };
    await expectInputError(
      loadLatestCheckpoint(run, { variables: other }),
      join(dir, 'weights.json'),
      /does not match the model: missing head; unexpected bn\/count; conv\/kernel has shape \[2,3,4\], the model \[2,3,5\]/,
    );
    for (const v of Object.values(other)) v.dispose();
  });
});

describe('resumeOrStart', () => {
  it('starts fresh, then resumes weights, optimiser and RNG streams in place', async () => {
    const a = model();
    const rngsA = seedEverything(5);
    expect(
      await resumeOrStart({
        runDir: run,
        variables: a.variables,
        optimizer: a.optimizer,
        rngs: rngsA,
        seed: 5,
        config: { x: 1 },
      }),
    ).toStrictEqual({
      epoch: 0,
      globalStep: 0,
    });
    a.optimizer.step({ 'conv/kernel': tf.fill([2, 3, 4], 0.3), 'conv/bias': tf.fill([4], -1) });
    rngsA.data.permutation(8);
    await saveCheckpoint(run, {
      epoch: 1,
      globalStep: 1,
      seed: 5,
      config: { x: 1 },
      weights: snapshotWeights(a.variables),
      optimizer: a.optimizer.state(),
      rng: rngStates(rngsA),
    });

    const b = model(100);
    const rngsB = seedEverything(5);
    const info = await resumeOrStart({
      runDir: run,
      variables: b.variables,
      optimizer: b.optimizer,
      rngs: rngsB,
      seed: 5,
      config: { x: 1 },
    });
    expect([info.epoch, info.globalStep, info.resumedFrom]).toEqual([1, 1, join(run, 'checkpoints', 'epoch-1')]);
    for (const [n, v] of a.variables) expect(b.variables.get(n)?.dataSync()).toEqual(v.dataSync());
    expect(b.optimizer.state()).toEqual(a.optimizer.state());
    expect(rngsB.data.uniform()).toBe(rngsA.data.uniform());

    const c = model();
    const state = join(run, 'checkpoints', 'epoch-1', 'state.json');
    const args = { runDir: run, variables: c.variables, optimizer: c.optimizer, rngs: seedEverything(5), seed: 5 };
    await expectInputError(resumeOrStart({ ...args, config: { x: 2, y: 0 } }), state, /different config \(x, y differ\)/);
    await expectInputError(resumeOrStart({ ...args, seed: 6, config: { x: 1 } }), state, /seed 5, this run has seed 6/);
    expect((await resumeOrStart({ ...args, config: { x: 2 }, allowConfigChange: true })).epoch).toBe(1);
    for (const m of [a, b, c]) m.dispose();
  });
});

describe('recovery', () => {
  const resumeArgs = (m: ReturnType<typeof model>, warnings: string[]) => ({
    runDir: run,
    variables: m.variables,
    optimizer: m.optimizer,
    rngs: seedEverything(5),
    seed: 5,
    config: { arch: 'mlp', width: 8 },
    onWarning: (w: string) => warnings.push(w),
  });

  it('resumes from the newest intact checkpoint when the latest is corrupt, and moves the bad one aside', async () => {
    const m = model();
    // The model's variables without the extra int32 tensor of data().
    const save = (epoch: number) =>
      saveCheckpoint(run, { ...data(epoch, m), weights: snapshotWeights(m.variables), globalStep: epoch * 10 });
    await save(1);
    const bad = await save(2);
    await truncate(join(bad, 'weights.bin'), 50);
    const warnings: string[] = [];
    const info = await resumeOrStart(resumeArgs(m, warnings));
    expect([info.epoch, info.globalStep, info.resumedFrom]).toEqual([1, 10, join(run, 'checkpoints', 'epoch-1')]);
    expect(info.skippedCheckpoints).toHaveLength(1);
    const skipped = info.skippedCheckpoints?.[0];
    expect(skipped?.path).toBe(bad);
    expect(skipped?.reason).toMatch(/weights\.bin: has 50 bytes, its manifest says 112/);
    expect(skipped?.movedTo).toMatch(/checkpoints\/epoch-2\.corrupt-\d+$/);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/epoch-2.*weights\.bin: has 50 bytes.*moved to .*epoch-2\.corrupt-\d+.*resuming from .*epoch-1/);
    const names = (await readdir(join(run, 'checkpoints'))).sort();
    expect(names.filter((n) => !n.startsWith('epoch-2.corrupt-'))).toEqual(['epoch-1', 'latest.json']);
    // Kept, never deleted: the truncated file is still there, aside.
    expect((await readFile(join(skipped?.movedTo as string, 'weights.bin'))).length).toBe(50);
    // The pointer now names the intact checkpoint; a second resume is silent.
    expect((await loadLatestCheckpoint(run))?.epoch).toBe(1);
    const again: string[] = [];
    expect((await resumeOrStart(resumeArgs(m, again))).epoch).toBe(1);
    expect(again).toEqual([]);
    // Pruning after later saves leaves the corrupt folder alone.
    await save(2);
    await save(3);
    expect((await readdir(join(run, 'checkpoints'))).some((n) => n.startsWith('epoch-2.corrupt-'))).toBe(true);
    m.dispose();
  });

  it('falls back past an unreadable latest.json', async () => {
    const m = model();
    await saveCheckpoint(run, { ...data(1, m), weights: snapshotWeights(m.variables) });
    await writeFile(join(run, 'checkpoints', 'latest.json'), '\0\0\0');
    const warnings: string[] = [];
    const info = await resumeOrStart(resumeArgs(m, warnings));
    expect(info.resumedFrom).toBe(join(run, 'checkpoints', 'epoch-1'));
    expect(warnings.join('\n')).toMatch(/latest\.json.*not valid JSON/);
    expect((await loadLatestCheckpoint(run))?.epoch).toBe(1);
    m.dispose();
  });

  it('refuses to start when no checkpoint is intact, naming what is wrong with each, and moves nothing', async () => {
    const m = model();
    const save = (epoch: number) => saveCheckpoint(run, { ...data(epoch, m), weights: snapshotWeights(m.variables) });
    const one = await save(1);
    const two = await save(2);
    await truncate(join(two, 'weights.bin'), 50);
    await rm(join(one, 'state.json'));
    const warnings: string[] = [];
    const error = await resumeOrStart(resumeArgs(m, warnings)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CovsevInputError);
    const message = (error as Error).message;
    expect(message.startsWith(join(run, 'checkpoints'))).toBe(true);
    expect(message).toMatch(/no intact checkpoint/);
    expect(message).toContain(`${join(two, 'weights.bin')}: has 50 bytes`);
    expect(message).toContain(`${join(one, 'state.json')}: cannot be read (ENOENT)`);
    expect((await readdir(join(run, 'checkpoints'))).sort()).toEqual(['epoch-1', 'epoch-2', 'latest.json']);
    m.dispose();
  });

  it('a checkpoint that does not match the model is refused, not skipped', async () => {
    const m = model();
    await saveCheckpoint(run, { ...data(1, m), weights: snapshotWeights(m.variables) });
    await saveCheckpoint(run, data(2, m)); // has an extra tensor: a different model, not a corrupt file
    const error = await resumeOrStart(resumeArgs(m, [])).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/epoch-2.weights\.json: does not match the model: unexpected bn\/count/);
    expect((await readdir(join(run, 'checkpoints'))).sort()).toEqual(['epoch-1', 'epoch-2', 'latest.json']);
    m.dispose();
  });

  it('cleans leftovers of crashed writes (temp files and folders) on resume and on save', async () => {
    const m = model();
    await saveCheckpoint(run, { ...data(1, m), weights: snapshotWeights(m.variables) });
    const dir = join(run, 'checkpoints');
    const leftovers = async () => {
      await writeFile(join(dir, 'latest.json.tmp-999-abcd'), '{"format":"covsev-checkpoint-po');
      await mkdir(join(dir, 'epoch-2.tmp-999-beef'));
      await writeFile(join(dir, 'epoch-2.tmp-999-beef', 'weights.bin'), new Uint8Array(3));
      await mkdir(join(dir, 'epoch-1.old-999-cafe'));
      await writeFile(join(dir, 'epoch-1', 'state.json.tmp-999-0123'), '{');
    };
    await leftovers();
    expect((await resumeOrStart(resumeArgs(m, []))).epoch).toBe(1);
    expect((await readdir(dir)).sort()).toEqual(['epoch-1', 'latest.json']);
    expect((await readdir(join(dir, 'epoch-1'))).some((n) => n.includes('.tmp-'))).toBe(false);
    await leftovers();
    await saveCheckpoint(run, { ...data(2, m), weights: snapshotWeights(m.variables) });
    expect((await readdir(dir)).sort()).toEqual(['epoch-1', 'epoch-2', 'latest.json']);
    expect((await readdir(join(dir, 'epoch-1'))).some((n) => n.includes('.tmp-'))).toBe(false);
    m.dispose();
  });
});
