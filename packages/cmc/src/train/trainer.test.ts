import { appendFileSync } from 'node:fs';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  batchNormLayers,
  disposeModule,
  initBackend,
  type SafetensorsInput,
  sha256Hex,
  torchStateDict,
  writeSafetensors,
} from '@covsev/engine';
import { CovsevInputError, Rng } from '@covsev/io';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CmcScan } from '../input/cmcScan.js';
import { scansToInput } from '../input/modelInput.js';
import { CmcNetwork } from '../models/cmcNetwork.js';
import { resnestKey, resnestSourceKey } from '../models/pretrained.js';
import { predictCmc } from '../predict/predict.js';
import { labelledScan } from './randomViews.test-helpers.js';
import { describeCmcModel, recalibrateCmcStatistics, trainCmc } from './trainer.js';

const scan = (name: string, label: number, rng: Rng, withMask = false): CmcScan => labelledScan(name, label, rng, withMask);

beforeAll(async () => {
  await initBackend({ prefer: 'wasm' });
});

describe('trainCmc', () => {
  it('trains with events and checkpoints, validates with Macro F1, and resumes where it stopped', async () => {
    const rng = Rng.fromSeed(2);
    const train = [0, 1, 2, 3].map((l) => scan(`ct_scan_${l}`, l, rng));
    const val = [scan('ct_scan_8', 0, rng), scan('ct_scan_9', 3, rng)];
    const runDir = await mkdtemp(join(tmpdir(), 'covsev-cmc-run-'));
    const common = {
      runDir,
      train,
      val,
      network: { backbone: { layers: [1, 1, 1, 1], base: 8, stemWidth: 8, radix: 2 } as const },
      inChannels: 1 as const,
      batchSize: 2,
      seed: 4,
    };
    const first = await trainCmc({ ...common, epochs: 1 });
    expect(first.epochsRun).toBe(1);
    const events = (await readFile(join(runDir, 'events.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.map((e) => e.type)).toEqual(['run-start', 'step', 'step', 'epoch', 'checkpoint', 'run-end']);
    expect(events[0].backendInfo).toMatch(/^covsev engine: wasm \(SIMD, 1 thread/);
    const epoch = events.find((e) => e.type === 'epoch');
    expect(epoch.metrics.valMacroF1).toBeGreaterThanOrEqual(0);
    expect(epoch.metrics.valMacroF1).toBeLessThanOrEqual(1);
    expect(Number.isFinite(events[1].losses.contrastive)).toBe(true);
    const second = await trainCmc({ ...common, epochs: 2 });
    expect(second.epochsRun).toBe(1);
    const all = (await readFile(join(runDir, 'events.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(all.filter((e) => e.type === 'run-start')[1].resumedFrom).toMatch(/epoch-1/);
    expect((await stat(join(runDir, 'checkpoints'))).isDirectory()).toBe(true);
    const probs = predictCmc(second.model, val, 1);
    expect(probs).toHaveLength(2);
    for (const p of probs) expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });

  it('recomputes the batch-norm statistics over the training scans each epoch when asked (precise BN; off by default)', async () => {
    const rng = Rng.fromSeed(3);
    const train = [0, 1, 2, 3, 0].map((l, i) => scan(`ct_scan_${i}`, l, rng));
    const common = {
      train,
      network: { backbone: { layers: [1, 1, 1, 1], base: 8, stemWidth: 8, radix: 2 } as const },
      inChannels: 1 as const,
      batchSize: 2,
      seed: 5,
      epochs: 1,
    };
    const statistics = (model: CmcNetwork) =>
      batchNormLayers(model).flatMap((b) => [...b.runningMean.dataSync(), ...b.runningVar.dataSync()]);
    const preciseDir = await mkdtemp(join(tmpdir(), 'covsev-cmc-precise-'));
    const precise = await trainCmc({ ...common, runDir: preciseDir, preciseBatchNorm: true });
    const preciseStart = JSON.parse((await readFile(join(preciseDir, 'events.jsonl'), 'utf8')).split('\n')[0] as string);
    expect(preciseStart.config.preciseBatchNorm).toBe(true);
    const stored = statistics(precise.model);
    // The same weights, the statistics recomputed here: passes of 2, 2 and 1 scans; the last,
    // of one scan, is left out (batch norm needs two values).
    expect(recalibrateCmcStatistics(precise.model, train, 1, 2)).toBe(2);
    const recomputed = statistics(precise.model);
    expect(stored.length).toBeGreaterThan(0);
    stored.forEach((v, i) => {
      expect(v).toBeCloseTo(recomputed[i] as number, 4);
    });
    // Off (the default): the statistics are training's exponential average; only "on" is stored.
    const runDir = await mkdtemp(join(tmpdir(), 'covsev-cmc-momentum-'));
    const plain = await trainCmc({ ...common, runDir });
    const start = JSON.parse((await readFile(join(runDir, 'events.jsonl'), 'utf8')).split('\n')[0] as string);
    expect(start.config.preciseBatchNorm).toBeUndefined();
    const before = statistics(plain.model);
    recalibrateCmcStatistics(plain.model, train, 1, 2);
    const after = statistics(plain.model);
    expect(Math.max(...before.map((v, i) => Math.abs(v - (after[i] as number))))).toBeGreaterThan(1e-3);
  });

  it('trains on worker threads (gradients, views) to the same losses as on this thread', async () => {
    const rng = Rng.fromSeed(7);
    const train = [0, 1, 2, 3].map((l) => scan(`ct_scan_${l}`, l, rng));
    const common = {
      train,
      network: { backbone: { layers: [1, 1, 1, 1], base: 8, stemWidth: 8, radix: 2 } as const },
      inChannels: 1 as const,
      batchSize: 2,
      seed: 9,
      epochs: 1,
      microBatch: 2,
    };
    const stepLosses = async (workers: number, viewWorkers = 0) => {
      const runDir = await mkdtemp(join(tmpdir(), `covsev-cmc-workers-${workers}-`));
      await trainCmc({ ...common, runDir, workers, viewWorkers });
      const events = (await readFile(join(runDir, 'events.jsonl'), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(events[0].runtime).toEqual({ workers, viewWorkers });
      return events.filter((e) => e.type === 'step').map((e) => e.losses.total as number);
    };
    const serial = await stepLosses(0);
    const parallel = await stepLosses(2);
    expect(parallel).toHaveLength(2);
    // Views made ahead by a pool of view workers are the same bytes: the same losses, exactly.
    expect(await stepLosses(0, 2)).toEqual(serial);
    // The second step starts from weights the first step's gradients moved: equal gradients, equal losses.
    parallel.forEach((loss, i) => expect(loss).toBeCloseTo(serial[i] as number, 4));
  });

  it('gives the same model with 0 and 2 gradient workers (the split is the run config, not the machine)', async () => {
    const rng = Rng.fromSeed(3);
    const train = [0, 1, 2, 3].map((l) => scan(`ct_scan_${l}`, l, rng));
    const weightsAfter = async (workers: number) => {
      const runDir = await mkdtemp(join(tmpdir(), `covsev-cmc-split-${workers}-`));
      // The default microBatch ('auto'): the demo's setting, on which the worker count used to
      // decide the batch-norm batches.
      const { model } = await trainCmc({
        train,
        runDir,
        workers,
        network: { backbone: { layers: [1, 1, 1, 1], base: 8, stemWidth: 8, radix: 2 } },
        inChannels: 1,
        batchSize: 2,
        seed: 4,
        epochs: 1,
      });
      return new Map(
        [...model.parameters(), ...model.buffers()].map(({ name, variable }) => [name, Float32Array.from(variable.dataSync())]),
      );
    };
    const serial = await weightsAfter(0);
    const parallel = await weightsAfter(2);
    expect([...parallel.keys()]).toEqual([...serial.keys()]);
    for (const [name, want] of serial) {
      const have = parallel.get(name) as Float32Array;
      let scale = 1e-6;
      let worst = 0;
      for (let i = 0; i < want.length; i++) {
        scale = Math.max(scale, Math.abs(want[i] as number));
        worst = Math.max(worst, Math.abs((want[i] as number) - (have[i] as number)));
      }
      expect(worst / scale, name).toBeLessThan(1e-3);
    }
  });

  it('stopped mid-epoch through control.jsonl (views drawn ahead by workers) and resumed, ends with the weights and step losses of an uninterrupted run', async () => {
    const rng = Rng.fromSeed(5);
    const train = [0, 1, 2, 3, 0, 2].map((l, i) => scan(`ct_scan_${i}`, l, rng));
    const val = [scan('ct_scan_8', 0, rng), scan('ct_scan_9', 3, rng)];
    const common = {
      train,
      val,
      network: { backbone: { layers: [1, 1, 1, 1], base: 8, stemWidth: 8, radix: 2 } as const },
      inChannels: 1 as const,
      batchSize: 2,
      seed: 11,
      epochs: 1,
      microBatch: 2,
    };
    const readLog = async (dir: string) =>
      (await readFile(join(dir, 'events.jsonl'), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
    const weights = (model: { parameters(): { name: string; variable: { dataSync(): ArrayLike<number> } }[] }) =>
      new Map(model.parameters().map(({ name, variable }) => [name, Float32Array.from(variable.dataSync())]));
    const stepLosses = (events: { type: string; globalStep: number; losses: unknown }[]) =>
      events.filter((e) => e.type === 'step').map((e) => [e.globalStep, e.losses]);

    const refDir = await mkdtemp(join(tmpdir(), 'covsev-cmc-ref-'));
    const reference = await trainCmc({ ...common, runDir: refDir });
    const want = weights(reference.model);
    const refEvents = await readLog(refDir);

    const runDir = await mkdtemp(join(tmpdir(), 'covsev-cmc-stop-'));
    const stopped = await trainCmc({
      ...common,
      runDir,
      viewWorkers: 2,
      onEvent: (e) => {
        if (e.type === 'step' && e.step === 0)
          appendFileSync(
            join(runDir, 'control.jsonl'),
            `${JSON.stringify({ id: 'stop-1', command: 'stop', time: Date.now() })}\n`,
          );
      },
    });
    expect(stopped.epochsRun).toBe(0);
    const first = await readLog(runDir);
    expect(first.map((e) => e.type)).toEqual(['run-start', 'step', 'checkpoint', 'control', 'run-end']);
    expect(first[2]).toMatchObject({ epoch: 0, step: 1, path: join(runDir, 'checkpoints', 'epoch-0-step-1') });
    expect(first[4]).toMatchObject({ stopped: true });
    const state = JSON.parse(await readFile(join(runDir, 'checkpoints', 'epoch-0-step-1', 'state.json'), 'utf8'));
    expect(state.trainerState.order).toHaveLength(6);
    expect(state.trainerState.ahead).toMatchObject({ step: 1, params: expect.any(Array) });

    // Resumed on this thread: the order and the views drawn ahead come from the checkpoint.
    const resumed = await trainCmc({ ...common, runDir });
    expect(resumed.epochsRun).toBe(1);
    const have = weights(resumed.model);
    for (const [name, w] of want) expect(have.get(name), name).toEqual(w);
    const all = await readLog(runDir);
    expect(stepLosses(all)).toEqual(stepLosses(refEvents));

    // The richer events: model, kind, config hash, samples and memory, per-class report, best.
    const start = refEvents[0];
    expect(start).toMatchObject({ model: describeCmcModel(common.network, 1), kind: 'classifier' });
    expect(start.model).toBe('ResNeSt-3D [1, 1, 1, 1], base 8, 1 channel(s)');
    expect(start.configHash).toMatch(/^[0-9a-f]{64}$/);
    const step = refEvents.find((e) => e.type === 'step');
    expect(step.samples).toBe(4);
    expect(step.memory.wasmHeap).toBeGreaterThan(0);
    expect(step.memory.tensors).toBeGreaterThan(0);
    expect(Object.keys(step.losses)).toEqual(
      expect.arrayContaining(['total', 'contrastive', 'classification', 'weightContrastive', 'weightClassification']),
    );
    const epoch = refEvents.find((e) => e.type === 'epoch');
    expect(epoch.report.classNames).toEqual(['Mild', 'Moderate', 'Severe', 'Critical']);
    expect(epoch.report.perClassF1).toHaveLength(4);
    expect(epoch.report.confusion.flat().reduce((a: number, b: number) => a + b, 0)).toBe(2);
    expect(epoch.metrics.valLoss).toBeGreaterThan(0);
    expect(epoch.best).toEqual({
      epoch: 0,
      metric: 'valMacroF1',
      value: epoch.metrics.valMacroF1,
      path: join(refDir, 'checkpoints', 'best'),
    });
    expect((await stat(join(refDir, 'checkpoints', 'best', 'weights.bin'))).isFile()).toBe(true);
  });

  it('builds [mask, CT] inputs scaled as the method, and refuses bad batches', () => {
    const rng = Rng.fromSeed(1);
    const s = scan('a', 2, rng, true);
    const x = scansToInput([s], 2);
    expect(x.tensor.shape).toEqual([16, 64, 64, 2]);
    const values = x.tensor.dataSync();
    expect(values[0]).toBe(s.mask?.data[0] ? 1 : 0);
    expect(values[1]).toBeCloseTo(((s.image.data[0] as number) / 255 - 0.3529) / 0.2983, 5);
    expect(() => scansToInput([{ image: s.image }], 2)).toThrow(/no infection mask/);
    return expect(
      trainCmc({
        runDir: '/tmp/x',
        train: [s],
        network: { backbone: 'resnest-tiny-3d' },
        inChannels: 1,
        epochs: 1,
        batchSize: 1,
        seed: 1,
      }),
    ).rejects.toThrow(/batchSize must be at least 2/);
  });
});

const TINY_BACKBONE = { layers: [1, 1, 1, 1], base: 8, stemWidth: 8, radix: 2 } as const;
/**
 * A ResNeSt-release-named checkpoint of the tiny backbone: a fresh network's backbone (seed
 * `seed`) in PyTorch's 2D layout (1 x k x k kernels as k x k), plus the ImageNet head the map
 * drops; `edit` changes the tensor list. Returns the values by covsev name.
 */
async function resnestCheckpoint(
  path: string,
  seed: number,
  edit: (tensors: SafetensorsInput[]) => SafetensorsInput[] = (t) => t,
): Promise<Map<string, Float32Array>> {
  const net = new CmcNetwork({ backbone: TINY_BACKBONE, inChannels: 1 }, Rng.fromSeed(seed));
  const state = torchStateDict(net.backbone);
  disposeModule(net);
  const tensors: SafetensorsInput[] = [...state].map(([name, t]) => {
    expect(resnestKey(resnestSourceKey(name)), name).toBe(name);
    return { name: resnestSourceKey(name), shape: t.shape, data: t.data };
  });
  tensors.push({ name: 'fc.weight', shape: [1000, 64], data: new Float32Array(64_000) });
  await writeSafetensors(path, edit(tensors));
  return new Map([...state].map(([name, t]) => [name, t.data]));
}

describe('trainCmc init (ImageNet ResNeSt weights into the 3D backbone)', () => {
  const rng = Rng.fromSeed(6);
  const train = [0, 1, 2, 3].map((l) => scan(`ct_scan_${l}`, l, rng));
  const common = { train, network: { backbone: TINY_BACKBONE }, inChannels: 1 as const, batchSize: 2, seed: 4, epochs: 1 };
  const stopAtStart = (runDir: string) => (e: { type: string }) => {
    // Stop before the first step: the returned model holds the weights after init.
    if (e.type === 'run-start')
      appendFileSync(join(runDir, 'control.jsonl'), `${JSON.stringify({ id: 'stop-0', command: 'stop', time: Date.now() })}\n`);
  };
  const runStart = async (runDir: string) =>
    JSON.parse((await readFile(join(runDir, 'events.jsonl'), 'utf8')).split('\n')[0] as string);

  it('loads the inflated file into the backbone before the first step, records its SHA-256; a resume with another file is refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-cmc-init-'));
    const file = join(dir, 'resnest50.safetensors');
    const want = await resnestCheckpoint(file, 21);
    const sha256 = sha256Hex(await readFile(file));
    const runDir = join(dir, 'run');
    const warnings: string[] = [];
    const started = await trainCmc({
      ...common,
      runDir,
      init: { path: file, sha256 },
      onEvent: stopAtStart(runDir),
      onWarning: (m) => warnings.push(m),
    });
    expect(started.stopped).toBe(true);
    expect(started.pretrained).toMatchObject({ sha256, map: 'resnest50', dropped: ['fc.weight'], stem: 'loaded' });
    expect(warnings).toEqual([]);
    const got = torchStateDict(started.model.backbone);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [name, data] of want) expect(got.get(name)?.data, name).toEqual(data);
    const start = await runStart(runDir);
    expect(start.config.init).toEqual({ sha256, map: 'resnest50' });
    expect(start.runtime).toEqual({ workers: 0, viewWorkers: 0, init: file });

    const other = join(dir, 'other.safetensors');
    await resnestCheckpoint(other, 22);
    const refused = await trainCmc({ ...common, runDir, init: { path: other } }).catch((e) => e);
    expect(refused).toBeInstanceOf(CovsevInputError);
    expect(refused.message).toMatch(/was written with a different config \(init differ\)/);
    const resumed = await trainCmc({ ...common, runDir, init: { path: file } });
    expect(resumed.epochsRun).toBe(1);
    expect(resumed.pretrained).toBeUndefined();
  });

  it('a wrong pin stops before the run folder is written; partial reports the skipped tensors; the mean stem is recorded', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-cmc-init-bad-'));
    const file = join(dir, 'rgb.safetensors');
    // The release's RGB 3 x 3 stem, and a tensor covsev has no layer for.
    const want = await resnestCheckpoint(file, 23, (tensors) =>
      tensors
        .map((t) =>
          t.name === 'conv1.0.weight'
            ? { ...t, shape: [t.shape[0] as number, 3, 3, 3], data: new Float32Array((t.shape[0] as number) * 27).fill(0.5) }
            : t,
        )
        .concat([{ name: 'layer1.0.extra', shape: [2], data: [1, 2] }]),
    );
    const runDir = join(dir, 'run');
    const pin = 'f'.repeat(64);
    const refused = await trainCmc({ ...common, runDir, init: { path: file, sha256: pin } }).catch((e) => e);
    expect(refused).toBeInstanceOf(CovsevInputError);
    expect(refused.message).toContain(
      `${file}: SHA-256 mismatch: the file is ${sha256Hex(await readFile(file))}, the run pins ${pin}`,
    );
    await expect(stat(runDir)).rejects.toThrow(/ENOENT/);

    const warnings: string[] = [];
    const partial = await trainCmc({
      ...common,
      runDir,
      init: { path: file, partial: true, stemInit: 'mean' },
      onEvent: stopAtStart(runDir),
      onWarning: (m) => warnings.push(m),
    });
    expect(partial.pretrained?.report.unexpected).toEqual(['layers.0.0.extra']);
    expect(partial.pretrained?.stem).toBe('mean');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`${file}: partial load (resnest50)`);
    expect(warnings[0]).toContain('unexpected (in the file, not in the model): layers.0.0.extra');
    const got = torchStateDict(partial.model.backbone);
    // The mean of an all-0.5 RGB 3 x 3 kernel, centred in the 7 x 7 stem: 0.5 inside, 0 around.
    const stem = got.get('stem.0.weight')?.data as Float32Array;
    expect(stem[3 * 7 + 3]).toBeCloseTo(0.5, 6);
    expect(stem[0]).toBe(0);
    expect(got.get('layers.3.0.conv1.weight')?.data).toEqual(want.get('layers.3.0.conv1.weight'));
    expect((await runStart(runDir)).config.init).toMatchObject({ partial: true, stemInit: 'mean' });
  });
});
