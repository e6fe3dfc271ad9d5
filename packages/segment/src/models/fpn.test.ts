/**
 * FPN (docs/method.md, "Segmentation"): GroupNorm and the x2 upsamplings against PyTorch 1.13
 * (Debian's /usr/bin/python3; skipped with a message where absent), the GroupNorm group rule,
 * and the whole model: shapes with both encoders at width 1/16, smp's parameter names, ONNX
 * export equal to tfjs, a gradient on every parameter.
 */
import { spawnSync } from 'node:child_process';
import { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import {
  buildOnnxModel,
  type ForwardContext,
  type Module,
  type NamedVariable,
  type OnnxGraphBuilder,
  OnnxSession,
  type OnnxValue,
} from '@covsev/engine';
import { beforeAll, describe, expect, it } from 'vitest';
import { GroupNorm, groupNormGroups, upsample2x, upsample2xToOnnx } from './fpn/decoder.js';

const PYTHON = '/usr/bin/python3';
const HAVE_TORCH = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
if (!HAVE_TORCH) console.warn(`fpn.test.ts: ${PYTHON} cannot import torch; the PyTorch parity checks are skipped`);
const TORCH_SUITE = HAVE_TORCH
  ? 'FPN pieces against PyTorch'
  : `FPN pieces against PyTorch (SKIPPED: ${PYTHON} cannot import torch)`;

/** GroupNorm forward and gradients, and both x2 upsamplings, in PyTorch; arrays NHWC in and out. */
const TORCH_SCRIPT = `
import json, sys, torch
import torch.nn.functional as F
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
r2 = torch.tensor(a['r2'], dtype=torch.float64).reshape(n, 2 * h, 2 * w, c).permute(0, 3, 1, 2)
for mode, extra in (('nearest', {}), ('bilinear', {'align_corners': True})):
    x0 = x.detach().clone().requires_grad_(True)
    up = F.interpolate(x0, scale_factor=2.0, mode=mode, **extra)
    (up * r2).sum().backward()
    out[mode] = nhwc(up.detach())
    out[mode + '_dx'] = nhwc(x0.grad)
print(json.dumps(out))
`;

function randn(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

const EVAL: ForwardContext = { training: false };

beforeAll(async () => {
  await tf.setBackend('wasm');
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
  it('GroupNorm forward, input and parameter gradients, nearest and bilinear (align_corners) x2 match PyTorch', () => {
    const rng = Rng.fromSeed(3);
    const shape = [2, 5, 6, 8] as const;
    const size = shape.reduce((p, q) => p * q, 1);
    const x = randn(rng, size);
    const r = randn(rng, size);
    const r2 = randn(rng, size * 4);
    const weight = Float32Array.from({ length: 8 }, () => rng.range(0.5, 1.5));
    const bias = randn(rng, 8);
    const run = spawnSync(PYTHON, ['-c', TORCH_SCRIPT], {
      input: JSON.stringify({ shape, groups: 2, x: [...x], r: [...r], r2: [...r2], weight: [...weight], bias: [...bias] }),
      encoding: 'utf8',
    });
    expect(run.status, run.stderr).toBe(0);
    const ref = JSON.parse(run.stdout) as Record<string, number[]>;

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

    expect(maxAbsDiff(upsample2x(xt, 'nearest').dataSync(), ref.nearest)).toBeLessThan(1e-6);
    expect(maxAbsDiff(upsample2x(xt, 'bilinear').dataSync(), ref.bilinear)).toBeLessThan(1e-5);
    const r2t = tf.tensor4d(r2, [shape[0], shape[1] * 2, shape[2] * 2, shape[3]]);
    for (const mode of ['nearest', 'bilinear'] as const) {
      const dup = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(upsample2x(input as tf.Tensor4D, mode), r2t)))(xt);
      expect(maxAbsDiff(dup.dataSync(), ref[`${mode}_dx`] as number[]), `${mode} x2 gradient`).toBeLessThan(1e-4);
      dup.dispose();
    }
    r2t.dispose();
    tf.dispose([xt, rt, y, value, dx, ...Object.values(grads)]);
  });
});

/** A test harness: one module (GroupNorm, then both upsamplings summed side by side) exported through buildOnnxModel. */
class PiecesUnderTest implements Module {
  readonly name = 'PiecesUnderTest';
  constructor(readonly gn: GroupNorm) {}
  parameters(): NamedVariable[] {
    return this.gn.parameters().map((p) => ({ ...p, name: `gn.${p.name}` }));
  }
  buffers(): NamedVariable[] {
    return [];
  }
  apply(x: tf.Tensor | { tensor: tf.Tensor4D }, ctx: ForwardContext): tf.Tensor4D {
    return tf.tidy(() => {
      const y = this.gn.apply(x as tf.Tensor4D, ctx) as tf.Tensor4D;
      return tf.add(upsample2x(y, 'nearest'), tf.mul(upsample2x(y, 'bilinear'), 2)) as tf.Tensor4D;
    });
  }
  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    const y = graph.scope('gn', () => this.gn.toOnnx(graph, input));
    if (y.kind !== 'volume') throw new Error('volume expected');
    const near = upsample2xToOnnx(graph, y, 'nearest');
    const bil = upsample2xToOnnx(graph, y, 'bilinear');
    const two = graph.addInitializer('two', Float32Array.of(2), [1]);
    return { ...near, name: graph.addNode('Add', [near.name, graph.addNode('Mul', [bil.name, two])]) };
  }
}

describe('FPN pieces in ONNX', () => {
  it('GroupNorm (Reshape + InstanceNormalization) and both x2 Resizes give the tfjs values to 1e-4', async () => {
    const rng = Rng.fromSeed(5);
    const gn = new GroupNorm({ groups: 4, channels: 12 });
    gn.weight.assign(tf.tensor1d(Float32Array.from({ length: 12 }, () => rng.range(0.5, 1.5))));
    gn.bias.assign(tf.tensor1d(randn(rng, 12)));
    const model = new PiecesUnderTest(gn);
    const nchw = [2, 12, 5, 7] as const;
    const { bytes, info } = buildOnnxModel(model, nchw);
    expect(info.opCounts.InstanceNormalization).toBe(1);
    expect(info.opCounts.Resize).toBe(2);
    const x = randn(rng, 2 * 12 * 5 * 7);
    const session = await OnnxSession.create(bytes);
    const out = await session.runSingle(x, nchw);
    expect(out.dims).toEqual([2, 12, 10, 14]);
    const xt = tf.transpose(tf.tensor4d(x, [...nchw]), [0, 2, 3, 1]) as tf.Tensor4D;
    const y = tf.transpose(model.apply(xt, EVAL), [0, 3, 1, 2]);
    expect(maxAbsDiff(out.data, y.dataSync())).toBeLessThan(1e-4);
    await session.release();
    tf.dispose([xt, y]);
  });
});
