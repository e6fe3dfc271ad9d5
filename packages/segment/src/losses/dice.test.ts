import { readFileSync } from 'node:fs';
import { initBackend } from '@covsev/engine';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { type DiceBceLossOptions, diceBceLoss, diceLoss } from './dice.js';

// Made by fixtures/make_loss_fixtures.py with PyTorch autograd (float64); arrays in covsev's [N, H, W, C].
interface LossCase {
  name: string;
  kind: 'dice' | 'diceBce';
  options: DiceBceLossOptions;
  shape: [number, number, number, number];
  logits: number[];
  target: number[];
  loss: number;
  grad: number[];
}
const fixture = JSON.parse(readFileSync(new URL('../../fixtures/loss_cases.json', import.meta.url), 'utf8')) as {
  cases: LossCase[];
};

/** Largest |a - e| / max(|e|, floor): relative, with an absolute floor for values near 0. */
function worstRelative(actual: ArrayLike<number>, expected: readonly number[], floor: number): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i] as number;
    worst = Math.max(worst, Math.abs((actual[i] as number) - e) / Math.max(Math.abs(e), floor));
  }
  return worst;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('Dice losses against PyTorch autograd (float64)', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s: value and gradient', (_name, c) => {
    const [n, h, w] = c.shape;
    const logits = tf.tensor4d(c.logits, c.shape);
    const target = tf.tensor3d(c.target, [n, h, w], 'int32');
    const f = (x: tf.Tensor) => (c.kind === 'dice' ? diceLoss : diceBceLoss)(x as tf.Tensor4D, target, c.options);
    const value = f(logits).dataSync()[0] as number;
    expect(Math.abs(value - c.loss) / Math.max(Math.abs(c.loss), 1e-3)).toBeLessThan(1e-5);
    // Gradients: relative to the largest entry (single entries near 0 carry float32 rounding).
    const scale = Math.max(...c.grad.map(Math.abs), 1e-12);
    expect(worstRelative(tf.grad(f)(logits).dataSync(), c.grad, scale)).toBeLessThan(1e-5);
  });
});

