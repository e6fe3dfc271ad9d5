import { readFileSync } from 'node:fs';
import { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { jointLoss } from './jointLoss.js';
import { drawMixup, mixBatch, mixupCrossEntropy, mixVolumes } from './mixup.js';
import { supervisedContrastiveLoss } from './supervisedContrastive.js';
import { inverseFrequencyWeights, weightedCrossEntropy } from './weightedCrossEntropy.js';

// Made by fixtures/make_loss_fixtures.py with PyTorch autograd (float64).
interface SupconCase {
  z: number[];
  shape: [number, number];
  labels: number[];
  loss: number;
  grad: number[];
}
interface CeCase {
  logits: number[];
  shape: [number, number];
  labels: number[];
  alpha: number[];
  loss: number;
  grad: number[];
}
interface MixCase {
  logits: number[];
  shape: [number, number];
  labels: number[];
  partners: number[];
  lambda: number;
  loss: number;
  grad: number[];
}
interface JointCase {
  s: [number, number];
  con: number;
  mix: number;
  clf: number;
  loss: number;
  grad: number[];
}
const fixture = JSON.parse(readFileSync(new URL('../../fixtures/loss_cases.json', import.meta.url), 'utf8')) as {
  supcon: SupconCase[];
  weighted_ce: CeCase[];
  mixup_ce: MixCase[];
  joint: JointCase[];
};

function expectClose(actual: ArrayLike<number>, expected: readonly number[], tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs((actual[i] as number) - (expected[i] as number)));
  expect(worst).toBeLessThan(tolerance);
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('losses against PyTorch autograd', () => {
  it.each(fixture.supcon.map((c) => [c.labels.join(','), c] as const))(
    'supervised contrastive (labels %s): value and gradient',
    (_n, c) => {
      const z = tf.tensor2d(c.z, c.shape);
      const f = (x: tf.Tensor) => supervisedContrastiveLoss(x as tf.Tensor2D, c.labels);
      expect(f(z).dataSync()[0]).toBeCloseTo(c.loss, 4);
      expectClose(tf.grad(f)(z).dataSync(), c.grad, 1e-4);
    },
  );

  it.each(fixture.weighted_ce.map((c, i) => [i, c] as const))('weighted cross entropy case %i: value and gradient', (_i, c) => {
    const logits = tf.tensor2d(c.logits, c.shape);
    const f = (x: tf.Tensor) => weightedCrossEntropy(x as tf.Tensor2D, c.labels, c.alpha);
    expect(f(logits).dataSync()[0]).toBeCloseTo(c.loss, 5);
    expectClose(tf.grad(f)(logits).dataSync(), c.grad, 1e-5);
  });

  it.each(fixture.mixup_ce.map((c, i) => [i, c] as const))('mixup cross entropy case %i: value and gradient', (_i, c) => {
    const logits = tf.tensor2d(c.logits, c.shape);
    const draw = { lambda: c.lambda, partners: c.partners };
    const f = (x: tf.Tensor) => mixupCrossEntropy(x as tf.Tensor2D, c.labels, draw);
    expect(f(logits).dataSync()[0]).toBeCloseTo(c.loss, 5);
    expectClose(tf.grad(f)(logits).dataSync(), c.grad, 1e-5);
  });

  it.each(fixture.joint.map((c) => [c.s.join(','), c] as const))('joint loss (s = %s): value and gradient', (_s, c) => {
    const f = (s: tf.Tensor) =>
      jointLoss({ contrastive: tf.scalar(c.con), mixup: tf.scalar(c.mix), classification: tf.scalar(c.clf) }, s as tf.Tensor1D);
    const s = tf.tensor1d(c.s);
    expect(f(s).dataSync()[0]).toBeCloseTo(c.loss, 5);
    expectClose(tf.grad(f)(s).dataSync(), c.grad, 1e-5);
  });
});

describe('loss details', () => {
  it('ceReduction: mean divides by the views, weighted-mean by the sum of their weights (hand computation)', () => {
    // logits [[2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 3]], labels [0, 1, 3], alpha [0.1, 0.2, 0.3, 0.4].
    const logits = tf.tensor2d([2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 3], [3, 4]);
    const labels = [0, 1, 3];
    const alpha = [0.1, 0.2, 0.3, 0.4];
    const nll = [-(2 - Math.log(Math.exp(2) + 3)), -(1 - Math.log(Math.exp(1) + 3)), -(3 - Math.log(Math.exp(3) + 3))];
    const weighted = [0.1 * (nll[0] as number), 0.2 * (nll[1] as number), 0.4 * (nll[2] as number)];
    const sum = weighted.reduce((a, b) => a + b, 0);
    // 'mean' (the default): sum / 3 views; 'weighted-mean': sum / (0.1 + 0.2 + 0.4), PyTorch's CrossEntropyLoss(weight).
    expect(weightedCrossEntropy(logits, labels, alpha).dataSync()[0]).toBeCloseTo(sum / 3, 6);
    expect(weightedCrossEntropy(logits, labels, alpha, 'mean').dataSync()[0]).toBeCloseTo(sum / 3, 6);
    expect(weightedCrossEntropy(logits, labels, alpha, 'weighted-mean').dataSync()[0]).toBeCloseTo(sum / 0.7, 6);
    // With equal weights 1 the two agree (the plain mean NLL).
    const ones = [1, 1, 1, 1];
    const plain = nll.reduce((a, b) => a + b, 0) / 3;
    expect(weightedCrossEntropy(logits, labels, ones, 'weighted-mean').dataSync()[0]).toBeCloseTo(plain, 6);
    // The gradient of 'weighted-mean': alpha_y / sum(alpha) * (softmax - onehot) per row.
    const g = tf
      .grad((x: tf.Tensor) => weightedCrossEntropy(x as tf.Tensor2D, labels, alpha, 'weighted-mean'))(logits)
      .arraySync() as number[][];
    const row0 = [Math.exp(2), 1, 1, 1].map((e) => e / (Math.exp(2) + 3));
    expectClose(
      g[0] as number[],
      row0.map((p, c) => ((c === 0 ? p - 1 : p) * 0.1) / 0.7),
      1e-6,
    );
    expect(() => weightedCrossEntropy(logits, labels, alpha, 'sum' as never)).toThrow(
      /ceReduction must be 'mean' or 'weighted-mean'/,
    );
  });

  it('inverse-frequency weights match docs/method.md for 85/62/85/26', () => {
    expectClose(inverseFrequencyWeights([85, 62, 85, 26]), [0.1506, 0.2065, 0.1506, 0.4923], 1e-4);
    expect(() => inverseFrequencyWeights([3, 0])).toThrow(/counts must all be > 0/);
  });

  it('an anchor without a positive does not give NaN; a batch without positives gives 0', () => {
    const z = tf.tensor2d([1, 0, 0, 1, 0.6, 0.8], [3, 2]);
    const some = supervisedContrastiveLoss(z, [0, 0, 1]).dataSync()[0] as number;
    expect(Number.isFinite(some)).toBe(true);
    expect(supervisedContrastiveLoss(z, [0, 1, 2]).dataSync()[0]).toBe(0);
    const grad = tf
      .grad((x: tf.Tensor) => supervisedContrastiveLoss(x as tf.Tensor2D, [0, 1, 2]))(z)
      .dataSync();
    expect(Array.from(grad).every((g) => g === 0)).toBe(true);
  });

  it('mixup draws its own partners per call and mixes inputs with lambda', () => {
    const rng = Rng.fromSeed(11);
    const a = drawMixup(rng, 6);
    const b = drawMixup(rng, 6);
    expect([...a.partners].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(a.partners).not.toEqual(b.partners);
    expect(a.lambda).toBeGreaterThanOrEqual(0);
    expect(a.lambda).toBeLessThanOrEqual(1);
    const x = tf.tensor2d([0, 10, 20, 30], [2, 2]);
    const mixed = mixBatch(x, { lambda: 0.25, partners: [1, 0] }).dataSync();
    expectClose(mixed, [0.25 * 0 + 0.75 * 20, 0.25 * 10 + 0.75 * 30, 0.25 * 20 + 0.75 * 0, 0.25 * 30 + 0.75 * 10], 1e-6);
  });

  it('mixes whole volumes with their partners', () => {
    const x = tf.tensor4d([1, 2, 10, 20], [4, 1, 1, 1]); // 2 volumes of depth 2
    const mixed = mixVolumes({ tensor: x, batch: 2, depth: 2 }, { lambda: 0.25, partners: [1, 0] });
    expect(Array.from(mixed.tensor.dataSync())).toEqual([
      0.25 * 1 + 0.75 * 10,
      0.25 * 2 + 0.75 * 20,
      0.25 * 10 + 0.75 * 1,
      0.25 * 20 + 0.75 * 2,
    ]);
    expect(() => mixVolumes({ tensor: x, batch: 2, depth: 2 }, { lambda: 0.5, partners: [0] })).toThrow(
      /for 1 scans, batch has 2/,
    );
  });

  it('refuses mismatched shapes', () => {
    expect(() => supervisedContrastiveLoss(tf.zeros([3, 2]) as tf.Tensor2D, [0, 1])).toThrow(/3 features but 2 labels/);
    expect(() => weightedCrossEntropy(tf.zeros([2, 4]) as tf.Tensor2D, [0, 4], [1, 1, 1, 1])).toThrow(/label 4 outside 0..3/);
  });
});
