/**
 * FPN (docs/method.md, "Segmentation"): GroupNorm and the x2 upsamplings against PyTorch 1.13
 * (Debian's /usr/bin/python3; skipped with a message where absent), the GroupNorm group rule,
 * and the whole model: shapes with both encoders at width 1/16, smp's parameter names, ONNX
 * export equal to tfjs, a gradient on every parameter.
 */
import { spawnSync } from 'node:child_process';
import {
  buildOnnxModel,
  disposeModule,
  type ForwardContext,
  initBackend,
  loadTorchStateDict,
  namedVariables,
  OnnxSession,
} from '@covsev/engine';
import { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENCODER_NAMES, type EncoderName } from './contract.js';
import { parseSegmentationModelConfig } from './factory.js';
import { FPNDecoder, GroupNorm, groupNormGroups } from './fpn/decoder.js';
import { createFpn, type FpnOptions } from './fpn/model.js';
import { maxAbsDiff, onnxAgainstTfjs, parametersWithoutGradient, randn } from './modelChecks.test-helpers.js';

const PYTHON = '/usr/bin/python3';
const HAVE_TORCH = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
if (!HAVE_TORCH) console.warn(`fpn.test.ts: ${PYTHON} cannot import torch; the PyTorch parity checks are skipped`);
const TORCH_SUITE = HAVE_TORCH
  ? 'FPN pieces against PyTorch'
  : `FPN pieces against PyTorch (SKIPPED: ${PYTHON} cannot import torch)`;

/**
 * smp 0.3.3's FPNDecoder structure written out in PyTorch (same module tree, so the same
 * state-dict names; GroupNorm groups min(32, C/4)), random weights from seed 0 and random
 * GroupNorm affine maps; features and output NHWC.
 */
const TORCH_FPN_SCRIPT = `
import json, sys, torch
from torch import nn
import torch.nn.functional as F
a = json.load(sys.stdin)
torch.manual_seed(0)
class Conv3x3GNReLU(nn.Module):
    def __init__(self, cin, cout, upsample):
        super().__init__()
        self.upsample = upsample
        self.block = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.GroupNorm(min(32, cout // 4), cout), nn.ReLU())
    def forward(self, x):
        x = self.block(x)
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True) if self.upsample else x
class FPNBlock(nn.Module):
    def __init__(self, pyramid, skip):
        super().__init__()
        self.skip_conv = nn.Conv2d(skip, pyramid, 1)
    def forward(self, x, skip):
        return F.interpolate(x, scale_factor=2.0, mode="nearest") + self.skip_conv(skip)
class SegmentationBlock(nn.Module):
    def __init__(self, cin, cout, n):
        super().__init__()
        self.block = nn.Sequential(Conv3x3GNReLU(cin, cout, n > 0), *[Conv3x3GNReLU(cout, cout, True) for _ in range(1, n)])
    def forward(self, x):
        return self.block(x)
class FPNDecoder(nn.Module):
    def __init__(self, enc, pyramid, seg):
        super().__init__()
        c2, c3, c4, c5 = enc[-4:]
        self.p5 = nn.Conv2d(c5, pyramid, 1)
        self.p4 = FPNBlock(pyramid, c4)
        self.p3 = FPNBlock(pyramid, c3)
        self.p2 = FPNBlock(pyramid, c2)
        self.seg_blocks = nn.ModuleList([SegmentationBlock(pyramid, seg, n) for n in (3, 2, 1, 0)])
        self.dropout = nn.Dropout2d(0.2)
    def forward(self, *features):
        c2, c3, c4, c5 = features[-4:]
        p5 = self.p5(c5); p4 = self.p4(p5, c4); p3 = self.p3(p4, c3); p2 = self.p2(p3, c2)
        return self.dropout(sum(b(p) for b, p in zip(self.seg_blocks, (p5, p4, p3, p2))))
dec = FPNDecoder(a["channels"], a["pyramid"], a["seg"]).eval()
with torch.no_grad():
    for m in dec.modules():
        if isinstance(m, nn.GroupNorm):
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0, 0.2)
feats = [torch.tensor(f["data"]).reshape(f["shape"]).permute(0, 3, 1, 2) for f in a["features"]]
with torch.no_grad():
    y = dec(*feats)
print(json.dumps({"state": {k: v.reshape(-1).tolist() for k, v in dec.state_dict().items()}, "y": y.permute(0, 2, 3, 1).reshape(-1).tolist(), "shape": list(y.permute(0, 2, 3, 1).shape)}))
`;

