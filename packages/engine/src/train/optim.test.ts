import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADAM_UPDATE, adamUpdateKernel, SGD_UPDATE, sgdUpdateKernel } from '../kernels/optimizerUpdates.js';
import { registerCovsevKernels } from '../kernels/register.js';
import { Adam } from './adam.js';
import type { NamedOptimizer } from './optimizer.js';
import { SGD } from './sgd.js';

interface FixtureCase {
  name: string;
  kind: 'adam' | 'sgd';
  hyper: Record<string, number | boolean | number[]>;
  shapes: Record<string, number[]>;
  initial: Record<string, number[]>;
  steps: { lr: number; grads: Record<string, number[]>; params: Record<string, number[]> }[];
  state: Record<string, { step?: number; slots: Record<string, number[]> }>;
}

const fixture = JSON.parse(readFileSync(new URL('../../fixtures/optim_cases.json', import.meta.url), 'utf8')) as {
  torch: string;
  cases: FixtureCase[];
};

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function makeVariables(c: FixtureCase): Map<string, tf.Variable> {
  return new Map(Object.entries(c.initial).map(([name, values]) => [name, tf.variable(tf.tensor(values, c.shapes[name]), true)]));
}

function makeOptimizer(c: FixtureCase, vars: Map<string, tf.Variable>): NamedOptimizer {
  const h = c.hyper;
  if (c.kind === 'adam') {
    return new Adam(vars, {
      lr: h.lr as number,
      betas: h.betas as [number, number],
      eps: h.eps as number,
      weightDecay: h.weightDecay as number,
    });
  }
  return new SGD(vars, {
    lr: h.lr as number,
    momentum: h.momentum as number,
    dampening: h.dampening as number,
    weightDecay: h.weightDecay as number,
    nesterov: h.nesterov as boolean,
  });
}

function expectClose(actual: ArrayLike<number>, expected: number[], tol: number, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs((actual[i] as number) - (expected[i] as number)));
  expect(worst, what).toBeLessThanOrEqual(tol);
}

function applyStep(c: FixtureCase, opt: NamedOptimizer, i: number): void {
  const s = c.steps[i] as FixtureCase['steps'][number];
  opt.lr = s.lr;
  const grads = Object.fromEntries(Object.entries(s.grads).map(([name, g]) => [name, tf.tensor(g, c.shapes[name])]));
  opt.step(grads);
  for (const g of Object.values(grads)) g.dispose();
}

// On cpu, tfjs ops; on wasm with covsev's kernels, Adam and SGD are one fused SIMD kernel per parameter.
describe.each(['cpu', 'wasm'])(`optimisers replay PyTorch ${fixture.torch} trajectories on %s`, (backend) => {
  beforeAll(async () => {
    registerCovsevKernels();
    await tf.setBackend(backend);
    expect(adamUpdateKernel()).toBe(backend === 'wasm');
    expect(sgdUpdateKernel()).toBe(backend === 'wasm');
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });
  for (const c of fixture.cases) {
    it(`${c.kind}: ${c.name}`, () => {
      const vars = makeVariables(c);
      const opt = makeOptimizer(c, vars);
      for (let i = 0; i < c.steps.length; i++) {
        applyStep(c, opt, i);
        for (const [name, expected] of Object.entries((c.steps[i] as FixtureCase['steps'][number]).params)) {
          expectClose((vars.get(name) as tf.Variable).dataSync(), expected, 1e-6, `${name} after step ${i + 1}`);
        }
      }
      const state = opt.state();
      expect(state.step).toBe(c.steps.length);
      for (const [name, expected] of Object.entries(c.state)) {
        const mine = state.params[name];
        if (mine === undefined) throw new Error(`no state for ${name}`);
        if (expected.step !== undefined) expect(mine.step, `${name} step`).toBe(expected.step);
        for (const [slot, values] of Object.entries(expected.slots))
          expectClose(mine.slots[slot] as Float32Array, values, 1e-6, `${name}.${slot}`);
      }
      opt.dispose();
      for (const v of vars.values()) v.dispose();
    });
  }
});

describe('the fused optimiser kernels (wasm)', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  const settings: { kernel: string; make: (vars: Map<string, tf.Variable>) => NamedOptimizer }[] = [
    { kernel: ADAM_UPDATE, make: (vars) => new Adam(vars, { lr: 1e-2, weightDecay: 0 }) },
    { kernel: ADAM_UPDATE, make: (vars) => new Adam(vars, { lr: 1e-2, weightDecay: 1e-2 }) },
    { kernel: SGD_UPDATE, make: (vars) => new SGD(vars, { lr: 1e-2, momentum: 0, weightDecay: 0 }) },
    { kernel: SGD_UPDATE, make: (vars) => new SGD(vars, { lr: 1e-2, momentum: 0.9, dampening: 0.1, weightDecay: 1e-2 }) },
    { kernel: SGD_UPDATE, make: (vars) => new SGD(vars, { lr: 1e-2, momentum: 0.9, nesterov: true }) },
  ];

  it.each(settings.map((s, i) => [i, s.kernel, s] as const))(
    'setting %i: %s runs once per parameter and steps as the tfjs composite on cpu does, to float32 rounding',
    async (_i, kernel, setting) => {
      registerCovsevKernels();
      const shapes = [[1], [3], [4], [17], [5, 7, 9]];
      const run = async (backend: string) => {
        await tf.setBackend(backend);
        const vars = new Map(shapes.map((shape, i) => [`p${i}`, tf.variable(tf.randomUniform(shape, -1, 1, 'float32', 10 + i))]));
        const opt = setting.make(vars);
        let fused = 0;
        for (let step = 0; step < 4; step++) {
          const grads = Object.fromEntries(
            shapes.map((shape, i) => [`p${i}`, tf.randomNormal(shape, 0, 1, 'float32', 1000 + 100 * step + i)]),
          );
          const profile = await tf.profile(() => opt.step(grads));
          fused += profile.kernels.filter((k) => k.name === kernel).length;
          tf.dispose(Object.values(grads));
        }
        const values = [...vars.values()].map((v) => Array.from(v.dataSync()));
        opt.dispose();
        tf.dispose([...vars.values()]);
        return { values, fused };
      };
      const cpu = await run('cpu');
      const wasm = await run('wasm');
      expect(cpu.fused).toBe(0);
      expect(wasm.fused).toBe(4 * shapes.length);
      wasm.values.forEach((v, i) => expectClose(v, cpu.values[i] as number[], 1e-6, `p${i}`));
    },
  );
});

