import { Adam } from '@covsev/engine';
import { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { drawMixup } from '../losses/mixup.js';
import { inverseFrequencyWeights } from '../losses/weightedCrossEntropy.js';
import { CmcNetwork } from '../models/cmcNetwork.js';
import { randomView, useWasmBackend } from './randomViews.test-helpers.js';
import { cmcTrainStep } from './trainStep.js';

useWasmBackend();

describe('cmcTrainStep', () => {
  it('joins the losses as eq. (8), moves every parameter, learns a fixed batch, and leaks no tensors', () => {
    const rng = Rng.fromSeed(5);
    const model = new CmcNetwork({ backbone: { layers: [1, 1, 1, 1], base: 8, stemWidth: 8, radix: 2 }, inChannels: 2 }, rng);
    const optimizer = new Adam(new Map(model.parameters().map(({ name, variable }) => [name, variable])), { lr: 1e-3 });
    const batch = { views: [randomView(rng), randomView(rng)] as const, labels: [0, 3] };
    const alpha = inverseFrequencyWeights([85, 62, 85, 26]);
    const before = new Map(model.parameters().map(({ name, variable }) => [name, variable.dataSync().slice()]));
    // One eval pass first: the engine's pools probe their kernels once per backend and keep the result.
    tf.tidy(() => model.features(batch.views[0], { training: false }));
    const tensors = tf.memory().numTensors;

    const first = cmcTrainStep(model, optimizer, batch, { alpha, mixup: [drawMixup(rng, 2), drawMixup(rng, 2)] });
    // s1 = s2 = 0 before the first step: the joint loss is the plain sum.
    expect(first.total).toBeCloseTo(first.contrastive + first.mixup + first.classification, 4);
    for (const v of Object.values(first)) expect(Number.isFinite(v)).toBe(true);
    expect(tf.memory().numTensors).toBe(tensors);
    const unchanged = model.parameters().filter(({ name, variable }) => {
      const old = before.get(name) as Float32Array;
      const now = variable.dataSync();
      return old.every((x, i) => x === now[i]);
    });
    expect(unchanged.map((p) => p.name)).toEqual([]);

    let last = first;
    for (let step = 0; step < 6; step++)
      last = cmcTrainStep(model, optimizer, batch, { alpha, mixup: [drawMixup(rng, 2), drawMixup(rng, 2)] });
    expect(last.classification).toBeLessThan(first.classification);
    expect(last.weightContrastive).not.toBe(1);
    expect(tf.memory().numTensors).toBe(tensors);
  });
});
