/**
 * The shared plumbing of covsev's optimisers (`Adam`, `SGD`): named variables, per-parameter
 * slot tensors, explicit serialisable state, and leak-free steps.
 *
 * Unlike `tf.train.*`, the state is explicit: `state()` returns plain typed arrays that a
 * checkpoint stores, and `loadState()` restores them exactly, so a resumed run continues
 * bit-for-bit. Semantics follow `torch.optim` (1.13, single-tensor path): a parameter with no
 * gradient in a step is skipped (no slot update, its own step count unchanged).
 */
import * as tf from '@tensorflow/tfjs';
import { type NamedVariables, namedGrads, variableEntries } from './variables.js';

/** Optimiser kinds covsev implements. */
export type OptimizerKind = 'adam' | 'sgd';

/** One parameter's state: how many updates it had, and its slot values (flat, row-major). */
export interface ParamState {
  step: number;
  slots: Record<string, Float32Array>;
}

/** Everything an optimiser needs to continue exactly where it stopped. */
export interface OptimizerState {
  kind: OptimizerKind;
  /** `step()` calls so far. */
  step: number;
  /** Hyperparameters, learning rate included (restored by `loadState`, as torch does). */
  hyper: Record<string, number | boolean>;
  /** Per parameter, by the variables' names. */
  params: Record<string, ParamState>;
}

/** What a trainer sees of an optimiser. */
export interface Optimizer {
  readonly kind: OptimizerKind;
  /** Current learning rate; a schedule sets it before each epoch. */
  lr: number;
  /** `step()` calls so far. */
  readonly stepCount: number;
  /** Applies one update from gradients keyed by variable name (tensors are not disposed). */
  step(grads: Readonly<Record<string, tf.Tensor>>): void;
  /** Computes the gradients of `loss`, steps, disposes them, and returns the loss value. */
  minimize(loss: () => tf.Scalar): number;
  state(): OptimizerState;
  loadState(state: OptimizerState): void;
  /** Frees the slot tensors (not the model's variables). */
  dispose(): void;
}

interface Slots {
  step: number;
  vars: Record<string, tf.Variable>;
}

/**
 * Base class: subclasses name their slots and write `update`, which runs inside one `tf.tidy`
 * per step and returns the new parameter value and new slot values.
 */
export abstract class NamedOptimizer implements Optimizer {
  abstract readonly kind: OptimizerKind;
  protected readonly variables: Map<string, tf.Variable>;
  private readonly slots = new Map<string, Slots>();
  private steps = 0;

  constructor(
    variables: NamedVariables,
    public lr: number,
    slotNames: readonly string[],
  ) {
    checkPositive('lr', lr, true);
    this.variables = new Map(variableEntries(variables));
    for (const [name, v] of this.variables) {
      if (v.dtype !== 'float32') throw new TypeError(`variable ${name} is ${v.dtype}; optimisers train float32 variables only`);
      const vars: Record<string, tf.Variable> = {};
      for (const slot of slotNames) vars[slot] = tf.tidy(() => tf.variable(tf.zeros(v.shape), false));
      this.slots.set(name, { step: 0, vars });
    }
  }

  get stepCount(): number {
    return this.steps;
  }

  /** Hyperparameters other than `lr`. */
  protected abstract hyperparameters(): Record<string, number | boolean>;
  protected abstract setHyperparameters(hyper: Record<string, number | boolean>): void;

  /**
   * New parameter and slot values for one parameter. `step` is that parameter's update count
   * including this one (1 on its first update). Runs inside `tf.tidy`.
   */
  protected abstract update(
    param: tf.Tensor,
    grad: tf.Tensor,
    slots: Readonly<Record<string, tf.Tensor>>,
    step: number,
  ): { param: tf.Tensor; slots: Record<string, tf.Tensor> };

