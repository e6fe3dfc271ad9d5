import { initBackend } from '@covsev/engine';
import { makeVolume, Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CmcScan } from '../input/cmcScan.js';
import { scansToInput } from '../input/modelInput.js';
import { CmcNetwork } from '../models/cmcNetwork.js';
import { applyView, drawView } from '../train/views.js';
import { cmcOnnxExports, releaseCmcOnnxSessions } from './onnxSession.js';
import { predictCmc, predictCmcTta, ttaRng } from './predict.js';

beforeAll(async () => {
  await initBackend({ prefer: 'wasm', log: false });
});

const SHAPE = [16, 32, 32] as const;
const SIZE = SHAPE[0] * SHAPE[1] * SHAPE[2];
const onnx = { intraOpNumThreads: 1 };

/**
 * A tiny network whose classifier is re-scaled on `list` (logits = s (f W' - mean)), so that its
 * softmax outputs move with its input: a random initialisation alone gives near-uniform outputs.
 */
function tinyNetwork(inChannels: 1 | 2, seed: number, list: readonly CmcScan[]): CmcNetwork {
  const model = new CmcNetwork(
    { backbone: { layers: [1, 1, 1, 1], base: 8, stemWidth: 8, radix: 2 }, inChannels },
    Rng.fromSeed(seed),
  );
  const { weight, bias } = model.classifier;
  tf.tidy(() => {
    const z = tf.matMul(model.features(scansToInput(list, inChannels), { training: false }), weight, false, true);
    const mean = tf.mean(z, 0);
    const s = tf.div(2, tf.sqrt(tf.moments(tf.sub(z, mean)).variance));
    weight.assign(tf.mul(weight, s));
    bias?.assign(tf.neg(tf.mul(mean, s)) as tf.Tensor1D);
  });
  return model;
}

function scaleClassifier(model: CmcNetwork, factor: number): void {
  for (const { name, variable } of model.parameters())
    if (name.startsWith('classifier.')) tf.tidy(() => variable.assign(tf.mul(variable, factor)));
}

/** Scans with a bright blob (the "lesion") and its mask, so crops and contrast change what the network sees. */
function scans(count: number, seed: number): CmcScan[] {
  const rng = Rng.fromSeed(seed);
  return Array.from({ length: count }, (_, i) => {
    const cx = rng.int(8, 24);
    const cy = rng.int(8, 24);
    const image = new Uint8Array(SIZE);
    const mask = new Uint8Array(SIZE);
    for (let j = 0; j < SIZE; j++) {
      const x = j % 32;
      const y = Math.floor(j / 32) % 32;
      const inside = (x - cx) ** 2 + (y - cy) ** 2 < 40;
      image[j] = Math.floor((inside ? 150 : 40) + 100 * rng.uniform());
      mask[j] = inside ? 1 : 0;
    }
    return {
      name: `ct_scan_${i}`,
      image: makeVolume({ data: image, shape: SHAPE, intensity: 'uint8-windowed' }),
      mask: makeVolume({ data: mask, shape: SHAPE, intensity: 'label' }),
    };
  });
}

/** The expected TTA output, by hand: the seeded draws, applied, run through tfjs, softmaxed, averaged. */
function expectedTta(model: CmcNetwork, list: readonly CmcScan[], inChannels: 1 | 2, passes: number, seed: number): number[][] {
  return list.map((scan) => {
    const rng = ttaRng(seed, scan.name);
    const sum = [0, 0, 0, 0];
    for (let k = 0; k < passes; k++) {
      const view = applyView(drawView(scan, rng));
      const p = tf.tidy(() =>
        tf.softmax(model.apply(scansToInput([view], inChannels), { training: false }) as tf.Tensor2D).arraySync(),
      );
      (p[0] as number[]).forEach((v, c) => {
        sum[c] = (sum[c] as number) + v / passes;
      });
    }
    return sum;
  });
}

function maxAbsDiff(a: readonly number[][], b: readonly number[][]): number {
  expect(a.map((r) => r.length)).toEqual(b.map((r) => r.length));
  return Math.max(...a.flatMap((row, i) => row.map((v, c) => Math.abs(v - (b[i]?.[c] as number)))));
}

