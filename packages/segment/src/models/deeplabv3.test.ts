/**
 * DeepLabV3 (docs/method.md, "Segmentation"): shapes with both encoders at width 1/16 (output
 * stride 8), smp's parameter names, the size rule (H, W divisible by 8), ONNX export equal to
 * tfjs, a gradient on every parameter, and the training dropout. Its PyTorch parity is
 * twinParity.test.ts (bench/reference/seg_twin.py's state dict loaded by name).
 */
import { disposeModule, initBackend, namedVariables } from '@covsev/engine';
import { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENCODER_NAMES, type EncoderName } from './contract.js';
import { Dropout } from './deeplabv3/decoder.js';
import { createDeepLabV3, type DeepLabV3Options } from './deeplabv3/model.js';
import { createSegmentationModel, parseSegmentationModelConfig } from './factory.js';
import { maxAbsDiff, onnxAgainstTfjs, parametersWithoutGradient } from './modelChecks.test-helpers.js';

const EVAL = { training: false } as const;

beforeAll(async () => {
  await initBackend({ prefer: 'wasm', log: false });
});

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
    const { diff, largest, info } = await onnxAgainstTfjs(
      deeplabOf('resnet34', Rng.fromSeed(2)),
      Rng.fromSeed(2),
      [2, 1, 64, 64],
    );
    expect(info.outputShape).toEqual(['batch', 2, 64, 64]);
    expect(info.opCounts.GlobalAveragePool).toBe(1);
    expect(info.opCounts.BatchNormalization ?? 0).toBe(0);
    console.info(`[deeplabv3 onnx] max |onnxruntime - tfjs| = ${diff.toExponential(2)}, ops ${JSON.stringify(info.opCounts)}`);
    expect(diff).toBeLessThanOrEqual(1e-4);
    expect(largest).toBeGreaterThan(1e-3);
  });

  it('one backward pass (train mode, batch 2): every parameter has a finite, non-zero gradient', () => {
    const { bad, count } = parametersWithoutGradient(deeplabOf('resnet34', Rng.fromSeed(3)), [2, 64, 64, 1]);
    expect(bad).toEqual([]);
    expect(count).toBeGreaterThan(100);
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
