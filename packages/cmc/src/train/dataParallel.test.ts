import { initBackend, type Volume5, volumeFromNcdhw } from '@covsev/engine';
import { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drawMixup } from '../losses/mixup.js';
import { inverseFrequencyWeights } from '../losses/weightedCrossEntropy.js';
import { CmcNetwork } from '../models/cmcNetwork.js';
import { CmcDataParallel } from './dataParallel.js';
import { cmcGradients } from './gradients.js';
import { cmcTrainStep } from './trainStep.js';

const SHAPE = [2, 2, 16, 64, 64] as const;
const backbone = { layers: [1, 1, 1, 1], base: 8, stemWidth: 8, radix: 2 } as const;

function randomView(rng: Rng): Volume5 {
  return volumeFromNcdhw(
    Float32Array.from({ length: SHAPE.reduce((a, b) => a * b, 1) }, () => rng.normal()),
    SHAPE,
  );
}

function flatGrads(grads: Record<string, tf.Tensor>): Map<string, Float32Array> {
  const out = new Map(Object.entries(grads).map(([name, g]) => [name, Float32Array.from(g.dataSync())]));
  for (const g of Object.values(grads)) g.dispose();
  return out;
}

function worstRelative(want: Float32Array, have: Float32Array): number {
  let scale = 1e-12;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i] as number));
    worst = Math.max(worst, Math.abs((want[i] as number) - (have[i] as number)));
  }
  return worst / scale;
}

let rng: Rng;
let model: CmcNetwork;
let parallel: CmcDataParallel;

beforeAll(async () => {
  await initBackend({ prefer: 'wasm', log: false });
  rng = Rng.fromSeed(21);
  model = new CmcNetwork({ backbone, inChannels: 2 }, rng);
  parallel = await CmcDataParallel.start(model, { workers: 2 });
});

afterAll(async () => {
  await parallel.close();
});

describe('CmcDataParallel', () => {
  it('gives the gradients and running statistics of the same step on this thread, whatever the split', () => {
    const batch = { views: [randomView(rng), randomView(rng)] as const, labels: [2, 0] };
    const options = { alpha: inverseFrequencyWeights([85, 62, 85, 26]), mixup: [drawMixup(rng, 2), drawMixup(rng, 2)] as const };
    const buffers = () => new Map(model.buffers().map(({ name, variable }) => [name, Float32Array.from(variable.dataSync())]));
    const restore = (values: Map<string, Float32Array>) => {
      for (const { name, variable } of model.buffers())
        tf.tidy(() => variable.assign(tf.tensor(values.get(name) as Float32Array, variable.shape)));
    };
    const start = buffers();
    // One eval pass first: the engine's pools probe their kernels once per backend and keep the result.
    tf.tidy(() => model.features(batch.views[0], { training: false }));
    const tensors = tf.memory().numTensors;

    // 'auto' (whole passes here: views 0-3 on one worker, the two mixed passes on the other), then
    // micro-batches of 2 volumes (two per worker, each on its own tape), each against this thread.
    for (const microBatch of ['auto', 2] as const) {
      restore(start);
      const got = parallel.gradients(batch, { ...options, microBatch });
      expect(tf.memory().numTensors - tensors).toBe(Object.keys(got.grads).length);
      const afterParallel = buffers();
      restore(start);
      const want = cmcGradients(model, batch, { ...options, microBatch });
      const serial = buffers();

      expect(got.total, String(microBatch)).toBeCloseTo(want.total, 5);
      expect(got.terms[0]).toBeCloseTo(want.terms[0], 5);
      const a = flatGrads(got.grads);
      const b = flatGrads(want.grads);
      expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
      for (const [name, w] of b) expect(worstRelative(w, a.get(name) as Float32Array), name).toBeLessThan(1e-4);
      // Running statistics: the workers' parts chained in plan order equal this thread's updates.
      const updates = microBatch === 'auto' ? 3 : 4;
      for (const [name, values] of afterParallel) {
        const before = start.get(name) as Float32Array;
        const one = serial.get(name) as Float32Array;
        if (name.endsWith('num_batches_tracked')) {
          expect(values[0], name).toBe((before[0] as number) + updates);
          expect(one[0], name).toBe((before[0] as number) + updates);
        } else {
          expect(
            values.some((v, i) => v !== before[i]),
            name,
          ).toBe(true);
          expect(worstRelative(one, values), `${microBatch} ${name}`).toBeLessThan(1e-4);
        }
      }
    }
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('trains through cmcTrainStep and reports a failing worker with its error', () => {
    const batch = { views: [randomView(rng), randomView(rng)] as const, labels: [1, 3] };
    const options = { alpha: inverseFrequencyWeights([1, 1, 1, 1]), mixup: [drawMixup(rng, 2), drawMixup(rng, 2)] as const };
    const trainable = model.parameters();
    const before = trainable.map(({ variable }) => Float32Array.from(variable.dataSync()));
    const optimizer = new (class {
      steps = 0;
      step(grads: Record<string, tf.Tensor>): void {
        this.steps++;
        expect(Object.keys(grads).length).toBe(trainable.length);
        for (const { name, variable } of trainable) variable.assign(tf.sub(variable, tf.mul(grads[name] as tf.Tensor, 1e-2)));
      }
    })();
    const losses = cmcTrainStep(model, optimizer as never, batch, { ...options, dataParallel: parallel });
    expect(Number.isFinite(losses.total)).toBe(true);
    expect(optimizer.steps).toBe(1);
    expect(trainable.filter(({ variable }, i) => variable.dataSync().every((v, j) => v === before[i]?.[j]))).toEqual([]);

    expect(() => parallel.gradients(batch, { ...options, microBatch: 1 })).toThrow(/whole number >= 2/);
    // A worker that fails says so; the next step runs. ('off': with 'auto' the main thread's heap
    // probe would meet the bad input first.)
    const oneChannel = () => volumeFromNcdhw(new Float32Array(2 * 16 * 64 * 64), [2, 1, 16, 64, 64]);
    expect(() =>
      parallel.gradients({ views: [oneChannel(), oneChannel()], labels: [0, 1] }, { ...options, microBatch: 'off' }),
    ).toThrow(/data-parallel worker \d failed: .*channel/i);
    const again = parallel.gradients(batch, options);
    expect(Number.isFinite(again.total)).toBe(true);
    for (const g of Object.values(again.grads)) g.dispose();
  });
});