describe('predictCmcTta', () => {
  it('averages the softmax of n seeded augmented views per scan (image and mask drawn alike), on tfjs and onnxruntime', async () => {
    const list = scans(3, 4);
    const model = tinyNetwork(2, 3, list);
    const expected = expectedTta(model, list, 2, 3, 7);
    const tfjs = await predictCmcTta(model, list, { inChannels: 2, passes: 3, seed: 7, engine: 'tfjs' });
    expect(maxAbsDiff(tfjs, expected)).toBeLessThan(1e-5);
    const viaOnnx = await predictCmcTta(model, list, { inChannels: 2, passes: 3, seed: 7, onnx });
    const diff = maxAbsDiff(viaOnnx, expected);
    console.log(`onnxruntime vs tfjs, TTA probabilities: max |diff| ${diff.toExponential(2)}`);
    expect(diff).toBeLessThan(1e-4);
    for (const p of viaOnnx) expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    // TTA is not the plain pass, and the passes differ from one another.
    const plain = predictCmc(model, list, 2);
    expect(maxAbsDiff(tfjs, plain)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(expectedTta(model, list, 2, 1, 7), expected)).toBeGreaterThan(1e-3);
    await releaseCmcOnnxSessions(model);
  });

  it('passes: 0 is the plain eval-mode pass, on both engines', async () => {
    const list = scans(3, 6);
    const model = tinyNetwork(1, 5, list);
    const plain = predictCmc(model, list, 1);
    expect(maxAbsDiff(await predictCmcTta(model, list, { inChannels: 1, passes: 0, engine: 'tfjs' }), plain)).toBeLessThan(1e-6);
    const diff = maxAbsDiff(await predictCmcTta(model, list, { inChannels: 1, passes: 0, onnx }), plain);
    console.log(`onnxruntime vs tfjs, plain pass: max |diff| ${diff.toExponential(2)}`);
    expect(diff).toBeLessThan(1e-4);
    await releaseCmcOnnxSessions(model);
  });

  it('is reproducible: the same seed gives the same output in any batch size and scan order; another seed differs', async () => {
    const list = scans(3, 9);
    const model = tinyNetwork(1, 8, list);
    const options = { inChannels: 1 as const, passes: 2, seed: 11, engine: 'tfjs' as const };
    const a = await predictCmcTta(model, list, options);
    expect(await predictCmcTta(model, list, options)).toEqual(a);
    expect(maxAbsDiff(await predictCmcTta(model, list, { ...options, batch: 3 }), a)).toBeLessThan(1e-5);
    const reversed = await predictCmcTta(model, [...list].reverse(), options);
    expect(maxAbsDiff([...reversed].reverse(), a)).toBeLessThan(1e-5);
    expect(maxAbsDiff(await predictCmcTta(model, list, { ...options, seed: 12 }), a)).toBeGreaterThan(1e-4);
    await expect(predictCmcTta(model, list, { ...options, passes: -1 })).rejects.toThrow(/passes/);
    expect(await predictCmcTta(model, [], options)).toEqual([]);
  });

  it('exports the ONNX graph once per model and again after its weights change', async () => {
    const list = scans(2, 11);
    const model = tinyNetwork(1, 10, list);
    const options = { inChannels: 1 as const, passes: 1, seed: 1, onnx };
    const before = cmcOnnxExports.count;
    await predictCmcTta(model, list, options);
    await predictCmcTta(model, list, { ...options, seed: 2 });
    expect(cmcOnnxExports.count).toBe(before + 1);
    scaleClassifier(model, 0.5); // as an optimizer step would: Variable.assign
    const after = await predictCmcTta(model, list, options);
    expect(cmcOnnxExports.count).toBe(before + 2);
    expect(maxAbsDiff(after, await predictCmcTta(model, list, { ...options, engine: 'tfjs' }))).toBeLessThan(1e-4);
    await releaseCmcOnnxSessions(model);
  });
});
