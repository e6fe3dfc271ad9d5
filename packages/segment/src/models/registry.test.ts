/**
 * The architecture x encoder registry (docs/method.md, "Segmentation"): every pair the factory
 * builds runs at a tiny width, has smp's variable names and unique ones, exports to ONNX with the
 * same output (the architectures of this file's owner: U-Net, U-Net++), and gets a gradient on
 * every parameter; the factory's refusals; the encoders' output strides.
 */
import { buildOnnxModel, disposeModule, initBackend, namedVariables, OnnxSession, parameterCount } from '@covsev/engine';
import { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { getEncoder } from '../encoders/index.js';
import { ARCH_NAMES, type ArchName, ENCODER_NAMES, type EncoderName, type SegmentationModel } from './contract.js';
import { createSegmentationModel } from './factory.js';

const TINY = 1 / 16;
const SIZE = 64;
/** Architectures whose ONNX export and gradients this file checks (the others have their own tests). */
const OWNED: readonly ArchName[] = ['unet', 'unetplusplus'];

beforeAll(async () => {
  await initBackend({ prefer: 'wasm', log: false });
});

/** The model, or undefined when its architecture is registered but not built yet. */
function tryBuild(arch: ArchName, encoder: EncoderName, classes: number, inChannels: number): SegmentationModel | undefined {
  try {
    return createSegmentationModel({ arch, encoder, classes, inChannels, width: TINY }, { rng: Rng.fromSeed(7) });
  } catch (error) {
    if (error instanceof Error && /not built yet/.test(error.message)) return undefined;
    throw error;
  }
}

/** A deterministic input batch [n, SIZE, SIZE, c]. */
function input(n: number, c: number): tf.Tensor4D {
  const values = Float32Array.from({ length: n * SIZE * SIZE * c }, (_, i) => Math.sin(0.37 * i) * Math.cos(0.011 * i));
  return tf.tensor4d(values, [n, SIZE, SIZE, c]);
}

/** NHWC host data to NCHW. */
function toNchw(data: Float32Array, [n, h, w, c]: readonly number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let b = 0; b < (n as number); b++)
    for (let y = 0; y < (h as number); y++)
      for (let x = 0; x < (w as number); x++)
        for (let k = 0; k < (c as number); k++)
          out[((b * (c as number) + k) * (h as number) + y) * (w as number) + x] = data[
            ((b * (h as number) + y) * (w as number) + x) * (c as number) + k
          ] as number;
  return out;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] as number));
  return m;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

const PAIRS = ARCH_NAMES.flatMap((arch) => ENCODER_NAMES.map((encoder) => [arch, encoder] as const));

describe('every architecture x encoder in the registry, width 1/16', () => {
  for (const [arch, encoder] of PAIRS) {
    // Two settings per pair: one class on one channel, two classes on two channels.
    it(`${arch} / ${encoder}: logits [N, 64, 64, classes], unique names${OWNED.includes(arch) ? ', ONNX = tfjs' : ''}`, async (ctx) => {
      for (const [classes, inChannels] of [
        [1, 1],
        [2, 2],
      ] as const) {
        const model = tryBuild(arch, encoder, classes, inChannels);
        if (!model) {
          ctx.skip(`${arch} is registered but not built yet`);
          return;
        }
        expect(model.config).toMatchObject({ arch, encoder, classes, inChannels, width: TINY });
        const names = namedVariables(model).map((v) => v.name); // throws on a duplicate name
        expect(new Set(names).size).toBe(names.length);
        expect(names.every((n) => /^(encoder|decoder|segmentation_head)\./.test(n))).toBe(true);
        const x = input(2, inChannels);
        const logits = model.logits(x, { training: false });
        expect(logits.shape).toEqual([2, SIZE, SIZE, classes]);
        const values = logits.dataSync() as Float32Array;
        expect(values.every(Number.isFinite)).toBe(true);
        if (OWNED.includes(arch) && classes === 2) {
          const { bytes, info } = buildOnnxModel(model, [2, inChannels, SIZE, SIZE]);
          expect(info.outputShape).toEqual(['batch', classes, SIZE, SIZE]);
          const session = await OnnxSession.create(bytes, { intraOpNumThreads: 1 });
          const out = await session.runSingle(toNchw(x.dataSync() as Float32Array, x.shape), [2, inChannels, SIZE, SIZE]);
          // float32 sums in another order: 1e-4 relative to the logits' scale (about 1 here).
          expect(maxAbsDiff(out.data, toNchw(values, logits.shape))).toBeLessThan(1e-4 * Math.max(1, maxAbs(values)));
        }
        tf.dispose([x, logits]);
        disposeModule(model);
      }
    });
  }
});

