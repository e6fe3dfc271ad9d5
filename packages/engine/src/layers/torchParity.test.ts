/**
 * Layer parity with PyTorch 1.13: fixtures/layer_cases.json, written by
 * fixtures/make_layer_fixtures.py (Debian's /usr/bin/python3). Forward passes run on the wasm
 * backend; gradients on cpu, and on wasm too except for convolutions (wasm has no
 * Conv2DBackpropFilter of its own until covsev's kernels register one). Arrays in the fixture
 * are PyTorch's layouts (NCDHW, Conv3d weight [out, in/g, 1, k, k]); they are converted to
 * covsev's slice layout here.
 */
import { readFileSync } from 'node:fs';
import { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Module } from '../module.js';
import { AvgPool3d } from './avgPool3d.js';
import { BatchNorm } from './batchNorm.js';
import { Conv1kk, hwioToOihw } from './conv1kk.js';
import { Flatten } from './flatten.js';
import { GlobalAvgPool3d } from './globalAvgPool3d.js';
import { Linear } from './linear.js';
import { MaxPool1kk } from './maxPool1kk.js';
import { type Activation, isVolume5, slicesToNcdhw, tensorOf, volume, volumeFromNcdhw } from './volume.js';

interface Arr {
  shape: number[];
  data: number[];
}
type Case = Record<string, unknown> & { kind: string; name: string; config: Record<string, unknown> };

const fixture = JSON.parse(readFileSync(new URL('../../fixtures/layer_cases.json', import.meta.url), 'utf8')) as {
  torch: string;
  cases: Case[];
};
const casesOf = (kind: string) => fixture.cases.filter((c) => c.kind === kind).map((c) => [c.name, c] as const);
const arr = (c: Case, key: string) => c[key] as Arr;

/** A PyTorch-layout activation as a covsev activation (NCDHW to a Volume5; matrices unchanged). */
function toActivation(a: Arr): Activation {
  return a.shape.length === 5 ? volumeFromNcdhw(a.data, a.shape) : tf.tensor(a.data, a.shape);
}

/** A covsev activation's values in PyTorch's layout. */
function toTorchLayout(x: Activation | tf.Tensor, like: Arr): Float32Array {
  const t = tensorOf(x);
  const data = t.dataSync() as Float32Array;
  if (like.shape.length !== 5) return data;
  return slicesToNcdhw(data, like.shape);
}

function expectClose(actual: ArrayLike<number>, expected: Arr | number[], tol: number, what: string): void {
  const exp = Array.isArray(expected) ? expected : expected.data;
  expect(actual.length, `${what}: length`).toBe(exp.length);
  let worst = 0;
  for (let i = 0; i < exp.length; i++) {
    const e = exp[i] as number;
    const err = Math.abs((actual[i] as number) - e) / Math.max(1, Math.abs(e));
    if (err > worst) worst = err;
  }
  expect(worst, `${what}: max error`).toBeLessThanOrEqual(tol);
}

function buildConv(c: Case): Conv1kk {
  const cfg = c.config as {
    inChannels: number;
    outChannels: number;
    kernel: number;
    stride: number;
    padding: number;
    groups: number;
    bias: boolean;
  };
  const conv = new Conv1kk({ ...cfg, rng: Rng.fromSeed(1) });
  conv.setTorchWeight(arr(c, 'weight').data);
  if (cfg.bias) conv.bias?.assign(tf.tensor1d(arr(c, 'bias').data));
  return conv;
}

function buildBatchNorm(c: Case): BatchNorm {
  const cfg = c.config as { channels: number; eps: number; momentum: number };
  const bn = new BatchNorm(cfg);
  const init = c.init as Record<string, Arr>;
  bn.weight?.assign(tf.tensor1d((init.weight as Arr).data));
  bn.bias?.assign(tf.tensor1d((init.bias as Arr).data));
  bn.runningMean.assign(tf.tensor1d((init.runningMean as Arr).data));
  bn.runningVar.assign(tf.tensor1d((init.runningVar as Arr).data));
  return bn;
}

