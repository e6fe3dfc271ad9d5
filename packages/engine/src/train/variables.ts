/**
 * Named trainable variables: the one shape of "a model's weights" the training utilities know.
 *
 * A model hands its weights over as a `Map<string, tf.Variable>` or a plain record; the keys are
 * covsev's names (stable across runs, written into checkpoints), not tfjs's global variable names
 * (which are unique per process and change from run to run).
 */
import * as tf from '@tensorflow/tfjs';

/** Weights by name. Keys are stable and are what checkpoints and optimiser state are keyed by. */
export type NamedVariables = ReadonlyMap<string, tf.Variable> | Readonly<Record<string, tf.Variable>>;

/** The `[name, variable]` pairs in insertion order. */
export function variableEntries(variables: NamedVariables): [string, tf.Variable][] {
  return variables instanceof Map ? [...variables.entries()] : Object.entries(variables as Record<string, tf.Variable>);
}

/**
 * Gradients of `loss` with respect to every variable, keyed by covsev's names.
 *
 * Wraps `tf.variableGrads`, which keys by tfjs's global variable names. The caller owns (and
 * must dispose) `value` and every gradient; variables `loss` does not touch get no entry.
 */
export function namedGrads(
  variables: NamedVariables,
  loss: () => tf.Scalar,
): { value: tf.Scalar; grads: Record<string, tf.Tensor> } {
  const entries = variableEntries(variables);
  const { value, grads } = tf.variableGrads(
    loss,
    entries.map(([, v]) => v),
  );
  const out: Record<string, tf.Tensor> = {};
  for (const [name, v] of entries) {
    const g = grads[v.name];
    if (g !== undefined) out[name] = g;
  }
  return { value, grads: out };
}