/** GroupNorm forward and gradients in PyTorch; arrays NHWC in and out. */
const TORCH_SCRIPT = `
import json, sys, torch
a = json.load(sys.stdin)
n, h, w, c = a['shape']
def nchw(v): return torch.tensor(v, dtype=torch.float64).reshape(n, h, w, c).permute(0, 3, 1, 2).contiguous()
def nhwc(t): return t.permute(0, 2, 3, 1).reshape(-1).tolist()
x = nchw(a['x']).requires_grad_(True)
gn = torch.nn.GroupNorm(a['groups'], c).double()
with torch.no_grad():
    gn.weight.copy_(torch.tensor(a['weight'], dtype=torch.float64))
    gn.bias.copy_(torch.tensor(a['bias'], dtype=torch.float64))
y = gn(x)
(y * nchw(a['r'])).sum().backward()
out = {'y': nhwc(y.detach()), 'dx': nhwc(x.grad), 'dweight': gn.weight.grad.tolist(), 'dbias': gn.bias.grad.tolist()}
print(json.dumps(out))
`;

const EVAL: ForwardContext = { training: false };

beforeAll(async () => {
  await initBackend({ prefer: 'wasm', log: false });
});

describe('groupNormGroups', () => {
  it('is 32 at smp sizes, min(32, C/4) below, and refuses channels that are not a multiple of 4', () => {
    expect(groupNormGroups(128)).toBe(32);
    expect(groupNormGroups(256)).toBe(32);
    expect(groupNormGroups(64)).toBe(16);
    expect(groupNormGroups(8)).toBe(2);
    expect(groupNormGroups(4)).toBe(1);
    for (const c of [4, 8, 12, 20, 36, 100, 128]) expect(c % groupNormGroups(c)).toBe(0);
    expect(() => groupNormGroups(6)).toThrow(/multiple of 4, got 6/);
    expect(() => new GroupNorm({ groups: 3, channels: 8 })).toThrow(/channels \(8\) must be a positive multiple of groups \(3\)/);
  });
});

describe.skipIf(!HAVE_TORCH)(TORCH_SUITE, () => {
  it('GroupNorm forward, input and parameter gradients match PyTorch', () => {
    const rng = Rng.fromSeed(3);
    const shape = [2, 5, 6, 8] as const;
    const size = shape.reduce((p, q) => p * q, 1);
    const x = randn(rng, size);
    const r = randn(rng, size);
    const weight = Float32Array.from({ length: 8 }, () => rng.range(0.5, 1.5));
    const bias = randn(rng, 8);
    const run = spawnSync(PYTHON, ['-c', TORCH_SCRIPT], {
      input: JSON.stringify({ shape, groups: 2, x: [...x], r: [...r], weight: [...weight], bias: [...bias] }),
      encoding: 'utf8',
    });
    expect(run.status, run.stderr).toBe(0);
    const ref = JSON.parse(run.stdout) as Record<
      'y' | 'dx' | 'dweight' | 'dbias' | `${'nearest' | 'bilinear'}${'' | '_dx'}`,
      number[]
    >;

    const gn = new GroupNorm({ groups: 2, channels: 8 });
    gn.weight.assign(tf.tensor1d(weight));
    gn.bias.assign(tf.tensor1d(bias));
    const xt = tf.tensor4d(x, [...shape]);
    const rt = tf.tensor4d(r, [...shape]);
    const y = gn.apply(xt, EVAL) as tf.Tensor;
    expect(maxAbsDiff(y.dataSync(), ref.y)).toBeLessThan(1e-4);
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.mul(gn.apply(xt, { training: true }) as tf.Tensor, rt)) as tf.Scalar,
      [gn.weight, gn.bias],
    );
    const dx = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(gn.apply(input as tf.Tensor4D, { training: true }) as tf.Tensor, rt)))(
      xt,
    );
    expect(maxAbsDiff(dx.dataSync(), ref.dx)).toBeLessThan(1e-4);
    expect(maxAbsDiff((grads[gn.weight.name] as tf.Tensor).dataSync(), ref.dweight)).toBeLessThan(1e-3);
    expect(maxAbsDiff((grads[gn.bias.name] as tf.Tensor).dataSync(), ref.dbias)).toBeLessThan(1e-3);
    expect(Math.max(...ref.dx.map(Math.abs))).toBeGreaterThan(1e-3); // the check is not trivially zero

    tf.dispose([xt, rt, y, value, dx, ...Object.values(grads)]);
  });
  it('FPNDecoder loads a PyTorch FPNDecoder state dict by name and gives its output (non-square maps, width-scaled channels)', () => {
    const rng = Rng.fromSeed(8);
    const channels = [1, 4, 4, 8, 16, 32];
    const pyramid = 16;
    const seg = 8;
    // Maps 2..5 of a 64 x 32 input: 16 x 8 down to 2 x 1.
    const features = [2, 3, 4, 5].map((level) => {
      const shape = [2, 64 >> level, 32 >> level, channels[level] as number];
      return {
        shape,
        data: [
          ...randn(
            rng,
            shape.reduce((p, q) => p * q, 1),
          ),
        ],
      };
    });
    const run = spawnSync(PYTHON, ['-c', TORCH_FPN_SCRIPT], {
      input: JSON.stringify({ channels, pyramid, seg, features }),
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    expect(run.status, run.stderr).toBe(0);
    const ref = JSON.parse(run.stdout) as { state: Record<string, number[]>; y: number[]; shape: number[] };
    const decoder = new FPNDecoder({ encoderChannels: channels, pyramidChannels: pyramid, segmentationChannels: seg, rng });
    loadTorchStateDict(decoder, new Map(Object.entries(ref.state)));
    const tensors = features.map((f) => tf.tensor4d(f.data, f.shape as [number, number, number, number]));
    const y = decoder.decode(tensors, EVAL);
    expect(y.shape).toEqual(ref.shape);
    expect(y.shape).toEqual([2, 16, 8, seg]);
    const diff = maxAbsDiff(y.dataSync(), ref.y);
    expect(diff).toBeLessThan(1e-4);
    expect(Math.max(...ref.y.map(Math.abs))).toBeGreaterThan(1e-2);
    tf.dispose([y, ...tensors]);
    disposeModule(decoder);
  });
});