function buildPool(c: Case): Module {
  const cfg = c.config as { op: string; kernel?: number; stride?: number; padding?: number };
  if (cfg.op === 'avg') return new AvgPool3d({ kernel: cfg.kernel as number, stride: cfg.stride, padding: cfg.padding });
  if (cfg.op === 'max') return new MaxPool1kk({ kernel: cfg.kernel, stride: cfg.stride, padding: cfg.padding });
  if (cfg.op === 'global') return new GlobalAvgPool3d();
  return new Flatten();
}

/** Gradient of sum(module(x) * g) with respect to x and the given variables (cpu backend). */
function gradients(module: Module, x: Arr, g: Arr, training: boolean, vars: tf.Variable[]) {
  const xa = toActivation(x);
  const xv = tf.variable(tensorOf(xa), true);
  const gT = tensorOf(toActivation(g));
  const { grads } = tf.variableGrads(() => {
    const input = isVolume5(xa) ? volume(xv as tf.Variable<tf.Rank.R4>, xa.batch, xa.depth) : xv;
    return tf.sum(tf.mul(tensorOf(module.apply(input, { training })), gT));
  }, [xv, ...vars]);
  const dx = slicesOrFlat(grads[xv.name] as tf.Tensor, x);
  return { dx, grads };
}

function slicesOrFlat(t: tf.Tensor, like: Arr): Float32Array {
  const data = t.dataSync() as Float32Array;
  return like.shape.length === 5 ? slicesToNcdhw(data, like.shape) : data;
}

