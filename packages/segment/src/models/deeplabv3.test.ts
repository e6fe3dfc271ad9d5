/**
 * DeepLabV3 (docs/method.md, "Segmentation"): shapes with both encoders at width 1/16 (output
 * stride 8), smp's parameter names, the size rule (H, W divisible by 8), ONNX export equal to
 * tfjs, a gradient on every parameter, and the training dropout. Its PyTorch parity is
 * twinParity.test.ts (bench/reference/seg_twin.py's state dict loaded by name).
 */
import { buildOnnxModel, disposeModule, initBackend, type Module, namedVariables, OnnxSession } from '@covsev/engine';
import { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENCODER_NAMES, type EncoderName } from './contract.js';
import { Dropout } from './deeplabv3/decoder.js';
import { createDeepLabV3, type DeepLabV3Options } from './deeplabv3/model.js';
import { createSegmentationModel, parseSegmentationModelConfig } from './factory.js';

const EVAL = { training: false } as const;

beforeAll(async () => {
  await initBackend({ prefer: 'wasm', log: false });
});

function randn(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** Spreads every 1-D variable (batch-norm scales, shifts and running statistics) away from its init, so ONNX folding is exercised. */
function randomiseNorms(model: Module, rng: Rng): void {
  for (const { name, variable } of namedVariables(model)) {
    if (variable.rank !== 1) continue;
    const values = (f: () => number) => tf.tensor1d(Float32Array.from({ length: variable.size }, f));
    if (name.endsWith('running_var')) variable.assign(values(() => rng.range(0.5, 2)));
    else if (name.endsWith('running_mean') || name.endsWith('bias')) variable.assign(values(() => rng.normal(0, 0.2)));
    else if (name.endsWith('weight')) variable.assign(values(() => rng.range(0.5, 1.5)));
  }
}

function deeplabOf(encoder: EncoderName, rng: Rng, options: DeepLabV3Options = {}) {
  return createDeepLabV3(parseSegmentationModelConfig({ arch: 'deeplabv3', encoder, width: 1 / 16, classes: 2 }), rng, options);
}

describe('DeepLabV3 model (width 1/16, output stride 8)', () => {
  it.each(ENCODER_NAMES)(
    '%s: [2, 64, 64, 1] in, [2, 64, 64, 2] logits out; deepest map 8 x 8; smp parameter names',
    (encoder) => {
      const model = createSegmentationModel({ arch: 'deeplabv3', encoder, width: 1 / 16, classes: 2 }, { rng: Rng.fromSeed(1) });
      expect(model.sizeDivisor).toBe(8);
      const x = tf.randomNormal([2, 64, 64, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
      const y = model.logits(x, EVAL);
      expect(y.shape).toEqual([2, 64, 64, 2]);
      expect(Number.isFinite(tf.sum(tf.abs(y)).dataSync()[0])).toBe(true);
      const deepest = tf.tidy(() => {
        const features = (
          model as unknown as { encoder: { features: (t: tf.Tensor4D, c: typeof EVAL) => tf.Tensor4D[] } }
        ).encoder.features(x, EVAL);
        return (features[features.length - 1] as tf.Tensor4D).clone();
      });
      expect(deepest.shape.slice(1, 3)).toEqual([8, 8]);
      const names = namedVariables(model).map((v) => v.name);
      for (const name of [
        'decoder.0.convs.0.0.weight',
        'decoder.0.convs.0.1.running_var',
        'decoder.0.convs.1.0.weight',
        'decoder.0.convs.3.1.weight',
        'decoder.0.convs.4.1.weight',
        'decoder.0.convs.4.2.running_mean',
        'decoder.0.project.0.weight',
        'decoder.0.project.1.bias',
        'decoder.1.weight',
        'decoder.2.weight',
        'decoder.2.num_batches_tracked',
        'segmentation_head.0.weight',
        'segmentation_head.0.bias',
      ]) {
        expect(names).toContain(name);
      }
      // 7 convs without bias (5 branches, project, decoder.1) and 7 batch norms (2 parameters, 3 buffers each).
      const decoderNames = names.filter((n) => n.startsWith('decoder.'));
      expect(decoderNames.filter((n) => n.endsWith('.bias'))).toHaveLength(7);
      expect(decoderNames).toHaveLength(7 + 7 * 5);
      tf.dispose([x, y, deepest]);
      disposeModule(model);
    },
  );

  it('takes any H, W divisible by 8 (40 x 24), refuses others by name, and a training batch of 1', () => {
    const model = deeplabOf('resnet34', Rng.fromSeed(6));
    const y = model.logits(tf.zeros([1, 40, 24, 1]) as tf.Tensor4D, EVAL);
    expect(y.shape).toEqual([1, 40, 24, 2]);
    expect(() => model.logits(tf.zeros([1, 36, 24, 1]) as tf.Tensor4D, EVAL)).toThrow(/36 x 24 does not divide by 8/);
    expect(() => model.logits(tf.zeros([1, 40, 24, 1]) as tf.Tensor4D, { training: true })).toThrow(
      /training needs a batch of at least 2 images .*got 1/,
    );
    y.dispose();
    disposeModule(model);
  });

  it('ONNX export gives the tfjs eval logits to 1e-4 (batch norm randomised and folded)', async () => {
    const rng = Rng.fromSeed(2);
    const model = deeplabOf('resnet34', rng);
    randomiseNorms(model, rng);
    const nchw = [2, 1, 64, 64] as const;
    const { bytes, info } = buildOnnxModel(model, nchw);
    expect(info.outputShape).toEqual(['batch', 2, 64, 64]);
    expect(info.opCounts.BatchNormalization ?? 0).toBe(0);
    expect(info.opCounts.GlobalAveragePool).toBe(1);
    const input = randn(rng, 2 * 64 * 64);
    const session = await OnnxSession.create(bytes, { intraOpNumThreads: 1 });
    const out = await session.runSingle(input, nchw);
    const x = tf.tensor4d(input, [2, 64, 64, 1]);
    const y = tf.transpose(model.logits(x, EVAL), [0, 3, 1, 2]);
    const tfData = y.dataSync();
    const diff = maxAbsDiff(out.data, tfData);
    console.info(`[deeplabv3 onnx] max |onnxruntime - tfjs| = ${diff.toExponential(2)}, ops ${JSON.stringify(info.opCounts)}`);
    expect(diff).toBeLessThanOrEqual(1e-4);
    expect(Math.max(...Array.from(tfData, Math.abs))).toBeGreaterThan(1e-3);
    await session.release();
    tf.dispose([x, y]);
    disposeModule(model);
  });

  it('one backward pass (train mode, batch 2): every parameter has a finite, non-zero gradient', () => {
    const model = deeplabOf('resnet34', Rng.fromSeed(3));
    const x = tf.randomNormal([2, 64, 64, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
    const r = tf.randomNormal([2, 64, 64, 2], 0, 1, 'float32', 4);
    const params = model.parameters();
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.mul(model.logits(x, { training: true }), r)) as tf.Scalar,
      params.map((p) => p.variable),
    );
    const bad: string[] = [];
    for (const { name, variable } of params) {
      const g = grads[variable.name];
      const data = g ? g.dataSync() : new Float32Array();
      if (!g || data.some((v) => !Number.isFinite(v)) || !data.some((v) => v !== 0)) bad.push(name);
    }
    expect(bad).toEqual([]);
    expect(params.length).toBeGreaterThan(100);
    tf.dispose([x, r, value, ...Object.values(grads)]);
    disposeModule(model);
  });

  it('training Dropout(0.5): masks from the seeded Rng (same seed, same output); none without an Rng; never in eval', () => {
    const x = tf.randomNormal([2, 64, 64, 1], 0, 1, 'float32', 5) as tf.Tensor4D;
    const run = (dropoutRng: Rng | undefined, training: boolean) => {
      const model = deeplabOf('resnet34', Rng.fromSeed(4), dropoutRng ? { dropoutRng } : {});
      const y = model.logits(x, { training, updateStatistics: false });
      const data = y.dataSync();
      y.dispose();
      disposeModule(model);
      return data;
    };
    const a = run(Rng.fromSeed(9), true);
    expect(maxAbsDiff(a, run(Rng.fromSeed(9), true))).toBe(0);
    expect(maxAbsDiff(a, run(undefined, true))).toBeGreaterThan(1e-4);
    expect(maxAbsDiff(run(Rng.fromSeed(9), false), run(undefined, false))).toBe(0);
    // The module itself: about half the values zeroed, the rest doubled.
    const ones = tf.ones([4, 8, 8, 16]) as tf.Tensor4D;
    const dropped = (new Dropout({ p: 0.5, rng: Rng.fromSeed(1) }).apply(ones, { training: true }) as tf.Tensor).dataSync();
    const zeros = dropped.filter((v) => v === 0).length;
    expect(dropped.every((v) => v === 0 || Math.abs(v - 2) < 1e-6)).toBe(true);
    expect(zeros / dropped.length).toBeGreaterThan(0.4);
    expect(zeros / dropped.length).toBeLessThan(0.6);
    expect(() => new Dropout({ p: 1 })).toThrow(/p must be in \[0, 1\), got 1/);
    tf.dispose([x, ones]);
  });
});