describe('gradients reach every parameter (one step, width 1/16)', () => {
  for (const arch of OWNED) {
    for (const encoder of ENCODER_NAMES) {
      it(`${arch} / ${encoder}: every parameter gets a finite, non-zero gradient`, () => {
        const model = tryBuild(arch, encoder, 2, 1) as SegmentationModel;
        const params = model.parameters();
        const x = input(2, 1);
        // A fixed random weighting of the logits, so no gradient vanishes by symmetry of a plain sum.
        const r = tf.randomNormal([2, SIZE, SIZE, 2], 0, 1, 'float32', 11);
        const { grads } = tf.variableGrads(
          () => tf.sum(tf.mul(model.logits(x, { training: true }), r)) as tf.Scalar,
          params.map((p) => p.variable),
        );
        const bad: string[] = [];
        for (const { name, variable } of params) {
          const g = grads[variable.name];
          const values = g?.dataSync() ?? new Float32Array(0);
          if (values.length === 0 || !values.every(Number.isFinite) || maxAbs(values) === 0) bad.push(name);
        }
        expect(bad).toEqual([]);
        tf.dispose([x, r, ...Object.values(grads)]);
        disposeModule(model);
      });
    }
  }
});

describe('width 1: smp and torchvision sizes and names', () => {
  // smp 0.3.3 Unet('resnet34'), UnetPlusPlus('resnet34'), Unet('densenet121'), 3 input channels, 1 class;
  // torchvision resnet34 / densenet121 without their classifiers: 21,284,672 and 6,953,856.
  const CASES = [
    { arch: 'unet', encoder: 'resnet34', total: 24_436_369, encoderTotal: 21_284_672 },
    { arch: 'unetplusplus', encoder: 'resnet34', total: 26_078_609, encoderTotal: 21_284_672 },
    { arch: 'unet', encoder: 'densenet121', total: 13_607_633, encoderTotal: 6_953_856 },
  ] as const;
  for (const c of CASES) {
    it(`${c.arch} / ${c.encoder}: ${c.total} parameters (encoder ${c.encoderTotal})`, () => {
      const model = createSegmentationModel({ arch: c.arch, encoder: c.encoder, inChannels: 3 }, { rng: Rng.fromSeed(1) });
      const encoderTotal = model
        .parameters()
        .filter((p) => p.name.startsWith('encoder.'))
        .reduce((n, p) => n + p.variable.size, 0);
      expect(parameterCount(model)).toBe(c.total);
      expect(encoderTotal).toBe(c.encoderTotal);
      const shapes = new Map(namedVariables(model).map((v) => [v.name, v.variable.shape]));
      const expected: Record<string, number[]> =
        c.encoder === 'resnet34'
          ? {
              'encoder.conv1.weight': [7, 7, 3, 64],
              'encoder.layer2.0.downsample.0.weight': [1, 1, 64, 128],
              'encoder.layer4.2.bn2.running_var': [512],
              'segmentation_head.0.bias': [1],
            }
          : {
              'encoder.features.conv0.weight': [7, 7, 3, 64],
              'encoder.features.denseblock1.denselayer1.norm1.weight': [64],
              'encoder.features.denseblock4.denselayer16.conv2.weight': [3, 3, 128, 32],
              'encoder.features.transition3.conv.weight': [1, 1, 1024, 512],
              'encoder.features.norm5.running_mean': [1024],
            };
      if (c.arch === 'unet') {
        expected['decoder.blocks.0.conv1.0.weight'] = [3, 3, c.encoder === 'resnet34' ? 512 + 256 : 1024 + 1024, 256];
        expected['decoder.blocks.4.conv2.1.num_batches_tracked'] = [];
      } else {
        // smp's U-Net++: x_0_0 takes the /32 map + the /16 skip; x_1_2 (inner) outputs the /4 skip's
        // 64 channels from x_1_1 (128) and cat(x_2_2, f3) (2 x 64); x_0_4 has no skip.
        expected['decoder.blocks.x_0_0.conv1.0.weight'] = [3, 3, 512 + 256, 256];
        expected['decoder.blocks.x_1_2.conv1.0.weight'] = [3, 3, 128 + 2 * 64, 64];
        expected['decoder.blocks.x_0_3.conv1.0.weight'] = [3, 3, 64 + 4 * 64, 32];
        expected['decoder.blocks.x_0_4.conv2.0.weight'] = [3, 3, 16, 16];
      }
      for (const [name, shape] of Object.entries(expected)) expect([name, shapes.get(name)]).toEqual([name, shape]);
      disposeModule(model);
    });
  }
});