describe(`layers against PyTorch ${fixture.torch} (fixtures/layer_cases.json)`, () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });
  afterAll(async () => {
    await tf.setBackend('wasm');
  });

  it.each(casesOf('conv'))('%s: forward (wasm)', async (_name, c) => {
    await tf.setBackend('wasm');
    const conv = buildConv(c);
    expectClose(toTorchLayout(conv.apply(toActivation(arr(c, 'x')), { training: false }), arr(c, 'y')), arr(c, 'y'), 1e-4, 'y');
    if ((c.config.groups as number) > 1) {
      const dense = buildConv({ ...c, config: { ...c.config } });
      (dense as { groupMode: string }).groupMode = 'blockDiagonal';
      expectClose(
        toTorchLayout(dense.apply(toActivation(arr(c, 'x')), { training: false }), arr(c, 'y')),
        arr(c, 'y'),
        1e-4,
        'y (block diagonal)',
      );
    }
  });

  it.each(casesOf('conv'))('%s: gradients (cpu; wasm too once it has Conv2DBackpropFilter)', async (_name, c) => {
    const backends = tf.getKernel('Conv2DBackpropFilter', 'wasm') ? ['cpu', 'wasm'] : ['cpu'];
    for (const backend of backends) {
      await tf.setBackend(backend);
      const conv = buildConv(c);
      const vars = conv.parameters().map((p) => p.variable);
      const { dx, grads } = gradients(conv, arr(c, 'x'), arr(c, 'g'), true, vars);
      expectClose(dx, arr(c, 'dx'), 1e-4, `dx (${backend})`);
      const dw = grads[conv.weight.name] as tf.Tensor;
      expectClose(hwioToOihw(dw.dataSync(), dw.shape), arr(c, 'dweight'), 1e-4, `dweight (${backend})`);
      if (conv.bias) expectClose((grads[conv.bias.name] as tf.Tensor).dataSync(), arr(c, 'dbias'), 1e-4, `dbias (${backend})`);
    }
  });

  it.each(casesOf('batchnorm'))('%s: outputs and running statistics (wasm), gradients (cpu and wasm)', async (_name, c) => {
    await tf.setBackend('wasm');
    const training = c.config.training as boolean;
    const xs = c.xs as Arr[];
    const ys = c.ys as Arr[];
    const bn = buildBatchNorm(c);
    // Every step but the last on wasm; the last (with gradients) on cpu.
    for (let i = 0; i < xs.length - 1; i++) {
      const y = bn.apply(toActivation(xs[i] as Arr), { training });
      expectClose(toTorchLayout(y, ys[i] as Arr), ys[i] as Arr, 1e-4, `y[${i}]`);
    }
    const last = xs.length - 1;
    const y = bn.apply(toActivation(xs[last] as Arr), { training });
    expectClose(toTorchLayout(y, ys[last] as Arr), ys[last] as Arr, 1e-4, `y[${last}] (wasm)`);
    expectClose(bn.runningMean.dataSync(), arr(c, 'runningMean'), 1e-4, 'running_mean');
    expectClose(bn.runningVar.dataSync(), arr(c, 'runningVar'), 1e-4, 'running_var');
    expect(bn.numBatchesTracked.dataSync()[0]).toBe(training ? xs.length : 0);

    // Gradients of the last step, from the state before it.
    for (const backend of ['cpu', 'wasm']) {
      await tf.setBackend(backend);
      const fresh = buildBatchNorm(c);
      for (let i = 0; i < last; i++) fresh.apply(toActivation(xs[i] as Arr), { training });
      const vars = fresh.parameters().map((p) => p.variable);
      const { dx, grads } = gradients(fresh, xs[last] as Arr, arr(c, 'g'), training, vars);
      expectClose(dx, arr(c, 'dx'), 1e-4, `dx (${backend})`);
      expectClose(
        (grads[(fresh.weight as tf.Variable).name] as tf.Tensor).dataSync(),
        arr(c, 'dweight'),
        1e-4,
        `dweight (${backend})`,
      );
      expectClose((grads[(fresh.bias as tf.Variable).name] as tf.Tensor).dataSync(), arr(c, 'dbias'), 1e-4, `dbias (${backend})`);
      expectClose(fresh.runningMean.dataSync(), arr(c, 'runningMean'), 1e-4, `running_mean (${backend})`);
    }
  });

  it.each(casesOf('pool'))('%s: forward (wasm) and input gradient (cpu and wasm)', async (_name, c) => {
    await tf.setBackend('wasm');
    const pool = buildPool(c);
    expectClose(toTorchLayout(pool.apply(toActivation(arr(c, 'x')), { training: false }), arr(c, 'y')), arr(c, 'y'), 1e-4, 'y');
    for (const backend of ['cpu', 'wasm']) {
      await tf.setBackend(backend);
      const { dx } = gradients(pool, arr(c, 'x'), arr(c, 'g'), false, []);
      expectClose(dx, arr(c, 'dx'), 1e-4, `dx (${backend})`);
    }
  });

  it.each(casesOf('linear'))('%s: forward (wasm), gradients (cpu and wasm)', async (_name, c) => {
    await tf.setBackend('wasm');
    const build = () => {
      const lin = new Linear({ inFeatures: 6, outFeatures: 4, rng: Rng.fromSeed(2) });
      lin.weight.assign(tf.tensor2d(arr(c, 'weight').data, [4, 6]));
      lin.bias?.assign(tf.tensor1d(arr(c, 'bias').data));
      return lin;
    };
    expectClose(tensorOf(build().apply(toActivation(arr(c, 'x')), { training: false })).dataSync(), arr(c, 'y'), 1e-4, 'y');
    for (const backend of ['cpu', 'wasm']) {
      await tf.setBackend(backend);
      const lin = build();
      const { dx, grads } = gradients(lin, arr(c, 'x'), arr(c, 'g'), true, [lin.weight, lin.bias as tf.Variable]);
      expectClose(dx, arr(c, 'dx'), 1e-4, `dx (${backend})`);
      expectClose((grads[lin.weight.name] as tf.Tensor).dataSync(), arr(c, 'dweight'), 1e-4, `dweight (${backend})`);
      expectClose((grads[(lin.bias as tf.Variable).name] as tf.Tensor).dataSync(), arr(c, 'dbias'), 1e-4, `dbias (${backend})`);
    }
  });
});
