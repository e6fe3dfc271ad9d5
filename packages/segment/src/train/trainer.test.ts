import { appendFileSync, existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { disposeModule, initBackend, NonFiniteLossError, sha256Hex, torchStateDict, writeSafetensors } from '@covsev/engine';
import { CovsevInputError, makeVolume, Rng } from '@covsev/io';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CtSegScan, loadCtSegCohort } from '../data/ctSegCohort.js';
import { phantomCtSegCohort } from '../data/phantomCohort.test-helpers.js';
import { buildSliceSet } from '../data/slices.js';
import { defaultInputSpec } from '../modelCard.js';
import { EncoderDecoderModel } from '../models/common.js';
import type { SegmentationModel } from '../models/contract.js';
import { createSegmentationModel } from '../models/factory.js';
import { loadTrainedSegmentation } from './loadTrained.js';
import { scoreSliceSet, trainSegmentation } from './trainer.js';

const tiny = { arch: 'unet', encoder: 'resnet34', width: 1 / 16 } as const;
let scans: CtSegScan[] = [];

beforeAll(async () => {
  await initBackend({ prefer: 'wasm' });
  scans = await loadCtSegCohort(await phantomCtSegCohort({ scans: 4, size: 64, slices: 12 }));
});

const readLog = async (dir: string) =>
  (await readFile(join(dir, 'events.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

const weights = (model: SegmentationModel) =>
  new Map(
    [...model.parameters(), ...model.buffers()].map(({ name, variable }) => [name, Float32Array.from(variable.dataSync())]),
  );

/** Two epochs of two steps of 8 slices at 32 x 32: three training scans, one validation scan. */
const common = () => ({
  scans,
  split: { train: ['phantom_001', 'phantom_002', 'phantom_003'], val: ['phantom_004'] },
  task: 'lung' as const,
  model: tiny,
  input: [32, 32] as const,
  epochs: 2,
  slicesPerEpoch: 16,
  seed: 5,
});

describe('trainSegmentation', () => {
  it('writes the card, events (loss, valIoU, valMIoU, lr, slices) and checkpoints; the trained model loads back', async () => {
    const runDir = await mkdtemp(join(tmpdir(), 'covsev-seg-run-'));
    const result = await trainSegmentation({ ...common(), runDir });
    expect(result.epochsRun).toBe(2);
    expect(result.split.val).toEqual(['phantom_004']);
    const card = JSON.parse(await readFile(join(runDir, 'model.json'), 'utf8'));
    expect(card).toEqual({
      format: 'covsev-segmentation-model',
      version: 1,
      task: 'lung',
      architecture: { arch: 'unet', encoder: 'resnet34', classes: 1, inChannels: 1, width: 1 / 16 },
      input: {
        size: [32, 32],
        huWindow: { low: -1250, high: 250 },
        normalise: { mean: 0, std: 1 },
        lungMasked: false,
        channels: 1,
      },
      output: { activation: 'sigmoid', foreground: 0, threshold: 0.5 },
    });
    const events = await readLog(runDir);
    expect(events.map((e) => e.type)).toEqual([
      'run-start',
      'step',
      'step',
      'epoch',
      'checkpoint',
      'step',
      'step',
      'epoch',
      'checkpoint',
      'run-end',
    ]);
    expect(events[0]).toMatchObject({ kind: 'segmentation', model: 'unet / resnet34 (width 0.0625), lung', stepsPerEpoch: 2 });
    const step = events[1];
    expect(step.samples).toBe(8);
    expect(step.lr).toBe(1e-3);
    expect(step.losses.dice).toBeGreaterThan(0);
    expect(step.losses.dice).toBeLessThan(1);
    const epochs = events.filter((e) => e.type === 'epoch');
    for (const e of epochs) {
      expect(Object.keys(e.metrics).sort()).toEqual(['loss', 'valDice', 'valIoU', 'valMIoU']);
      expect(e.metrics.valIoU).toBeGreaterThanOrEqual(0);
      expect(e.metrics.valIoU).toBeLessThanOrEqual(1);
      expect(e.metrics.valMIoU).toBeGreaterThanOrEqual(e.metrics.valIoU / 2);
      expect(e.best.metric).toBe('valIoU');
    }
    // lr x0.1 at round(0.3 * 2) = 1 (PyTorch's MultiStepLR milestones).
    expect(epochs.map((e) => e.lr)).toEqual([1e-3, 1e-4]);
    expect(existsSync(join(runDir, 'checkpoints', 'best', 'weights.bin'))).toBe(true);
    // No tensor leaks: after the first step (which makes the SGD slots) the count stays.
    const tensors = events.filter((e) => e.type === 'step').map((e) => e.memory.tensors);
    expect(new Set(tensors.slice(1)).size).toBe(1);

    // Read back: the latest checkpoint is the trained model; the best scores its epoch's valIoU.
    const latest = await loadTrainedSegmentation(runDir, { checkpoint: 'latest' });
    expect(latest.card).toEqual(card);
    expect(latest.epoch).toBe(2);
    const want = weights(result.model);
    for (const [name, w] of weights(latest.model)) expect(w, name).toEqual(want.get(name));
    const best = await loadTrainedSegmentation(runDir);
    const bestEpoch = epochs[epochs.length - 1].best.epoch;
    const valSet = buildSliceSet(
      scans.filter((s) => s.name === 'phantom_004'),
      'lung',
      defaultInputSpec('lung', [32, 32]),
    );
    const scored = await scoreSliceSet(best.model, best.card, valSet);
    expect(scored.iou).toBeCloseTo(epochs[bestEpoch].metrics.valIoU, 6);
    await expect(loadTrainedSegmentation(join(runDir, 'nowhere'))).rejects.toThrow(/nowhere\/model\.json: no such model card/);
  });

  it('stopped mid-epoch and resumed ends with the weights and step losses of an uninterrupted run; another model is refused', async () => {
    const refDir = await mkdtemp(join(tmpdir(), 'covsev-seg-ref-'));
    const reference = await trainSegmentation({ ...common(), runDir: refDir });
    const want = weights(reference.model);

    const runDir = await mkdtemp(join(tmpdir(), 'covsev-seg-stop-'));
    const stopped = await trainSegmentation({
      ...common(),
      runDir,
      onEvent: (e) => {
        // After the first step of the second epoch: stop at epoch 1, step 1.
        if (e.type === 'step' && e.epoch === 1 && e.step === 0)
          appendFileSync(
            join(runDir, 'control.jsonl'),
            `${JSON.stringify({ id: 'stop-1', command: 'stop', time: Date.now() })}\n`,
          );
      },
    });
    expect(stopped.stopped).toBe(true);
    expect(stopped.epochsRun).toBe(1);
    expect(existsSync(join(runDir, 'checkpoints', 'epoch-1-step-1'))).toBe(true);

    // Another architecture on this run folder: refused before anything is read, naming both.
    const refused = await trainSegmentation({ ...common(), runDir, model: { ...tiny, width: 1 / 8 } }).catch((e) => e);
    expect(refused).toBeInstanceOf(CovsevInputError);
    expect(refused.message).toContain(`${join(runDir, 'model.json')}: this run trains unet / resnet34 (width 0.0625), lung`);
    expect(refused.message).toContain('asked to resume it as unet / resnet34 (width 0.125), lung');

    const resumed = await trainSegmentation({ ...common(), runDir });
    expect(resumed.epochsRun).toBe(1);
    for (const [name, w] of weights(resumed.model)) expect(w, name).toEqual(want.get(name));
    const losses = (events: { type: string; globalStep: number; losses: unknown }[]) =>
      events.filter((e) => e.type === 'step').map((e) => [e.globalStep, e.losses]);
    expect(losses(await readLog(runDir))).toEqual(losses(await readLog(refDir)));
  });

  it('stops at a NaN loss with the engine message, keeping the last good checkpoint', async () => {
    const runDir = await mkdtemp(join(tmpdir(), 'covsev-seg-nan-'));
    await trainSegmentation({ ...common(), runDir, epochs: 1 });
    // The same scans with one CT poisoned: every slice of it is NaN from the second epoch on.
    const poisoned = scans.map((s) =>
      s.name === 'phantom_001' || s.name === 'phantom_002' || s.name === 'phantom_003'
        ? {
            ...s,
            ct: makeVolume({ data: new Float32Array(s.ct.data.length).fill(Number.NaN), shape: s.ct.shape, intensity: 'hu' }),
          }
        : s,
    );
    const error = await trainSegmentation({ ...common(), scans: poisoned, runDir }).catch((e) => e);
    expect(error).toBeInstanceOf(NonFiniteLossError);
    expect(error.message).toMatch(/at epoch 2, step 1/);
    expect(error.message).toMatch(/dice NaN/);
    const latest = JSON.parse(await readFile(join(runDir, 'checkpoints', 'latest.json'), 'utf8'));
    expect(latest.path).toBe('epoch-1');
    const events = await readLog(runDir);
    expect(events.at(-1)).toMatchObject({ type: 'error' });
  });

  it('refuses bad options by name, before training; reads a cohort folder and splits it by scan when told nothing', async () => {
    const runDir = await mkdtemp(join(tmpdir(), 'covsev-seg-bad-'));
    const bad = (extra: Record<string, unknown>) =>
      trainSegmentation({ ...common(), runDir, ...extra } as Parameters<typeof trainSegmentation>[0]);
    await expect(bad({ scans: undefined })).rejects.toThrow(
      'trainSegmentation: give cohortDir (a COVID-19-CT-Seg folder) or scans',
    );
    await expect(bad({ split: { train: ['phantom_001', 'nope'], val: [] } })).rejects.toThrow(
      'trainSegmentation: split names scan nope, which is not among the scans (phantom_001, phantom_002, phantom_003, phantom_004)',
    );
    await expect(bad({ split: { train: ['phantom_001'], val: ['phantom_001'] } })).rejects.toThrow(
      'scans phantom_001 are both in train and val',
    );
    await expect(bad({ input: defaultInputSpec('lung', [32, 32]), task: 'lesion' })).rejects.toThrow(
      'input.lungMasked is false for the lesion task',
    );
    await expect(bad({ model: { ...tiny, classes: 2 } })).rejects.toThrow('classes 1');
    await expect(bad({ batchSize: 1 })).rejects.toThrow('batchSize must be at least 2');
    await expect(bad({ slicesPerEpoch: 4 })).rejects.toThrow('4 slices per epoch make no batch of 8');
    await expect(bad({ input: [48, 48] })).rejects.toThrow('input size 48 x 48 must divide by 32');
    expect(existsSync(join(runDir, 'model.json'))).toBe(false);

    const cohortDir = await phantomCtSegCohort({ scans: 4, size: 64, slices: 12 });
    const run = await trainSegmentation({
      ...common(),
      scans: undefined,
      split: undefined,
      cohortDir,
      runDir,
      epochs: 1,
      slicesPerEpoch: 8,
    });
    expect(run.split.val).toHaveLength(1);
    expect(run.split.train).toHaveLength(3);
    expect(run.split.train).not.toContain(run.split.val[0]);
    expect((await loadTrainedSegmentation(runDir)).split).toEqual(run.split);
  });
});

/**
 * A torchvision-named ResNet-34 checkpoint at the tiny width: the encoder of a fresh model (seed
 * `seed`) in PyTorch's layout (covsev's encoder names are torchvision's), plus an ImageNet head
 * the map drops. Without `conv1.weight` when `dropStem`.
 */
async function encoderCheckpoint(path: string, seed: number, dropStem = false): Promise<Map<string, Float32Array>> {
  const net = createSegmentationModel({ ...tiny, inChannels: 1 }, { rng: Rng.fromSeed(seed) });
  if (!(net instanceof EncoderDecoderModel)) throw new Error('not an encoder-decoder model');
  const state = torchStateDict(net.encoder);
  disposeModule(net);
  if (dropStem) state.delete('conv1.weight');
  await writeSafetensors(path, [
    ...[...state].map(([name, t]) => ({ name, shape: t.shape, data: t.data })),
    { name: 'fc.weight', shape: [10, 32], data: new Float32Array(320) },
    { name: 'fc.bias', shape: [10], data: new Float32Array(10) },
  ]);
  return new Map([...state].map(([name, t]) => [name, t.data]));
}

describe('trainSegmentation init (ImageNet weights into the encoder)', () => {
  const stopAtStart = (runDir: string) => (e: { type: string }) => {
    // Stop before the first step: the checkpoint (and the returned model) hold the weights after init.
    if (e.type === 'run-start')
      appendFileSync(join(runDir, 'control.jsonl'), `${JSON.stringify({ id: 'stop-0', command: 'stop', time: Date.now() })}\n`);
  };

  it('loads the file into the encoder before the first step, records its SHA-256 in the config and run-start; a resume with another file is refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-seg-init-'));
    const file = join(dir, 'resnet34.safetensors');
    const want = await encoderCheckpoint(file, 11);
    const sha256 = sha256Hex(await readFile(file));
    const runDir = join(dir, 'run');
    const warnings: string[] = [];
    const started = await trainSegmentation({
      ...common(),
      runDir,
      init: { path: file, sha256: `sha256:${sha256.toUpperCase()}` },
      onEvent: stopAtStart(runDir),
      onWarning: (m) => warnings.push(m),
    });
    expect(started.stopped).toBe(true);
    expect(started.pretrained).toMatchObject({
      path: file,
      sha256,
      map: 'torchvision-resnet34',
      dropped: ['fc.weight', 'fc.bias'],
    });
    expect(started.pretrained?.stem).toBe('loaded');
    expect(started.pretrained?.report.loaded.length).toBe(want.size);
    expect(warnings).toEqual([]);
    const encoder = (started.model as EncoderDecoderModel).encoder;
    const got = torchStateDict(encoder);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [name, data] of want) expect(got.get(name)?.data, name).toEqual(data);
    const events = await readLog(runDir);
    expect(events[0]).toMatchObject({
      type: 'run-start',
      config: { init: { sha256, map: 'torchvision-resnet34' } },
      runtime: { init: file },
    });
    expect(events[0].config.init).toEqual({ sha256, map: 'torchvision-resnet34' });
    const state = JSON.parse(await readFile(join(runDir, 'checkpoints', 'epoch-0', 'state.json'), 'utf8'));
    expect(state.config.init.sha256).toBe(sha256);

    // Another file on resume: refused by the config comparison, before a step.
    const other = join(dir, 'other.safetensors');
    await encoderCheckpoint(other, 12);
    const refused = await trainSegmentation({ ...common(), runDir, init: { path: other } }).catch((e) => e);
    expect(refused).toBeInstanceOf(CovsevInputError);
    expect(refused.message).toMatch(/was written with a different config \(init differ\)/);
    // The same file resumes from the checkpoint (not loaded again) and trains.
    const resumed = await trainSegmentation({ ...common(), runDir, epochs: 2, init: { path: file } });
    expect(resumed.epochsRun).toBe(2);
    expect(resumed.pretrained).toBeUndefined();
    expect((await readLog(runDir)).filter((e) => e.type === 'step').length).toBe(4);
  });

  it('a wrong pin stops before the run folder is written, naming the file; partial reports what it skipped', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-seg-init-bad-'));
    const file = join(dir, 'nostem.safetensors');
    const want = await encoderCheckpoint(file, 13, true);
    const runDir = join(dir, 'run');
    const pin = '0'.repeat(64);
    const refused = await trainSegmentation({ ...common(), runDir, init: { path: file, sha256: pin } }).catch((e) => e);
    expect(refused).toBeInstanceOf(CovsevInputError);
    expect(refused.message).toContain(
      `${file}: SHA-256 mismatch: the file is ${sha256Hex(await readFile(file))}, the run pins ${pin}`,
    );
    expect(existsSync(join(runDir, 'checkpoints'))).toBe(false);
    expect(existsSync(join(runDir, 'events.jsonl'))).toBe(false);

    // Strict: the missing stem is refused before the first step, with nothing saved.
    const strict = await trainSegmentation({ ...common(), runDir, init: { path: file } }).catch((e) => e);
    expect(strict.message).toContain(`${file}: the weights do not fit`);
    expect(strict.message).toContain('missing (in the model, not in the file): conv1.weight');
    expect(existsSync(join(runDir, 'checkpoints'))).toBe(false);

    const partialDir = join(dir, 'partial');
    const warnings: string[] = [];
    const partial = await trainSegmentation({
      ...common(),
      runDir: partialDir,
      init: { path: file, partial: true },
      onEvent: stopAtStart(partialDir),
      onWarning: (m) => warnings.push(m),
    });
    expect(partial.pretrained?.report.missing).toEqual(['conv1.weight']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`${file}: partial load (torchvision-resnet34): ${want.size} tensors loaded, 1 missing`);
    expect(warnings[0]).toContain('missing (in the model, not in the file): conv1.weight');
    expect((await readLog(partialDir))[0].config.init).toMatchObject({ partial: true });
    const got = torchStateDict((partial.model as EncoderDecoderModel).encoder);
    expect(got.get('layer1.0.conv1.weight')?.data).toEqual(want.get('layer1.0.conv1.weight'));
  });
});
