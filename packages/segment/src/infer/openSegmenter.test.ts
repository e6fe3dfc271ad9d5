import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@covsev/engine';
import { CovsevInputError, Rng } from '@covsev/io';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCtSegCohort } from '../data/ctSegCohort.js';
import { phantomCtSegCohort } from '../data/phantomCohort.test-helpers.js';
import { OnnxSegmenter } from '../onnx/onnxSegmenter.js';
import { trainSegmentation } from '../train/trainer.js';
import { openSegmenter } from './openSegmenter.js';
import { TfjsSegmenter } from './segmenter.js';

let runDir: string;

beforeAll(async () => {
  await initBackend({ prefer: 'wasm', log: false });
  const scans = await loadCtSegCohort(await phantomCtSegCohort({ scans: 3, size: 64, slices: 8 }));
  runDir = await mkdtemp(join(tmpdir(), 'covsev-open-segmenter-'));
  await trainSegmentation({
    runDir,
    scans,
    split: { train: ['phantom_001', 'phantom_002'], val: ['phantom_003'] },
    task: 'lung',
    model: { arch: 'unet', encoder: 'resnet34', width: 1 / 16 },
    input: [32, 32],
    epochs: 1,
    slicesPerEpoch: 8,
    seed: 3,
  });
});

afterAll(async () => {
  await rm(runDir, { recursive: true, force: true });
});

describe('openSegmenter', () => {
  it("runs a training run's best model on onnxruntime (exported beside it) as on tfjs (1e-4)", async () => {
    const onnx = await openSegmenter(runDir, { session: { executionProviders: ['cpu'] } });
    const tfjs = await openSegmenter(runDir, { engine: 'tfjs' });
    expect(onnx).toBeInstanceOf(OnnxSegmenter);
    expect(tfjs).toBeInstanceOf(TfjsSegmenter);
    expect(onnx.description).toBe(join(runDir, 'onnx', 'best', 'model.json'));
    const rng = Rng.fromSeed(1);
    const x = Float32Array.from({ length: 2 * 32 * 32 }, () => rng.uniform());
    const [a, b] = await Promise.all([onnx.predictSlices(x, 2), tfjs.predictSlices(x, 2)]);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
    expect(worst).toBeLessThan(1e-4);
    // The export is a model in its own right; exported again, it hashes the same.
    const again = await openSegmenter(join(runDir, 'onnx', 'best', 'model.json'));
    expect(again.hash()).toBe(onnx.hash());
    await Promise.all([onnx.dispose(), tfjs.dispose(), again.dispose()]);
  });

  it('refuses what it cannot open, naming the path', async () => {
    await expect(openSegmenter(join(runDir, 'nowhere'))).rejects.toThrow(CovsevInputError);
    await expect(openSegmenter(join(runDir, 'nowhere'))).rejects.toThrow(/nowhere: does not exist/);
    await expect(openSegmenter(join(runDir, 'onnx', 'best'), { engine: 'tfjs' })).rejects.toThrow(
      /model.json: describes an ONNX model, which runs on onnxruntime only/,
    );
    await expect(openSegmenter(runDir, { engine: 'gpu' as 'onnx' })).rejects.toThrow(/unknown engine "gpu"; known: onnx, tfjs/);
  });
});
