/**
 * The 2D segmentation layers against PyTorch 1.13: fixtures/segment_layer_cases.json, written by
 * fixtures/make_segment_layer_fixtures.py (Debian's /usr/bin/python3). Dilated Conv2d, F.interpolate,
 * AdaptiveAvgPool2d(1), AvgPool2d, Softmax2d, Sigmoid: outputs and gradients on cpu and on wasm with
 * covsev's kernels registered, convolutions on XNNPACK and on onnxruntime. Arrays in the fixture
 * are NCHW; they are converted to [N, H, W, C] here.
 */
import { readFileSync } from 'node:fs';
import { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disableOnnxConv, enableOnnxConv } from '../kernels/onnxConv.js';
import { registerCovsevKernels } from '../kernels/register.js';
import type { Module } from '../module.js';
import { Conv1kk, hwioToOihw } from './conv1kk.js';
import { Sigmoid, Softmax2d } from './heads.js';
import { AvgPool2d, GlobalAvgPool2d } from './pool2d.js';
import { interpolationTaps, Upsample2d, type UpsampleMode, upsample2d } from './upsample2d.js';
import { tensorOf } from './volume.js';

interface Arr {
  shape: number[];
  data: number[];
}
type Case = Record<string, unknown> & { kind: string; name: string; config: Record<string, unknown> };

const fixture = JSON.parse(readFileSync(new URL('../../fixtures/segment_layer_cases.json', import.meta.url), 'utf8')) as {
  torch: string;
  cases: Case[];
};
const casesOf = (kind: string) => fixture.cases.filter((c) => c.kind === kind).map((c) => [c.name, c] as const);
const arr = (c: Case, key: string) => c[key] as Arr;

/** NCHW host data to an [N, H, W, C] tensor. */
function nhwc(a: Arr): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(a.data, a.shape as [number, number, number, number]), [0, 2, 3, 1]));
}

/** An [N, H, W, C] tensor's values in NCHW order. */
function nchwData(t: tf.Tensor): Float32Array {
  return tf.tidy(() => tf.transpose(t, [0, 3, 1, 2]).dataSync() as Float32Array);
}

function expectClose(actual: ArrayLike<number>, expected: Arr, tol: number, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.data.length);
  let worst = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const e = expected.data[i] as number;
    worst = Math.max(worst, Math.abs((actual[i] as number) - e) / Math.max(1, Math.abs(e)));
  }
  expect(worst, `${what}: max error`).toBeLessThanOrEqual(tol);
}

function build(c: Case): Module {
  const cfg = c.config;
  if (c.kind === 'conv') {
    const conv = new Conv1kk({ ...(cfg as unknown as ConstructorParameters<typeof Conv1kk>[0]), rng: Rng.fromSeed(1) });
    conv.setTorchWeight(arr(c, 'weight').data);
    if (cfg.bias) conv.bias?.assign(tf.tensor1d(arr(c, 'bias').data));
    return conv;
  }
  if (c.kind === 'interpolate') {
    return new Upsample2d({
      mode: cfg.mode as UpsampleMode,
      alignCorners: cfg.alignCorners as boolean | undefined,
      ...(cfg.scale !== undefined ? { scale: cfg.scale as number } : { size: cfg.size as [number, number] }),
    });
  }
  if (c.kind === 'pool') {
    if (cfg.op === 'global') return new GlobalAvgPool2d();
    return new AvgPool2d({ kernel: cfg.kernel as number, stride: cfg.stride as number, padding: cfg.padding as number });
  }
  return cfg.op === 'softmax2d' ? new Softmax2d() : new Sigmoid();
}

/** Output, dx and the parameter gradients (PyTorch layouts) of sum(module(x) * g) on the current backend. */
function run(c: Case): { y: Float32Array; dx: Float32Array; params: Record<string, Float32Array> } {
  const module = build(c);
  const x = tf.variable(nhwc(arr(c, 'x')), true);
  const g = nhwc(arr(c, 'g'));
  const vars = module.parameters();
  const y = nchwData(tensorOf(module.apply(x, { training: true })));
  const { grads } = tf.variableGrads(
    () => tf.sum(tf.mul(tensorOf(module.apply(x, { training: true })), g)),
    [x, ...vars.map((v) => v.variable)],
  );
  const params: Record<string, Float32Array> = {};
  for (const { name, variable } of vars) {
    const d = grads[variable.name] as tf.Tensor;
    params[name] = name === 'weight' ? hwioToOihw(d.dataSync(), d.shape) : (d.dataSync() as Float32Array);
  }
  const out = { y, dx: nchwData(grads[x.name] as tf.Tensor), params };
  tf.dispose([x, g, ...Object.values(grads)]);
  return out;
}

const engines = [
  ['cpu', 'cpu', false],
  ['wasm, convolutions on XNNPACK', 'wasm', false],
  ['wasm, convolutions on onnxruntime', 'wasm', true],
] as const;

describe(`2D segmentation layers against PyTorch ${fixture.torch} (fixtures/segment_layer_cases.json)`, () => {
  beforeAll(async () => {
    registerCovsevKernels();
    await tf.setBackend('wasm');
  });
  afterAll(async () => {
    disableOnnxConv();
    await tf.setBackend('wasm');
  });

  it('resized ramps (in 1..9 to out 1..24, every mode): interpolationTaps and the tfjs kernels read what PyTorch reads', async () => {
    const [ramps] = fixture.cases.filter((c) => c.kind === 'ramps');
    const list = (ramps as Case).ramps as Array<{
      mode: UpsampleMode;
      alignCorners: boolean;
      in: number;
      out: number;
      y: number[];
    }>;
    expect(list.length).toBe(3 * 9 * 24);
    for (const backend of ['cpu', 'wasm']) {
      await tf.setBackend(backend);
      for (const r of list) {
        const what = `${r.mode}${r.alignCorners ? ' align_corners' : ''} ${r.in} -> ${r.out}`;
        const taps = interpolationTaps(r.in, r.out, r.mode, r.alignCorners);
        const fromTaps = r.y.map((_, o) => {
          const w = taps.weightHi[o] as number;
          return (1 - w) * (taps.lo[o] as number) + w * (taps.hi[o] as number);
        });
        expectClose(fromTaps, { shape: [r.out], data: r.y }, 1e-6, `taps, ${what}`);
        const y = tf.tidy(
          () =>
            upsample2d(
              tf.reshape(tf.range(0, r.in), [1, r.in, 1, 1]) as tf.Tensor4D,
              [r.out, 1],
              r.mode,
              r.alignCorners,
            ).dataSync() as Float32Array,
        );
        expectClose(y, { shape: [r.out], data: r.y }, 1e-5, `${backend} kernel, ${what}`);
      }
    }
  });

  for (const kind of ['conv', 'interpolate', 'pool', 'head']) {
    it.each(casesOf(kind))(`${kind} %s: output and gradients`, async (_name, c) => {
      for (const [label, backend, onnx] of engines) {
        if (onnx && kind !== 'conv') continue;
        await tf.setBackend(backend);
        if (onnx) expect(enableOnnxConv().enabled, 'onnxruntime convolutions load').toBe(true);
        else disableOnnxConv();
        const got = run(c);
        expectClose(got.y, arr(c, 'y'), 1e-5, `y (${label})`);
        expectClose(got.dx, arr(c, 'dx'), 1e-5, `dx (${label})`);
        for (const [name, values] of Object.entries(got.params)) {
          expectClose(values, arr(c, `d${name}`), 1e-4, `d${name} (${label})`);
        }
      }
    });
  }
});