describe('GroupNorm in ONNX', () => {
  it('Reshape + InstanceNormalization + per-channel Mul/Add give the tfjs values to 1e-4', async () => {
    const rng = Rng.fromSeed(5);
    const gn = new GroupNorm({ groups: 4, channels: 12 });
    gn.weight.assign(tf.tensor1d(Float32Array.from({ length: 12 }, () => rng.range(0.5, 1.5))));
    gn.bias.assign(tf.tensor1d(randn(rng, 12)));
    const nchw = [2, 12, 5, 7] as const;
    const { bytes, info } = buildOnnxModel(gn, nchw);
    expect(info.opCounts.InstanceNormalization).toBe(1);
    const x = randn(rng, 2 * 12 * 5 * 7);
    const session = await OnnxSession.create(bytes, { intraOpNumThreads: 1 });
    const out = await session.runSingle(x, nchw);
    expect(out.dims).toEqual([...nchw]);
    const xt = tf.transpose(tf.tensor4d(x, [...nchw]), [0, 2, 3, 1]) as tf.Tensor4D;
    const y = tf.transpose(gn.apply(xt, EVAL) as tf.Tensor4D, [0, 3, 1, 2]);
    expect(maxAbsDiff(out.data, y.dataSync())).toBeLessThan(1e-4);
    await session.release();
    tf.dispose([xt, y]);
  });
});

function fpnOf(encoder: EncoderName, rng: Rng, options: FpnOptions = {}) {
  return createFpn(parseSegmentationModelConfig({ arch: 'fpn', encoder, width: 1 / 16, classes: 2 }), rng, options);
}

