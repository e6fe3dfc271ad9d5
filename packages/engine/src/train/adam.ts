/**
 * Adam (Kingma & Ba, arXiv:1412.6980) with PyTorch's semantics (`torch.optim.Adam`, 1.13).
 *
 * Per parameter p with gradient g, at that parameter's update count t:
 *
 *     g  = g + weightDecay * p                 (L2 decay added to the gradient, not AdamW)
 *     m  = beta1 * m + (1 - beta1) * g
 *     v  = beta2 * v + (1 - beta2) * g * g
 *     p  = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 *
 * Defaults are the method's classifier settings (docs/method.md): lr 1e-4, betas (0.9, 0.999),
 * weight decay 1e-5, eps 1e-8. `fixtures/optim_cases.json` (from
 * `fixtures/make_optim_fixtures.py`) holds PyTorch trajectories the tests replay to 1e-6, on cpu
 * (tfjs ops) and on wasm, where a step is one fused SIMD kernel per parameter (`CovsevAdam`,
 * kernels/optimizerUpdates.ts) in the same order of operations.
 */
import * as tf from '@tensorflow/tfjs';
import { ADAM_UPDATE, adamUpdateKernel } from '../kernels/optimizerUpdates.js';
import { checkPositive, hyperNumber, NamedOptimizer } from './optimizer.js';
import type { NamedVariables } from './variables.js';

export interface AdamOptions {
  /** Learning rate; default 1e-4. */
  lr?: number;
  /** (beta1, beta2); default (0.9, 0.999). */
  betas?: readonly [number, number];
  /** Default 1e-8. */
  eps?: number;
  /** L2 weight decay added to the gradient; default 1e-5. */
  weightDecay?: number;
}

/** The method's Adam settings (classifier training). */
export const ADAM_DEFAULTS = { lr: 1e-4, betas: [0.9, 0.999] as const, eps: 1e-8, weightDecay: 1e-5 };

export class Adam extends NamedOptimizer {
  readonly kind = 'adam' as const;
  private beta1: number;
  private beta2: number;
  private eps: number;
  private weightDecay: number;

  constructor(variables: NamedVariables, options: AdamOptions = {}) {
    super(variables, options.lr ?? ADAM_DEFAULTS.lr, ['m', 'v']);
    const [beta1, beta2] = options.betas ?? ADAM_DEFAULTS.betas;
    const hyper = {
      beta1,
      beta2,
      eps: options.eps ?? ADAM_DEFAULTS.eps,
      weightDecay: options.weightDecay ?? ADAM_DEFAULTS.weightDecay,
    };
    checkAdam(hyper);
    this.beta1 = hyper.beta1;
    this.beta2 = hyper.beta2;
    this.eps = hyper.eps;
    this.weightDecay = hyper.weightDecay;
  }

  protected hyperparameters(): Record<string, number> {
    return { beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay };
  }

  protected setHyperparameters(hyper: Record<string, number | boolean>): void {
    const h = {
      beta1: hyperNumber(hyper, 'beta1'),
      beta2: hyperNumber(hyper, 'beta2'),
      eps: hyperNumber(hyper, 'eps'),
      weightDecay: hyperNumber(hyper, 'weightDecay'),
    };
    checkAdam(h);
    this.beta1 = h.beta1;
    this.beta2 = h.beta2;
    this.eps = h.eps;
    this.weightDecay = h.weightDecay;
  }

  protected update(
    param: tf.Tensor,
    grad: tf.Tensor,
    slots: Readonly<Record<string, tf.Tensor>>,
    step: number,
  ): { param: tf.Tensor; slots: Record<string, tf.Tensor> } {
    if (adamUpdateKernel()) {
      const attrs = { lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay, step };
      const [p, m, v] = tf
        .engine()
        .runKernel(ADAM_UPDATE, { param, grad, m: slots.m as tf.Tensor, v: slots.v as tf.Tensor }, attrs) as [
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
      ];
      return { param: p, slots: { m, v } };
    }
    const g = this.weightDecay !== 0 ? grad.add(param.mul(this.weightDecay)) : grad;
    const m = (slots.m as tf.Tensor).mul(this.beta1).add(g.mul(1 - this.beta1));
    const v = (slots.v as tf.Tensor).mul(this.beta2).add(g.mul(g).mul(1 - this.beta2));
    const stepSize = this.lr / (1 - this.beta1 ** step);
    const denom = v
      .sqrt()
      .div(Math.sqrt(1 - this.beta2 ** step))
      .add(this.eps);
    return { param: param.add(m.mul(-stepSize).div(denom)), slots: { m, v } };
  }
}

function checkAdam(h: { beta1: number; beta2: number; eps: number; weightDecay: number }): void {
  for (const [name, beta] of [
    ['beta1', h.beta1],
    ['beta2', h.beta2],
  ] as const) {
    if (!(beta >= 0 && beta < 1)) throw new RangeError(`${name} must be in [0, 1), got ${beta}`);
  }
  checkPositive('eps', h.eps);
  checkPositive('weightDecay', h.weightDecay);
}
