import { readFileSync } from 'node:fs';
import { buildOnnxModel, initBackend, loadTorchStateDict, OnnxSession, volumeFromNcdhw } from '@covsev/engine';
import { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { CmcNetwork } from './cmcNetwork.js';
import { createResNeSt3d, RESNEST3D_CONFIGS } from './resnest3d.js';

// Made by fixtures/make_model_fixtures.py from the PyTorch twin (bench/reference/cmc_twin.py).
interface ModelFixture {
  backbone: { layers: [number, number, number, number]; base: number; stemWidth: number; radix: number };
  inChannels: number;
  weights: { name: string; shape: number[]; offset: number; length: number }[];
  inputShape: [number, number, number, number, number];
  evalFeatures: number[];
  evalLogits: number[];
  evalProjection: number[];
  trainLogits: number[];
}
const fixture = JSON.parse(readFileSync(new URL('../../fixtures/model_tiny.json', import.meta.url), 'utf8')) as ModelFixture;
const blob = readFileSync(new URL('../../fixtures/model_tiny.bin', import.meta.url));
const values = new Float32Array(blob.buffer, blob.byteOffset, blob.byteLength / 4);

function fixtureInput(): Float32Array {
  const n = fixture.inputShape.reduce((a, b) => a * b, 1);
  // biome-ignore lint/suspicious/noApproximativeNumericConstant: the fixture script's formula, not 1/sqrt(2)
  return Float32Array.from({ length: n }, (_, i) => Math.sin(0.7071 * i) * Math.cos(0.013 * i));
}

function maxAbsDiff(a: ArrayLike<number>, b: readonly number[]): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  return worst;
}

function loadedNetwork(): CmcNetwork {
  const model = new CmcNetwork({ backbone: fixture.backbone, inChannels: fixture.inChannels }, Rng.fromSeed(1));
  const state = new Map(
    fixture.weights.map((w) => [w.name === 'log_vars' ? 'log_vars' : w.name, values.subarray(w.offset, w.offset + w.length)]),
  );
  loadTorchStateDict(model, state);
  return model;
}

beforeAll(async () => {
  await initBackend({ prefer: 'wasm' });
});

describe('CMC network against its PyTorch twin', () => {
  it('eval mode: same features, logits and projections (1e-4)', () => {
    const model = loadedNetwork();
    tf.tidy(() => {
      const x = volumeFromNcdhw(fixtureInput(), fixture.inputShape);
      const f = model.features(x, { training: false });
      expect(maxAbsDiff(f.dataSync(), fixture.evalFeatures)).toBeLessThan(1e-4);
      expect(maxAbsDiff(model.classify(f, { training: false }).dataSync(), fixture.evalLogits)).toBeLessThan(1e-4);
      expect(maxAbsDiff(model.project(f, { training: false }).dataSync(), fixture.evalProjection)).toBeLessThan(1e-4);
    });
  });

  it('train mode (batch statistics): same logits (1e-3)', () => {
    const model = loadedNetwork();
    tf.tidy(() => {
      const x = volumeFromNcdhw(fixtureInput(), fixture.inputShape);
      const logits = model.apply(x, { training: true }) as tf.Tensor;
      expect(maxAbsDiff(logits.dataSync(), fixture.trainLogits)).toBeLessThan(1e-3);
    });
  });

  it('exports to ONNX (batch norm folded) and onnxruntime gives the same logits (1e-4)', async () => {
    const model = loadedNetwork();
    const { bytes, info } = buildOnnxModel(model, fixture.inputShape);
    // Batch norms after convolutions are folded; the one after each split-attention fc1 (a Gemm) stays.
    expect(info.opCounts.BatchNormalization ?? 0).toBe(fixture.backbone.layers.reduce((a, b) => a + b, 0));
    const session = await OnnxSession.create(bytes, { intraOpNumThreads: 1 });
    const out = await session.runSingle(fixtureInput(), fixture.inputShape);
    expect(maxAbsDiff(out.data, fixture.evalLogits)).toBeLessThan(1e-4);
  });
});

describe('ResNeSt3d registry', () => {
  it('builds every registered variant at a tiny input and refuses unknown names', () => {
    for (const name of Object.keys(RESNEST3D_CONFIGS) as (keyof typeof RESNEST3D_CONFIGS)[]) {
      if (name === 'resnest50-3d') continue; // 25 M parameters: built by the benchmark, not here
      const net = createResNeSt3d(name, 2, Rng.fromSeed(3));
      tf.tidy(() => {
        const x = volumeFromNcdhw(new Float32Array(1 * 2 * 16 * 64 * 64), [1, 2, 16, 64, 64]);
        const f = net.apply(x, { training: false }) as tf.Tensor;
        expect(f.shape).toEqual([1, net.outChannels]);
        expect(net.featureMap(x, { training: false })).toMatchObject({ batch: 1, depth: 2 });
      });
    }
    expect(() => createResNeSt3d('resnet' as 'resnest-tiny-3d', 1, Rng.fromSeed(1))).toThrow(
      /unknown ResNeSt3d "resnet"; known: resnest50-3d/,
    );
  });
});