describe('FPN model (width 1/16)', () => {
  it.each(ENCODER_NAMES)(
    '%s: [2, 64, 64, 1] in, [2, 64, 64, 2] logits out; smp parameter names; H, W must divide by 32',
    (encoder) => {
      const model = fpnOf(encoder, Rng.fromSeed(1));
      expect(model.sizeDivisor).toBe(32);
      const x = tf.randomNormal([2, 64, 64, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
      const y = model.logits(x, EVAL);
      expect(y.shape).toEqual([2, 64, 64, 2]);
      expect(Number.isFinite(tf.sum(tf.abs(y)).dataSync()[0])).toBe(true);
      const names = namedVariables(model).map((v) => v.name);
      for (const name of [
        'decoder.p5.weight',
        'decoder.p5.bias',
        'decoder.p4.skip_conv.weight',
        'decoder.p2.skip_conv.bias',
        'decoder.seg_blocks.0.block.0.block.0.weight',
        'decoder.seg_blocks.0.block.2.block.1.weight',
        'decoder.seg_blocks.1.block.1.block.1.bias',
        'decoder.seg_blocks.3.block.0.block.0.weight',
        'segmentation_head.0.weight',
        'segmentation_head.0.bias',
      ]) {
        expect(names).toContain(name);
      }
      // seg_blocks.i has 3, 2, 1, 1 convs (smp: n_upsamples 3, 2, 1, 0); GroupNorm has no buffers.
      const decoderNames = names.filter((n) => n.startsWith('decoder.'));
      expect(decoderNames.filter((n) => /^decoder\.seg_blocks\.\d\.block\.\d\.block\.0\.weight$/.test(n))).toHaveLength(7);
      expect(decoderNames.some((n) => n.includes('running'))).toBe(false);
      expect(decoderNames).toHaveLength(2 + 3 * 2 + 7 * 3);
      expect(() => model.logits(tf.zeros([1, 48, 48, 1]) as tf.Tensor4D, EVAL)).toThrow(/48 x 48 does not divide by 32/);
      tf.dispose([x, y]);
      disposeModule(model);
    },
  );

  it('ONNX export gives the tfjs eval logits to 1e-4 (GroupNorm and batch norm randomised)', async () => {
    const { diff, largest, info } = await onnxAgainstTfjs(fpnOf('resnet34', Rng.fromSeed(2)), Rng.fromSeed(2), [2, 1, 64, 64]);
    expect(info.outputShape).toEqual(['batch', 2, 64, 64]);
    expect(info.opCounts.InstanceNormalization).toBe(7);
    expect(info.opCounts.BatchNormalization ?? 0).toBe(0);
    console.info(`[fpn onnx] max |onnxruntime - tfjs| = ${diff.toExponential(2)}, ops ${JSON.stringify(info.opCounts)}`);
    expect(diff).toBeLessThanOrEqual(1e-4);
    expect(largest).toBeGreaterThan(1e-3);
  });

  it('one backward pass (train mode): every parameter has a finite, non-zero gradient', () => {
    const { bad, count } = parametersWithoutGradient(fpnOf('resnet34', Rng.fromSeed(3)), [2, 64, 64, 1]);
    expect(bad).toEqual([]);
    expect(count).toBeGreaterThan(100);
  });

  it('training Dropout2d(0.2): masks from the seeded Rng (same seed, same output), whole channels; none without an Rng, never in eval', () => {
    const x = tf.randomNormal([2, 64, 64, 1], 0, 1, 'float32', 5) as tf.Tensor4D;
    const run = (dropoutRng: Rng | undefined, training: boolean) => {
      const model = fpnOf('resnet34', Rng.fromSeed(4), dropoutRng ? { dropoutRng } : {});
      const decoded = tf.tidy(() => {
        const features = model.encoder.features(x, { training, updateStatistics: false });
        return (model.decoder as FPNDecoder).decode(features, { training, updateStatistics: false });
      });
      const data = decoded.dataSync();
      decoded.dispose();
      disposeModule(model);
      return data;
    };
    const plain = run(undefined, true);
    const a = run(Rng.fromSeed(9), true);
    const b = run(Rng.fromSeed(9), true);
    expect(maxAbsDiff(a, b)).toBe(0);
    expect(maxAbsDiff(run(Rng.fromSeed(9), false), run(undefined, false))).toBe(0);
    // Each (image, channel) map of `a` is either all zero or `plain` / 0.8.
    const c = 8;
    let dropped = 0;
    for (let i = 0; i < 2 * c; i++) {
      const image = Math.floor(i / c);
      const channel = i % c;
      const pixels = 16 * 16;
      let zero = true;
      let worst = 0;
      for (let p = 0; p < pixels; p++) {
        const k = (image * pixels + p) * c + channel;
        if (a[k] !== 0) zero = false;
        worst = Math.max(worst, Math.abs((a[k] as number) - (plain[k] as number) / 0.8));
      }
      if (zero) dropped++;
      else expect(worst).toBeLessThan(1e-4);
    }
    expect(dropped).toBeGreaterThan(0);
    expect(dropped).toBeLessThan(2 * c);
    x.dispose();
  });
});