describe('optimiser state', () => {
  const c = fixture.cases.find((x) => x.name.startsWith('adam weight decay')) as FixtureCase;
  const s = fixture.cases.find((x) => x.name.startsWith('sgd momentum')) as FixtureCase;

  for (const kase of [c, s]) {
    it(`${kase.kind}: save after 3 steps, load into a fresh optimiser, continue bit-for-bit`, () => {
      const varsA = makeVariables(kase);
      const a = makeOptimizer(kase, varsA);
      for (let i = 0; i < 3; i++) applyStep(kase, a, i);
      const saved = a.state();
      const weights = [...varsA].map(([n, v]) => [n, Float32Array.from(v.dataSync() as Float32Array)] as const);

      const varsB = makeVariables(kase);
      for (const [n, data] of weights) (varsB.get(n) as tf.Variable).assign(tf.tensor(data, kase.shapes[n]));
      const b = makeOptimizer(kase, varsB);
      b.lr = 123; // overwritten by loadState, as torch's load_state_dict does
      b.loadState(saved);
      expect(b.stepCount).toBe(3);
      for (let i = 3; i < kase.steps.length; i++) {
        applyStep(kase, a, i);
        applyStep(kase, b, i);
      }
      for (const [n, v] of varsA)
        expect(Buffer.from((varsB.get(n) as tf.Variable).dataSync().buffer)).toEqual(Buffer.from(v.dataSync().buffer));
      for (const o of [a, b]) o.dispose();
      for (const v of [...varsA.values(), ...varsB.values()]) v.dispose();
    });
  }

  it('state() holds copies, and loadState rejects a mismatched model naming what differs', () => {
    const vars = makeVariables(c);
    const opt = makeOptimizer(c, vars);
    applyStep(c, opt, 0);
    const st = opt.state();
    const before = Float32Array.from(st.params.w?.slots.m as Float32Array);
    applyStep(c, opt, 3);
    expect(st.params.w?.slots.m).toEqual(before);

    const other = new Map([['w', tf.variable(tf.zeros([2, 2]))]]);
    const wrong = new Adam(other);
    expect(() => wrong.loadState(st)).toThrow(/m slot of w has 12 values, the variable 4.*unknown variables b, s/);
    const sgd = new SGD(vars);
    expect(() => sgd.loadState(st)).toThrow(/state is for adam/);
    for (const o of [opt, wrong, sgd]) o.dispose();
    for (const v of [...vars.values(), ...other.values()]) v.dispose();
  });
});

describe('optimiser steps', () => {
  it('leak no tensors, and reject unknown names, wrong shapes and bad hyperparameters', () => {
    const vars = { w: tf.variable(tf.ones([2, 3])), b: tf.variable(tf.zeros([3])) };
    const opt = new Adam(vars, { lr: 0.1 });
    const sgd = new SGD(vars, { nesterov: true });
    const g = { w: tf.ones([2, 3]), b: tf.ones([3]) };
    opt.step(g);
    sgd.step(g);
    const count = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      opt.step(g);
      sgd.step(g);
    }
    expect(tf.memory().numTensors).toBe(count);
    const loss = opt.minimize(() => vars.w.square().sum().add(vars.b.sum()) as tf.Scalar);
    expect(Number.isFinite(loss)).toBe(true);
    expect(tf.memory().numTensors).toBe(count);

    expect(() => opt.step({ nope: tf.ones([1]) })).toThrow(/unknown variable nope; known: w, b/);
    expect(() => opt.step({ w: tf.ones([3, 2]) })).toThrow(/shape \[3,2\], the variable \[2,3\]/);
    expect(() => new Adam(vars, { betas: [1, 0.9] })).toThrow(/beta1/);
    expect(() => new SGD(vars, { lr: 0 })).toThrow(/lr must be/);
    expect(() => new SGD(vars, { momentum: 0, nesterov: true })).toThrow(/nesterov/);
    for (const o of [opt, sgd]) o.dispose();
    for (const t of [...Object.values(g), ...Object.values(vars)]) t.dispose();
  });

  it('defaults follow the method: Adam lr 1e-4, wd 1e-5; SGD lr 1e-3', () => {
    const vars = { w: tf.variable(tf.ones([1])) };
    const adam = new Adam(vars);
    const sgd = new SGD(vars);
    expect(adam.state().hyper).toEqual({ lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-5 });
    expect(sgd.state().hyper).toEqual({ lr: 1e-3, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false });
    adam.dispose();
    sgd.dispose();
    vars.w.dispose();
  });
});