describe('Dice loss details', () => {
  it('a perfect prediction gives ~0, the opposite ~1 (hand check of eq. 3)', () => {
    const target = tf.tensor3d([1, 0, 0, 1], [1, 2, 2], 'int32');
    const good = tf.tensor4d([40, -40, -40, 40], [1, 2, 2, 1]);
    expect(diceLoss(good, target, { mode: 'binary' }).dataSync()[0]).toBeCloseTo(0, 6);
    expect(diceLoss(tf.neg(good) as tf.Tensor4D, target, { mode: 'binary' }).dataSync()[0]).toBeCloseTo(1, 6);
    // Logits 0: p = 1/2 everywhere; 2 * (2 * 0.5) / (2 + 4 * 0.5) = 0.5.
    expect(diceLoss(tf.zeros([1, 2, 2, 1]) as tf.Tensor4D, target, { mode: 'binary' }).dataSync()[0]).toBeCloseTo(0.5, 6);
  });

  it('works inside tf.variableGrads and lowers the loss by gradient descent', () => {
    const target = tf.tensor4d([1, 1, 0, 0, 1, 0, 0, 0, 1], [1, 3, 3, 1]);
    const v = tf.variable(tf.zeros([1, 3, 3, 1]));
    const loss = () => diceBceLoss(v as unknown as tf.Tensor4D, target, { mode: 'binary' });
    const before = loss().dataSync()[0] as number;
    for (let i = 0; i < 20; i++) {
      const { value, grads } = tf.variableGrads(loss, [v]);
      v.assign(tf.sub(v, tf.mul(grads[v.name] as tf.Tensor, 2)));
      value.dispose();
    }
    expect(loss().dataSync()[0]).toBeLessThan(before / 2);
  });

  it('accepts targets [N, H, W, 1] and refuses bad shapes, modes, ids and options by name', () => {
    const logits = tf.zeros([2, 4, 4, 1]) as tf.Tensor4D;
    const a = diceLoss(logits, tf.ones([2, 4, 4, 1]) as tf.Tensor4D, { mode: 'binary' }).dataSync()[0];
    const b = diceLoss(logits, tf.ones([2, 4, 4]) as tf.Tensor3D, { mode: 'binary' }).dataSync()[0];
    expect(a).toBeCloseTo(b as number, 7);
    expect(() => diceLoss(logits, tf.ones([2, 4, 5]) as tf.Tensor3D, { mode: 'binary' })).toThrow(
      /diceLoss: target shape \[2,4,5\] does not fit logits \[2,4,4,1\]/,
    );
    expect(() => diceLoss(logits, tf.ones([2, 4, 4]) as tf.Tensor3D, { mode: 'multiclass' })).toThrow(
      /'multiclass' needs >= 2 logit channels, got 1/,
    );
    const three = tf.zeros([1, 2, 2, 3]) as tf.Tensor4D;
    expect(() => diceLoss(three, tf.zeros([1, 2, 2]) as tf.Tensor3D, { mode: 'binary' })).toThrow(
      /'binary' needs 1 logit channel, got 3/,
    );
    expect(() => diceLoss(three, tf.tensor3d([0, 1, 2, 3], [1, 2, 2], 'int32'), { mode: 'multiclass' })).toThrow(
      /class ids must be in 0..2, found 3/,
    );
    expect(() => diceLoss(logits, tf.ones([2, 4, 4]) as tf.Tensor3D, { mode: 'soft' as 'binary' })).toThrow(
      /mode must be 'binary' or 'multiclass'/,
    );
    expect(() => diceLoss(logits, tf.ones([2, 4, 4]) as tf.Tensor3D, { mode: 'binary', eps: -1 })).toThrow(
      /eps must be a finite number >= 0/,
    );
    expect(() =>
      diceBceLoss(logits, tf.ones([2, 4, 4]) as tf.Tensor3D, { mode: 'binary', weights: { bce: Number.NaN } }),
    ).toThrow(/diceBceLoss: weights must be finite/);
  });

  it('leaves no tensors behind', () => {
    const logits = tf.randomNormal([2, 4, 4, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const target = tf.tensor3d(
      Array.from({ length: 32 }, (_, i) => i % 3),
      [2, 4, 4],
      'int32',
    );
    const before = tf.memory().numTensors;
    const loss = diceBceLoss(logits, target, { mode: 'multiclass' });
    expect(tf.memory().numTensors).toBe(before + 1);
    loss.dispose();
  });
});

describe('Dice losses on the wasm backend', () => {
  beforeAll(async () => {
    await initBackend({ prefer: 'wasm' });
  });

  it.each(
    fixture.cases.filter((c) => c.kind === 'diceBce' || c.name.startsWith('binary, random')).map((c) => [c.name, c] as const),
  )('%s: the gradient inside tf.variableGrads matches PyTorch on wasm', (_name, c) => {
    expect(tf.getBackend()).toBe('wasm');
    const [n, h, w] = c.shape;
    const v = tf.variable(tf.tensor4d(c.logits, c.shape));
    const target = tf.tensor3d(c.target, [n, h, w], 'int32');
    const f = () => (c.kind === 'dice' ? diceLoss : diceBceLoss)(tf.mul(v, 1) as tf.Tensor4D, target, c.options);
    const { value, grads } = tf.variableGrads(f, [v]);
    expect(Math.abs((value.dataSync()[0] as number) - c.loss) / Math.max(Math.abs(c.loss), 1e-3)).toBeLessThan(1e-5);
    const scale = Math.max(...c.grad.map(Math.abs), 1e-12);
    expect(worstRelative((grads[v.name] as tf.Tensor).dataSync(), c.grad, scale)).toBeLessThan(1e-5);
    v.dispose();
  });
});
