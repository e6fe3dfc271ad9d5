import { appendFileSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Adam, loadCheckpoint } from '@covsev/engine';
import { makeVolume, Rng, SEVERITY_CLASSES } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { CmcScan } from '../input/cmcScan.js';
import { drawMixup } from '../losses/mixup.js';
import { inverseFrequencyWeights } from '../losses/weightedCrossEntropy.js';
import { CmcNetwork } from '../models/cmcNetwork.js';
import { labelledScan, randomView, useWasmBackend } from './randomViews.test-helpers.js';
import { cmcTrainingSchema } from './runConfig.js';
import { classCounts, trainCmc } from './trainer.js';
import { cmcTrainStep } from './trainStep.js';
import { CMC_VARIANTS, type CmcVariant, resolveCmcVariant, storesCmcVariant } from './variants.js';

useWasmBackend();

const NETWORK = { backbone: { layers: [1, 1, 1, 1], base: 8, stemWidth: 8, radix: 2 } } as const;

const scan = (name: string, label: number, rng: Rng, withMask = true): CmcScan => labelledScan(name, label, rng, withMask);

async function readLog(dir: string) {
  return (await readFile(join(dir, 'events.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

describe('Table 3 variants', () => {
  it('resolves the variant and its channels, refusing a contradiction; stores it only where inChannels does not imply it', () => {
    expect(resolveCmcVariant({})).toEqual({ variant: 'cmc', inChannels: 1 });
    expect(resolveCmcVariant({ inChannels: 2 })).toEqual({ variant: 'infection-cmc', inChannels: 2 });
    expect(resolveCmcVariant({ variant: 'lung-cmc' })).toEqual({ variant: 'lung-cmc', inChannels: 2 });
    expect(resolveCmcVariant({ variant: 'resnest', inChannels: 1 })).toEqual({ variant: 'resnest', inChannels: 1 });
    expect(() => resolveCmcVariant({ variant: 'cmc', inChannels: 2 })).toThrow(
      /variant 'cmc' \(CMC\) takes CT alone, 1 input channel\(s\), but inChannels is 2/,
    );
    expect(() => resolveCmcVariant({ variant: 'infection-cmc', inChannels: 1 })).toThrow(
      /takes \[infection mask, CT\], 2 input channel\(s\), but inChannels is 1/,
    );
    expect(CMC_VARIANTS.filter(storesCmcVariant)).toEqual(['resnest', 'mixup', 'lung-cmc']);
    const training = { network: { backbone: 'resnest-tiny-3d' }, epochs: 1, batchSize: 2, seed: 1 };
    expect(cmcTrainingSchema.safeParse({ ...training, variant: 'mixup' }).success).toBe(true);
    const bad = cmcTrainingSchema.safeParse({ ...training, variant: 'mixup', inChannels: 2 });
    expect(bad.error?.issues[0]?.path).toEqual(['inChannels']);
    expect(bad.error?.issues[0]?.message).toMatch(/variant 'mixup'/);
    expect(cmcTrainingSchema.safeParse({ ...training, variant: 'vit' }).error?.issues[0]?.path).toEqual(['variant']);
    // The CE reduction: 'mean' (default) or 'weighted-mean'; nothing else.
    expect(cmcTrainingSchema.safeParse({ ...training, ceReduction: 'weighted-mean' }).success).toBe(true);
    expect(cmcTrainingSchema.safeParse({ ...training, ceReduction: 'sum' }).error?.issues[0]?.path).toEqual(['ceReduction']);
  });

  it('trains each variant one step; the step event records the terms the variant computes', async () => {
    const rng = Rng.fromSeed(3);
    const train = [0, 1, 2, 3].map((l) => scan(`ct_scan_${l}`, l, rng));
    const keys: Record<CmcVariant, string[]> = {
      resnest: ['total', 'classification'],
      mixup: ['total', 'mixup', 'classification'],
      cmc: ['total', 'contrastive', 'mixup', 'classification', 'weightContrastive', 'weightClassification'],
      'lung-cmc': ['total', 'contrastive', 'mixup', 'classification', 'weightContrastive', 'weightClassification'],
      'infection-cmc': ['total', 'contrastive', 'mixup', 'classification', 'weightContrastive', 'weightClassification'],
    };
    for (const variant of CMC_VARIANTS) {
      const runDir = await mkdtemp(join(tmpdir(), `covsev-cmc-${variant}-`));
      await trainCmc({ runDir, train, network: NETWORK, variant, epochs: 1, batchSize: 4, seed: 2, microBatch: 'off' });
      const events = await readLog(runDir);
      const start = events[0];
      const steps = events.filter((e) => e.type === 'step');
      expect(steps, variant).toHaveLength(1);
      const losses = steps[0].losses;
      expect(Object.keys(losses), variant).toEqual(keys[variant]);
      for (const v of Object.values(losses)) expect(Number.isFinite(v), variant).toBe(true);
      if (variant === 'resnest') expect(losses.total).toBeCloseTo(losses.classification, 6);
      if (variant === 'mixup') expect(losses.total).toBeCloseTo(losses.mixup + losses.classification, 5);
      // Before the first step s1 = s2 = 0: eq. (8) is the plain sum.
      if (keys[variant].includes('contrastive'))
        expect(losses.total).toBeCloseTo(losses.contrastive + losses.mixup + losses.classification, 4);
      const channels = variant.endsWith('-cmc') ? 2 : 1;
      expect(start.config.inChannels, variant).toBe(channels);
      expect(start.config.variant, variant).toBe(storesCmcVariant(variant) ? variant : undefined);
      if (variant === 'cmc') {
        // The default's stored config is the one stored before variants existed.
        expect(JSON.stringify(start.config)).toBe(
          `{"network":${JSON.stringify(NETWORK)},"inChannels":1,"batchSize":4,"lr":0.0001,"scans":4,"workers":0,"microBatch":"off"}`,
        );
        expect(start.model).toBe('ResNeSt-3D [1, 1, 1, 1], base 8, 1 channel(s)');
      }
      if (variant === 'mixup') expect(start.model).toBe('ResNeSt-3D [1, 1, 1, 1], base 8, 1 channel(s), ResNeSt + mixup');
      if (variant === 'lung-cmc') expect(start.model).toBe('ResNeSt-3D [1, 1, 1, 1], base 8, 2 channel(s), lung-aware CMC');
    }
  });

  it('resnest and mixup train in micro-batches and on gradient workers to the losses of one tape', async () => {
    const rng = Rng.fromSeed(8);
    const train = [0, 1, 2, 3].map((l) => scan(`ct_scan_${l}`, l, rng, false));
    for (const variant of ['resnest', 'mixup'] as const) {
      const losses = async (microBatch: number | 'off', workers: number) => {
        const runDir = await mkdtemp(join(tmpdir(), `covsev-cmc-${variant}-mb-`));
        await trainCmc({ runDir, train, network: NETWORK, variant, epochs: 1, batchSize: 2, seed: 5, microBatch, workers });
        return (await readLog(runDir)).filter((e) => e.type === 'step').map((e) => e.losses.total as number);
      };
      const cut = await losses(2, 0);
      const parallel = await losses(2, 2);
      expect(cut, variant).toHaveLength(2);
      cut.forEach((loss, i) => expect(parallel[i], variant).toBeCloseTo(loss, 4));
    }
  });

  it('refuses a mask variant without masks, a contradicting inChannels, and a class without a training scan', async () => {
    const rng = Rng.fromSeed(4);
    const train = [0, 1, 2, 3].map((l) => scan(`ct_scan_${l}`, l, rng, l !== 2));
    const common = { runDir: '/tmp/covsev-never', train, network: NETWORK, epochs: 1, batchSize: 2, seed: 1 };
    await expect(trainCmc({ ...common, variant: 'lung-cmc' })).rejects.toThrow(
      /variant 'lung-cmc' \(lung-aware CMC\) takes \[lung mask, CT\]: every scan needs its lung mask .*scan ct_scan_2 has none/,
    );
    await expect(trainCmc({ ...common, variant: 'infection-cmc' })).rejects.toThrow(/scan ct_scan_2 has none/);
    await expect(trainCmc({ ...common, inChannels: 2 })).rejects.toThrow(/every scan needs its infection mask/);
    await expect(trainCmc({ ...common, variant: 'resnest', inChannels: 2 })).rejects.toThrow(/but inChannels is 2/);
    const withMasks = [0, 1, 2, 3].map((l) => scan(`ct_scan_${l}`, l, rng));
    const [first, ...rest] = withMasks as [CmcScan, ...CmcScan[]];
    const misfit = { ...first, mask: makeVolume({ data: new Uint8Array(8), shape: [2, 2, 2], intensity: 'label' }) };
    await expect(trainCmc({ ...common, train: [misfit, ...rest], variant: 'infection-cmc' })).rejects.toThrow(
      /scan ct_scan_0: its infection mask is 2x2x2 but its CT is \d+x\d+x\d+; put the mask on the classifier grid first/,
    );
    const twoClasses = [0, 0, 2, 2].map((l, i) => scan(`s${i}`, l, rng));
    await expect(trainCmc({ ...common, train: twoClasses })).rejects.toThrow(
      /no training scan of class Moderate, Critical \(counts Mild 2, Moderate 0, Severe 2, Critical 0\).*emptyClasses: 'weight-one'/,
    );
    expect(classCounts([0, 0, 2, 2], 'weight-one')).toEqual([2, 1, 2, 1]);
    expect(classCounts([0, 1, 2, 3, 3])).toEqual([1, 1, 1, 2]);
    // alpha never divides by zero: a zero count is refused, by the class's name.
    expect(() => inverseFrequencyWeights([3, 0, 2, 1], SEVERITY_CLASSES)).toThrow(
      /class counts must all be > 0, got \[3, 0, 2, 1\]: no scan of Moderate/,
    );
    expect(() => inverseFrequencyWeights([3, 0])).toThrow(/no scan of class 1/);
  });
});

describe('a loss that is not finite', () => {
  it('cmcTrainStep throws before the optimiser step: the weights stay, no tensor leaks', () => {
    const rng = Rng.fromSeed(5);
    const model = new CmcNetwork({ ...NETWORK, inChannels: 2 }, rng);
    const optimizer = new Adam(new Map(model.parameters().map(({ name, variable }) => [name, variable])), { lr: 1e-3 });
    const good = randomView(rng);
    const other = randomView(rng);
    const before = model.parameters().map(({ variable }) => variable.dataSync().slice());
    tf.tidy(() => model.features(good, { training: false }));
    const tensors = tf.memory().numTensors;
    const batch = { views: [good, other] as const, labels: [0, 3] };
    // A NaN class weight (NaN voxels do not do: ReLU on wasm turns NaN into 0).
    const alpha = [Number.NaN, 0.25, 0.25, 0.25];
    expect(() =>
      cmcTrainStep(model, optimizer, batch, { alpha, mixup: [drawMixup(rng, 2), drawMixup(rng, 2)], microBatch: 'off' }),
    ).toThrow(
      /the loss is not finite \(total, classification not finite: total NaN, contrastive [0-9.]+, mixup [0-9.]+, classification NaN\); the optimiser step was not applied/,
    );
    expect(tf.memory().numTensors).toBe(tensors);
    expect(optimizer.stepCount).toBe(0);
    model.parameters().forEach(({ name, variable }, i) => expect(variable.dataSync(), name).toEqual(before[i]));
  });

  it('stops trainCmc with the step and terms, and latest.json keeps the last good checkpoint', async () => {
    const rng = Rng.fromSeed(6);
    const train = [0, 1, 2, 3].map((l) => scan(`ct_scan_${l}`, l, rng, false));
    const runDir = await mkdtemp(join(tmpdir(), 'covsev-cmc-nan-'));
    // An absurd learning rate: the first step's update blows the weights up, the second step's loss is NaN.
    const run = trainCmc({
      runDir,
      train,
      network: NETWORK,
      epochs: 1,
      batchSize: 2,
      seed: 3,
      lr: 1e30,
      microBatch: 'off',
      onEvent: (e) => {
        if (e.type === 'step' && e.step === 0)
          appendFileSync(
            join(runDir, 'control.jsonl'),
            `${JSON.stringify({ id: 'c1', command: 'checkpoint', time: Date.now() })}\n`,
          );
      },
    });
    await expect(run).rejects.toThrow(
      /training stopped: the loss is not finite at epoch 1, step 2 \(.*total.* not finite: total (NaN|-?Infinity), contrastive .*; the optimiser step was not applied; no checkpoint of these weights is written/,
    );
    const events = await readLog(runDir);
    expect(events.map((e) => e.type)).toEqual(['run-start', 'step', 'checkpoint', 'control', 'error']);
    expect(events[4]).toMatchObject({ name: 'NonFiniteLossError', epoch: 0, step: 1 });
    const latest = JSON.parse(await readFile(join(runDir, 'checkpoints', 'latest.json'), 'utf8'));
    expect(latest.path).toBe('epoch-0-step-1');
    const checkpoint = await loadCheckpoint(join(runDir, 'checkpoints', latest.path));
    for (const [name, t] of checkpoint.weights)
      expect(Array.from(t.data as Float32Array).every(Number.isFinite), name).toBe(true);
  });
});
