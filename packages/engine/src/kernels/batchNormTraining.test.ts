/**
 * covsev's fused batch-norm training kernels (wasm, SIMD) against references: the channel
 * moments against float64 sums, and the BatchNorm layer's training forward and backward on wasm
 * (fused kernels) against the same layer on cpu (tfjs ops), on a grid of shapes: 1-130 channels
 * (SIMD lanes and the scalar tail), 2-1200 rows (across the 256-row blocks), rank 2 and 4, and
 * channels whose mean is 1000 times their spread.
 */
import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { BatchNorm } from '../layers/batchNorm.js';
import { BATCH_NORM_GRAD, batchNormTrainingKernels, CHANNEL_MOMENTS } from './batchNormTraining.js';
import { describeParity, expectNoLeaks, itEachCase, randomValues, rng } from './parity.test-helpers.js';
import { useSimdKernels } from './simd.js';

interface Case {
  shape: number[];
  offset: number;
}

const cases: Case[] = [
  { shape: [2, 1], offset: 0 },
  { shape: [5, 3], offset: 0 },
  { shape: [300, 4], offset: 0 },
  { shape: [1200, 7], offset: 1000 },
  { shape: [2, 9, 8, 16], offset: 0 },
  { shape: [3, 11, 10, 64], offset: 1000 },
  { shape: [40, 130], offset: -3 },
];

/** Values with per-channel means offset + c / 10 and spreads 0.5 + c / 20. */
function values(c: Case, seed: number): Float32Array {
  const r = rng(seed);
  const ch = c.shape[c.shape.length - 1] as number;
  return randomValues(c.shape, r).map((v, i) => c.offset + (i % ch) / 10 + v * 2 * (0.5 + (i % ch) / 20));
}

function float64Moments(x: Float32Array, ch: number): { mean: number[]; variance: number[] } {
  const rows = x.length / ch;
  const mean = Array.from({ length: ch }, (_, c) => {
    let s = 0;
    for (let r = 0; r < rows; r++) s += x[r * ch + c] as number;
    return s / rows;
  });
  const variance = mean.map((m, c) => {
    let s = 0;
    for (let r = 0; r < rows; r++) s += ((x[r * ch + c] as number) - m) ** 2;
    return s / rows;
  });
  return { mean, variance };
}

/** The layer's scale and shift in the tests: gamma in [0.5, 1.5), beta in [-0.5, 0.5). */
function affineOf(ch: number): { gamma: number[]; beta: number[] } {
  const r = rng(7);
  const gamma = Array.from({ length: ch }, () => 1 + r());
  return { gamma, beta: Array.from({ length: ch }, () => r()) };
}

/** The layer's training output, the running statistics and the gradients of sum(y * w). */
function trainStep(backend: string, c: Case, x: Float32Array, w: Float32Array) {
  tf.setBackend(backend);
  const ch = c.shape[c.shape.length - 1] as number;
  const bn = new BatchNorm({ channels: ch, momentum: 0.25 });
  const { gamma, beta } = affineOf(ch);
  (bn.weight as tf.Variable).assign(tf.tensor1d(gamma));
  (bn.bias as tf.Variable).assign(tf.tensor1d(beta));
  const xt = tf.tensor(x, c.shape);
  const wt = tf.tensor(w, c.shape);
  const { value, grads } = tf.variableGrads(
    () => tf.sum(tf.mul(bn.apply(xt as tf.Tensor2D, { training: true }) as tf.Tensor, wt)) as tf.Scalar,
    [bn.weight as tf.Variable, bn.bias as tf.Variable],
  );
  const dx = tf.grad((a: tf.Tensor) =>
    tf.sum(tf.mul(bn.apply(a as tf.Tensor2D, { training: true, updateStatistics: false }) as tf.Tensor, wt)),
  )(xt);
  const y = bn.apply(xt as tf.Tensor2D, { training: true, updateStatistics: false }) as tf.Tensor;
  const out = {
    loss: value.dataSync()[0] as number,
    y: y.dataSync() as Float32Array,
    dx: dx.dataSync() as Float32Array,
    dGamma: grads[(bn.weight as tf.Variable).name]?.dataSync() as Float32Array,
    dBeta: grads[(bn.bias as tf.Variable).name]?.dataSync() as Float32Array,
    runningMean: bn.runningMean.dataSync() as Float32Array,
    runningVar: bn.runningVar.dataSync() as Float32Array,
  };
  tf.dispose([
    xt,
    wt,
    value,
    dx,
    y,
    ...Object.values(grads),
    ...bn.parameters().map((p) => p.variable),
    ...bn.buffers().map((b) => b.variable),
  ]);
  return out;
}

function expectClose(got: Float32Array, ref: Float32Array, tolerance: number, what: string): void {
  expect(got.length, what).toBe(ref.length);
  let worst = 0;
  for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs((got[i] as number) - (ref[i] as number)));
  expect(worst, what).toBeLessThanOrEqual(tolerance);
}