  step(grads: Readonly<Record<string, tf.Tensor>>): void {
    const names = Object.keys(grads);
    for (const name of names) {
      const v = this.variables.get(name);
      if (v === undefined)
        throw new RangeError(`gradient for unknown variable ${name}; known: ${[...this.variables.keys()].join(', ')}`);
      const g = grads[name] as tf.Tensor;
      if (g.dtype !== 'float32') throw new TypeError(`gradient for ${name} is ${g.dtype}, expected float32`);
      if (!tf.util.arraysEqual(g.shape, v.shape)) {
        throw new RangeError(`gradient for ${name} has shape [${g.shape}], the variable [${v.shape}]`);
      }
    }
    tf.tidy(() => {
      for (const name of names) {
        const v = this.variables.get(name) as tf.Variable;
        const s = this.slots.get(name) as Slots;
        const g = grads[name] as tf.Tensor;
        const next = this.update(v, g, s.vars, s.step + 1);
        s.step += 1;
        for (const [slot, value] of Object.entries(next.slots)) (s.vars[slot] as tf.Variable).assign(value);
        v.assign(next.param);
      }
    });
    this.steps += 1;
  }

  minimize(loss: () => tf.Scalar): number {
    const { value, grads } = namedGrads(this.variables, loss);
    try {
      this.step(grads);
      return value.dataSync()[0] as number;
    } finally {
      value.dispose();
      for (const g of Object.values(grads)) g.dispose();
    }
  }

  state(): OptimizerState {
    const params: Record<string, ParamState> = {};
    for (const [name, s] of this.slots) {
      const slots: Record<string, Float32Array> = {};
      for (const [slot, v] of Object.entries(s.vars)) slots[slot] = Float32Array.from(v.dataSync() as Float32Array);
      params[name] = { step: s.step, slots };
    }
    return { kind: this.kind, step: this.steps, hyper: { lr: this.lr, ...this.hyperparameters() }, params };
  }

  /**
   * Restores `state()` output. Every variable must have an entry with every slot of its size;
   * errors name what differs and leave the optimiser unchanged.
   */
  loadState(state: OptimizerState): void {
    if (state.kind !== this.kind) throw new RangeError(`optimiser state is for ${state.kind}, this optimiser is ${this.kind}`);
    const problems: string[] = [];
    for (const [name, s] of this.slots) {
      const saved = state.params[name];
      if (saved === undefined) {
        problems.push(`no state for ${name}`);
        continue;
      }
      const size = (this.variables.get(name) as tf.Variable).size;
      for (const slot of Object.keys(s.vars)) {
        const data = saved.slots[slot];
        if (data === undefined) problems.push(`no ${slot} slot for ${name}`);
        else if (data.length !== size) problems.push(`${slot} slot of ${name} has ${data.length} values, the variable ${size}`);
      }
      if (!Number.isInteger(saved.step) || saved.step < 0) problems.push(`bad step count for ${name}`);
    }
    const extra = Object.keys(state.params).filter((name) => !this.slots.has(name));
    if (extra.length > 0) problems.push(`state for unknown variables ${extra.join(', ')}`);
    if (problems.length > 0) throw new RangeError(`optimiser state does not match the model: ${problems.join('; ')}`);
    const { lr, ...rest } = state.hyper;
    if (typeof lr !== 'number') throw new RangeError('optimiser state has no numeric lr');
    this.setHyperparameters(rest);
    this.lr = lr;
    for (const [name, s] of this.slots) {
      const saved = state.params[name] as ParamState;
      const v = this.variables.get(name) as tf.Variable;
      s.step = saved.step;
      for (const [slot, sv] of Object.entries(s.vars)) {
        tf.tidy(() => sv.assign(tf.tensor(saved.slots[slot] as Float32Array, v.shape, 'float32')));
      }
    }
    this.steps = state.step;
  }

  dispose(): void {
    for (const s of this.slots.values()) for (const v of Object.values(s.vars)) v.dispose();
    this.slots.clear();
  }
}

/** Throws unless `value` is a finite number >= 0 (or > 0 when `strict`). */
export function checkPositive(name: string, value: number, strict = false): void {
  if (!Number.isFinite(value) || value < 0 || (strict && value === 0)) {
    throw new RangeError(`${name} must be a finite number ${strict ? '> 0' : '>= 0'}, got ${value}`);
  }
}

/** Reads a numeric hyperparameter from a saved state. */
export function hyperNumber(hyper: Record<string, number | boolean>, key: string): number {
  const value = hyper[key];
  if (typeof value !== 'number') throw new RangeError(`optimiser state has no numeric ${key}`);
  return value;
}
