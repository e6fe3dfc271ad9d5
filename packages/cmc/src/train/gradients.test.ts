import {
  fitMicroBatch,
  planMicroBatches,
  sliceVolumes,
  trainingBytesPerVolume,
  type Volume5,
  volumeFromNcdhw,
  WasmHeapError,
} from '@covsev/engine';
import { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { drawMixup } from '../losses/mixup.js';
import { inverseFrequencyWeights } from '../losses/weightedCrossEntropy.js';
import { CmcNetwork } from '../models/cmcNetwork.js';
import { backbonePasses, mapPasses } from './batch.js';
import { cmcGradients } from './gradients.js';
import { lossFromFeatures } from './objective.js';
import { randomView, useWasmBackend } from './randomViews.test-helpers.js';

useWasmBackend();

describe('cmcGradients in micro-batches', () => {
  const backbone = { layers: [1, 1, 1, 1], base: 8, stemWidth: 8, radix: 2 } as const;

  /** Gradients of the same loss taken on one tape over the micro-batched forward passes. */
  function oneTapeGradients(
    model: CmcNetwork,
    batch: Parameters<typeof cmcGradients>[1],
    options: Parameters<typeof cmcGradients>[2],
    microBatch: number,
  ) {
    const n = batch.labels.length;
    const params = model.parameters();
    const plan = planMicroBatches([2 * n, n, n], microBatch);
    const { value, grads } = tf.variableGrads(
      () => {
        const passes = backbonePasses(batch, options.mixup);
        const features = mapPasses(passes, (_, pass) =>
          tf.concat(
            plan
              .filter((mb) => mb.pass === pass)
              .map((mb) =>
                model.features(sliceVolumes(passes[pass] as Volume5, mb.start, mb.count), {
                  training: true,
                  updateStatistics: false,
                }),
              ),
            0,
          ),
        );
        return lossFromFeatures(model, features, batch.labels, options).total;
      },
      params.map((p) => p.variable),
    );
    const out = new Map(
      params.map(({ name, variable }) => [name, Float32Array.from((grads[variable.name] as tf.Tensor).dataSync())]),
    );
    const total = value.dataSync()[0] as number;
    value.dispose();
    for (const g of Object.values(grads)) g.dispose();
    return { grads: out, total };
  }

  for (const microBatch of [2, 3]) {
    it(`gives the gradients of the whole batch's loss with micro-batches of ${microBatch} volume(s)`, () => {
      const rng = Rng.fromSeed(11 + microBatch);
      const model = new CmcNetwork({ backbone, inChannels: 2 }, rng);
      const batch = { views: [randomView(rng), randomView(rng)] as const, labels: [1, 2] };
      const options = {
        alpha: inverseFrequencyWeights([85, 62, 85, 26]),
        mixup: [drawMixup(rng, 2), drawMixup(rng, 2)] as const,
        microBatch,
      };
      const expected = oneTapeGradients(model, batch, options, microBatch);
      const tensors = tf.memory().numTensors;
      const tracked = model.buffers().find((b) => b.name.endsWith('num_batches_tracked')) as { variable: tf.Variable };
      const before = tracked.variable.dataSync()[0] as number;

      const got = cmcGradients(model, batch, options);
      expect(got.total).toBeCloseTo(expected.total, 5);
      expect(Object.keys(got.grads).sort()).toEqual([...expected.grads.keys()].sort());
      for (const [name, want] of expected.grads) {
        const have = (got.grads[name] as tf.Tensor).dataSync();
        const scale = Math.max(...Array.from(want, Math.abs), 1e-12);
        const worst = want.reduce((m, w, i) => Math.max(m, Math.abs(w - (have[i] as number))), 0);
        expect(worst / scale, name).toBeLessThan(1e-4);
      }
      for (const g of Object.values(got.grads)) g.dispose();
      expect(tf.memory().numTensors).toBe(tensors);
      // Running statistics: updated once per micro-batch of the taped pass, never by the probe pass.
      expect((tracked.variable.dataSync()[0] as number) - before).toBe(planMicroBatches([4, 2, 2], microBatch).length);
    });
  }

  it("sizes micro-batches to the wasm heap from a volume's peak bytes in a training pass", () => {
    const rng = Rng.fromSeed(3);
    const model = new CmcNetwork({ backbone, inChannels: 2 }, rng);
    const view = randomView(rng);
    const perVolume = trainingBytesPerVolume(model, view);
    // At least a volume's input and its stem's output ([16, 32, 32, 8] floats) are alive at the peak.
    expect(perVolume).toBeGreaterThan(16 * 64 * 64 * 2 * 4 + 16 * 32 * 32 * 8 * 4);
    const fit = fitMicroBatch(model, view);
    expect(fit).toBe(Math.floor((0.8 * (4 * 1024 ** 3 - tf.memory().numBytes)) / perVolume));

    // A grid 64x as large: measured on a crop (no heap exhaustion), scaled, refused with what fits.
    const huge = volumeFromNcdhw(new Float32Array(2 * 2 * 16 * 512 * 512), [2, 2, 16, 512, 512]);
    const scaled = trainingBytesPerVolume(model, huge);
    expect(scaled / perVolume).toBeGreaterThan(50);
    expect(scaled / perVolume).toBeLessThan(80);
    expect(() => fitMicroBatch(model, huge)).toThrow(WasmHeapError);
    expect(() => fitMicroBatch(model, huge)).toThrow(
      /two volumes .* of 2x16x512x512 needs about .* What would fit: a grid of about 16x\d+x\d+/,
    );
    huge.tensor.dispose();
  });
});