describeParity('covsev batch-norm training kernels (wasm, SIMD)', [CHANNEL_MOMENTS, BATCH_NORM_GRAD, 'FusedBatchNorm'], () => {
  it('run on wasm once registered (the layer takes the fused path)', () => {
    tf.setBackend('wasm');
    expect(batchNormTrainingKernels()).toBe(true);
    tf.setBackend('cpu');
    expect(batchNormTrainingKernels()).toBe(false);
  });
  itEachCase(cases, (c, i) => {
    const x = values(c, 6000 + i);
    const ch = c.shape[c.shape.length - 1] as number;
    // Moments: against float64 sums. The kernel sums in float64 too, so what is left is the
    // rounding of the float32 results: half a float32 step (2^-24 of the value) and a margin of
    // 1e-9 of the spread for a mean near 0. (Float32 sums miss the mean by about 1e-6 of it.)
    tf.setBackend('wasm');
    const [mean, variance] = tf.engine().runKernel(CHANNEL_MOMENTS, { x: tf.tensor(x, c.shape) }) as tf.Tensor[];
    const ref = float64Moments(x, ch);
    const m = mean?.dataSync() as Float32Array;
    const v = variance?.dataSync() as Float32Array;
    for (let k = 0; k < ch; k++) {
      const spread = Math.sqrt(ref.variance[k] as number);
      expect(Math.abs((m[k] as number) - (ref.mean[k] as number)), `mean[${k}]`).toBeLessThanOrEqual(
        1e-9 * spread + Math.abs(ref.mean[k] as number) * 2 ** -24,
      );
      expect(Math.abs((v[k] as number) - (ref.variance[k] as number)), `variance[${k}]`).toBeLessThanOrEqual(
        (ref.variance[k] as number) * (2 ** -24 + 1e-9),
      );
    }
    tf.dispose([mean as tf.Tensor, variance as tf.Tensor]);

    // The layer: wasm (fused) against cpu (tfjs ops), and y against float64 as well. y and dx
    // are O(1), to 1e-5, plus what rounding the mean to float32 moves them by where the mean is
    // large (one float32 step of |mean| times the channel's gain a = gamma / std; the cpu's
    // moments round too, hence two steps between the backends). dGamma and dBeta sum rows of
    // them: 1e-5 of the sum of their absolute terms.
    const w = randomValues(c.shape, rng(9000 + i));
    const cpu = trainStep('cpu', c, x, w);
    const wasm = trainStep('wasm', c, x, w);
    const rows = x.length / ch;
    const { gamma, beta } = affineOf(ch);
    const gain = ref.variance.map((v, k) => (gamma[k] as number) / Math.sqrt(v + 1e-5));
    const meanStep = Math.max(...ref.mean.map((mk, k) => Math.abs(mk) * (gain[k] as number))) * 2 ** -23;
    const y64 = x.map((v, j) => (v - (ref.mean[j % ch] as number)) * (gain[j % ch] as number) + (beta[j % ch] as number));
    expectClose(wasm.y, y64, 1e-5 * Math.max(1, ...y64.map(Math.abs)) + meanStep, 'y against float64');
    expectClose(wasm.y, cpu.y, 1e-5 * Math.max(1, ...cpu.y.map(Math.abs)) + 2 * meanStep, 'y');
    expectClose(wasm.dx, cpu.dx, 1e-5 * Math.max(1, ...cpu.dx.map(Math.abs)) + 2 * meanStep, 'dx');
    expectClose(wasm.dBeta, cpu.dBeta, 1e-5 * rows * 0.5, 'dBeta');
    expectClose(wasm.dGamma, cpu.dGamma, 1e-5 * rows * 0.5 * 4, 'dGamma');
    expectClose(wasm.runningMean, cpu.runningMean, 1e-6 * Math.max(1, Math.abs(c.offset)), 'running mean');
    expectClose(wasm.runningVar, cpu.runningVar, 1e-5 * Math.max(1, ...cpu.runningVar), 'running variance');
    expect(Math.abs(wasm.loss - cpu.loss)).toBeLessThanOrEqual(1e-5 * rows * ch);
  });

  it('refuses a dy whose shape differs from x, naming both', () => {
    tf.setBackend('wasm');
    const x = tf.zeros([4, 3]);
    const dy = tf.zeros([4, 2]);
    const stat = tf.ones([3]);
    expect(() =>
      tf.engine().runKernel(BATCH_NORM_GRAD, { x, dy, mean: stat, variance: stat }, { varianceEpsilon: 1e-5 }),
    ).toThrow(/dy must be float32 \[4,3\], got float32 \[4,2\]/);
    tf.dispose([x, dy, stat]);
  });

  it('falls back to tfjs ops with the SIMD kernels off, to the same values', () => {
    const c: Case = { shape: [2, 6, 5, 12], offset: 0 };
    const x = values(c, 77);
    const w = randomValues(c.shape, rng(78));
    const fused = trainStep('wasm', c, x, w);
    const was = useSimdKernels(false);
    try {
      tf.setBackend('wasm');
      expect(batchNormTrainingKernels()).toBe(false);
      const plain = trainStep('wasm', c, x, w);
      expectClose(plain.y, fused.y, 1e-5, 'y');
      expectClose(plain.dx, fused.dx, 1e-5, 'dx');
    } finally {
      useSimdKernels(was);
    }
  });

  it('leaks nothing', () => {
    tf.setBackend('wasm');
    const bn = new BatchNorm({ channels: 5 });
    const x = tf.randomNormal([3, 4, 4, 5]);
    // Warm-up: the layer's constants and the SIMD module's first binding.
    tf.grad((a: tf.Tensor) => tf.sum(bn.apply(a as tf.Tensor2D, { training: true }) as tf.Tensor))(x).dispose();
    expectNoLeaks(() =>
      tf
        .grad((a: tf.Tensor) => tf.sum(tf.square(bn.apply(a as tf.Tensor2D, { training: true }) as tf.Tensor)))(x)
        .dispose(),
    );
    tf.dispose([x, ...bn.parameters().map((p) => p.variable), ...bn.buffers().map((b) => b.variable)]);
  });
});