describe('the factory refuses bad configurations and inputs', () => {
  it('an unknown arch or encoder lists the valid names', () => {
    const rng = Rng.fromSeed(1);
    expect(() => createSegmentationModel({ arch: 'unet++' as ArchName, encoder: 'resnet34' }, { rng })).toThrow(
      /unknown arch \(got "unet\+\+"\); known: unet, unetplusplus, fpn, deeplabv3/,
    );
    expect(() => createSegmentationModel({ arch: 'unet', encoder: 'resnet50' as EncoderName }, { rng })).toThrow(
      /unknown encoder \(got "resnet50"\); known: resnet34, densenet121/,
    );
    expect(() => createSegmentationModel({ arch: 'unet', encoder: 'resnet34', width: 2 }, { rng })).toThrow(/width/);
    expect(() => getEncoder('vgg16' as EncoderName, { inChannels: 1, width: TINY, rng })).toThrow(
      /unknown encoder 'vgg16'; known: resnet34, densenet121/,
    );
  });

  it('an input whose size does not divide by sizeDivisor, or with the wrong channels, is refused by name', () => {
    const model = tryBuild('unet', 'resnet34', 1, 1) as SegmentationModel;
    expect(model.sizeDivisor).toBe(32);
    const odd = tf.zeros([1, 48, 64, 1]) as tf.Tensor4D;
    expect(() => model.logits(odd, { training: false })).toThrow(/input size 48 x 64 does not divide by 32/);
    expect(() => buildOnnxModel(model, [1, 1, 64, 80])).toThrow(/input size 64 x 80 does not divide by 32/);
    const twoChannels = tf.zeros([1, 64, 64, 2]) as tf.Tensor4D;
    expect(() => model.logits(twoChannels, { training: false })).toThrow(/takes 1 input channel\(s\), got 2/);
    tf.dispose([odd, twoChannels]);
    disposeModule(model);
  });
});

describe('encoder output strides (DeepLabV3 dilation)', () => {
  const SIDES: Record<8 | 16 | 32, number[]> = {
    32: [64, 32, 16, 8, 4, 2],
    16: [64, 32, 16, 8, 4, 4],
    8: [64, 32, 16, 8, 8, 8],
  };
  for (const encoderName of ENCODER_NAMES) {
    it(`${encoderName}: feature sizes at OS 32, 16, 8; the dilated OS 8 encoder exports to ONNX with the same deepest map`, async () => {
      for (const os of [32, 16, 8] as const) {
        const encoder = getEncoder(encoderName, { inChannels: 1, width: TINY, outputStride: os, rng: Rng.fromSeed(3) });
        expect(encoder.outputStride).toBe(os);
        const x = input(1, 1);
        const features = encoder.features(x, { training: false });
        expect(features.map((f) => f.shape[1])).toEqual(SIDES[os]);
        expect(features.map((f) => f.shape[3])).toEqual([...encoder.outChannels]);
        if (os === 8) {
          const deepest = features.at(-1) as tf.Tensor4D;
          const { bytes } = buildOnnxModel(encoder, [1, 1, SIZE, SIZE]);
          const session = await OnnxSession.create(bytes, { intraOpNumThreads: 1 });
          const out = await session.runSingle(x.dataSync() as Float32Array, [1, 1, SIZE, SIZE]);
          const ref = toNchw(deepest.dataSync() as Float32Array, deepest.shape);
          expect(maxAbsDiff(out.data, ref)).toBeLessThan(1e-4 * Math.max(1, maxAbs(ref)));
        }
        tf.dispose([x, ...features]);
        disposeModule(encoder);
      }
    });
  }
  it('refuses an output stride other than 8, 16, 32', () => {
    for (const encoderName of ENCODER_NAMES) {
      expect(() => getEncoder(encoderName, { inChannels: 1, width: TINY, outputStride: 4 as 8, rng: Rng.fromSeed(3) })).toThrow(
        /outputStride must be 8, 16 or 32, got 4/,
      );
    }
  });
});
