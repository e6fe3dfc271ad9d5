/**
 * SGD with momentum, PyTorch's semantics (`torch.optim.SGD`, 1.13).
 *
 * Per parameter p with gradient g:
 *
 *     d = g + weightDecay * p
 *     b = d                                    on the parameter's first update
 *     b = momentum * b + (1 - dampening) * d   afterwards
 *     d = nesterov ? d + momentum * b : b      (when momentum > 0)
 *     p = p - lr * d
 *
 * Defaults: lr 1e-3 (docs/method.md, segmentation) and momentum 0.9. Note that torch's own default
 * momentum is 0; pass `momentum: 0` for plain SGD. Nesterov needs momentum > 0 and no dampening.
 * Replayed against PyTorch trajectories in `fixtures/optim_cases.json`, on cpu (tfjs ops) and on
 * wasm, where a step is one fused SIMD kernel per parameter (`CovsevSGD`, kernels/optimizerUpdates.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { SGD_UPDATE, sgdUpdateKernel } from '../kernels/optimizerUpdates.js';
import { checkPositive, hyperNumber, NamedOptimizer } from './optimizer.js';
import type { NamedVariables } from './variables.js';

export interface SGDOptions {
  /** Learning rate; default 1e-3. */
  lr?: number;
  /** Default 0.9 (torch's default is 0). */
  momentum?: number;
  /** Default 0. */
  dampening?: number;
  /** L2 weight decay added to the gradient; default 0. */
  weightDecay?: number;
  /** Default false. */
  nesterov?: boolean;
}

/** The method's segmentation SGD settings. */
export const SGD_DEFAULTS = { lr: 1e-3, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false };

interface SGDHyper {
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

export class SGD extends NamedOptimizer {
  readonly kind = 'sgd' as const;
  private h: SGDHyper;

  constructor(variables: NamedVariables, options: SGDOptions = {}) {
    const h: SGDHyper = {
      momentum: options.momentum ?? SGD_DEFAULTS.momentum,
      dampening: options.dampening ?? SGD_DEFAULTS.dampening,
      weightDecay: options.weightDecay ?? SGD_DEFAULTS.weightDecay,
      nesterov: options.nesterov ?? SGD_DEFAULTS.nesterov,
    };
    checkSGD(h);
    super(variables, options.lr ?? SGD_DEFAULTS.lr, h.momentum !== 0 ? ['momentum'] : []);
    this.h = h;
  }

  protected hyperparameters(): Record<string, number | boolean> {
    return { ...this.h };
  }

  protected setHyperparameters(hyper: Record<string, number | boolean>): void {
    const h: SGDHyper = {
      momentum: hyperNumber(hyper, 'momentum'),
      dampening: hyperNumber(hyper, 'dampening'),
      weightDecay: hyperNumber(hyper, 'weightDecay'),
      nesterov: hyper.nesterov === true,
    };
    checkSGD(h);
    if ((h.momentum !== 0) !== (this.h.momentum !== 0)) {
      throw new RangeError(
        `optimiser state has momentum ${h.momentum}, this optimiser ${this.h.momentum}: one of them keeps no buffer`,
      );
    }
    this.h = h;
  }

  protected update(
    param: tf.Tensor,
    grad: tf.Tensor,
    slots: Readonly<Record<string, tf.Tensor>>,
    step: number,
  ): { param: tf.Tensor; slots: Record<string, tf.Tensor> } {
    const { momentum, dampening, weightDecay, nesterov } = this.h;
    if (sgdUpdateKernel()) {
      const attrs = { lr: this.lr, momentum, dampening, weightDecay, nesterov, first: step === 1 };
      const inputs: tf.NamedTensorMap = { param, grad };
      if (slots.momentum !== undefined) inputs.momentum = slots.momentum;
      const [p, buf] = tf.engine().runKernel(SGD_UPDATE, inputs, attrs) as tf.Tensor[];
      return { param: p as tf.Tensor, slots: buf === undefined ? {} : { momentum: buf } };
    }
    let d = weightDecay !== 0 ? grad.add(param.mul(weightDecay)) : grad;
    const next: Record<string, tf.Tensor> = {};
    if (momentum !== 0) {
      const buf = step === 1 ? d.clone() : (slots.momentum as tf.Tensor).mul(momentum).add(d.mul(1 - dampening));
      next.momentum = buf;
      d = nesterov ? d.add(buf.mul(momentum)) : buf;
    }
    return { param: param.add(d.mul(-this.lr)), slots: next };
  }
}

function checkSGD(h: SGDHyper): void {
  checkPositive('momentum', h.momentum);
  checkPositive('dampening', h.dampening);
  checkPositive('weightDecay', h.weightDecay);
  if (h.nesterov && (h.momentum <= 0 || h.dampening !== 0)) {
    throw new RangeError('nesterov momentum needs momentum > 0 and dampening 0');
  }
}
