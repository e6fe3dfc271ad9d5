/**
 * Loading PyTorch weights into covsev modules (a state dict by name), for parity tests against
 * PyTorch twins and for users who bring weights trained elsewhere. Names are the hierarchical
 * names of `namedVariables` (`layer1.0.conv1.weight`); convolution weights arrive in PyTorch's
 * layout `[out, in/groups, (1,) k, k]` and are transposed to tfjs' `[k, k, in/groups, out]`.
 */
import * as tf from '@tensorflow/tfjs';
import { Conv1kk } from './layers/conv1kk.js';
import { Container, type Module } from './module.js';

/** A state dict: name -> flat float values (shapes are checked against the module's variables). */
export type TorchStateDict = ReadonlyMap<string, ArrayLike<number>>;

/**
 * Assigns every variable of `model` from `state`. Throws, listing names, when a variable has no
 * entry or an entry matches no variable (PyTorch-only entries such as `num_batches_tracked` may be
 * listed in `ignore`).
 */
export function loadTorchStateDict(model: Module, state: TorchStateDict, ignore: (name: string) => boolean = () => false): void {
  const used = new Set<string>();
  const missing: string[] = [];
  const visit = (module: Module, prefix: string): void => {
    const own = [...module.parameters(), ...module.buffers()];
    if (module instanceof Container) {
      for (const [key, child] of module.children()) visit(child, `${prefix}${key}.`);
      const fromChildren = new Set(
        module.children().flatMap(([, c]) => [...c.parameters(), ...c.buffers()].map((v) => v.variable)),
      );
      for (const { name, variable } of own) if (!fromChildren.has(variable)) assign(`${prefix}${name}`, variable);
      return;
    }
    for (const { name, variable } of own) {
      const full = `${prefix}${name}`;
      if (module instanceof Conv1kk && name === 'weight') {
        const data = state.get(full);
        if (data === undefined) missing.push(full);
        else {
          module.setTorchWeight(data);
          used.add(full);
        }
      } else assign(full, variable);
    }
  };
  const assign = (full: string, variable: tf.Variable): void => {
    const data = state.get(full);
    if (data === undefined) {
      missing.push(full);
      return;
    }
    if (data.length !== variable.size)
      throw new Error(
        `loadTorchStateDict: ${full} has ${data.length} values, the model needs ${variable.size} [${variable.shape}]`,
      );
    variable.assign(tf.tensor(Float32Array.from(data), variable.shape));
    used.add(full);
  };
  visit(model, '');
  const extra = [...state.keys()].filter((k) => !used.has(k) && !ignore(k));
  if (missing.length > 0 || extra.length > 0) {
    throw new Error(
      `loadTorchStateDict: ${missing.length} variable(s) without weights${missing.length ? ` (${missing.slice(0, 5).join(', ')})` : ''}, ${extra.length} unused entr${extra.length === 1 ? 'y' : 'ies'}${extra.length ? ` (${extra.slice(0, 5).join(', ')})` : ''}`,
    );
  }
}
