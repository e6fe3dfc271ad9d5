/**
 * Loading PyTorch weights into covsev modules (a state dict by name), for parity tests against
 * PyTorch twins and for users who bring weights trained elsewhere (`loadPretrained`). Names are
 * the hierarchical names of `namedVariables` (`layer1.0.conv1.weight`); convolution weights arrive
 * in PyTorch's layout `[out, in/groups, (1,) k, k]` and are transposed to tfjs'
 * `[k, k, in/groups, out]`.
 *
 * Strict by default: every variable must get an entry, every entry must find a variable, and every
 * shape must fit; otherwise one error lists all of them and nothing is assigned (never a partly
 * loaded model). `partial: true` assigns what fits and reports what it skipped.
 */
import { CovsevInputError } from '@covsev/io/core';
import * as tf from '@tensorflow/tfjs';
import { Conv1kk } from './layers/conv1kk.js';
import { Container, type Module } from './module.js';

/** A tensor with PyTorch's shape (a safetensors tensor qualifies). */
export interface TorchTensor {
  readonly shape: readonly number[];
  readonly data: ArrayLike<number>;
}

/**
 * A state dict: name -> values, either flat (only the count is checked) or with PyTorch's shape
 * (checked: equal once size-1 axes are dropped, so a 2D conv kernel fits a 1 x k x k conv and a
 * 1 x 1 conv fits a Linear).
 */
export type TorchStateDict = ReadonlyMap<string, ArrayLike<number> | TorchTensor>;

export interface LoadStateOptions {
  /** Entries to leave aside silently (PyTorch-only ones such as `num_batches_tracked`). */
  readonly ignore?: (name: string) => boolean;
  /**
   * Model variables the file may lack (a new stem, `num_batches_tracked` of older checkpoints):
   * loaded when present, else left as initialised and listed in `kept`, not `missing`.
   */
  readonly optional?: (name: string) => boolean;
  /** Assign what fits and report the rest, instead of refusing the whole load. */
  readonly partial?: boolean;
  /** The file the state dict came from, named in the error. */
  readonly source?: string;
}

export interface ShapeMismatch {
  readonly name: string;
  /** PyTorch's shape of the model variable. */
  readonly model: readonly number[];
  /** The entry's shape (its value count as `[n]` when it came without one). */
  readonly file: readonly number[];
}

/** What a load did: names in the model's order (`unexpected` in the state dict's). */
export interface LoadReport {
  readonly loaded: string[];
  /** Model variables with no entry (left as they were). */
  readonly missing: string[];
  /** Entries that match no variable. */
  readonly unexpected: string[];
  /** Entries whose shape does not fit their variable (the variable is left as it was). */
  readonly mismatched: ShapeMismatch[];
  /** Optional model variables the file lacked, left as initialised. */
  readonly kept: string[];
  /** Entries left aside by `ignore`. */
  readonly ignored: string[];
}

/** A strict load that did not fit: the message lists every fault, `report` has them as data. */
export class StateDictMismatchError extends CovsevInputError {
  constructor(
    path: string,
    problem: string,
    readonly report: LoadReport,
  ) {
    super(path, problem);
  }
}

/** One line per fault, for errors and for a partial load's printout. */
export function formatLoadReport(report: LoadReport): string {
  const lines: string[] = [];
  if (report.missing.length) lines.push(`missing (in the model, not in the file): ${report.missing.join(', ')}`);
  if (report.unexpected.length) lines.push(`unexpected (in the file, not in the model): ${report.unexpected.join(', ')}`);
  for (const m of report.mismatched)
    lines.push(`wrong shape: ${m.name}: file [${m.file.join(', ')}], model [${m.model.join(', ')}]`);
  if (report.kept.length) lines.push(`kept as initialised: ${report.kept.join(', ')}`);
  return lines.join('\n');
}

const squeeze = (shape: readonly number[]): number[] => shape.filter((d) => d !== 1);
const isTensor = (v: ArrayLike<number> | TorchTensor): v is TorchTensor =>
  typeof v === 'object' && v !== null && 'shape' in v && 'data' in v && !ArrayBuffer.isView(v);

/** A variable to assign and how. */
interface Target {
  readonly name: string;
  /** PyTorch's shape of it. */
  readonly torchShape: number[];
  readonly assign: (data: ArrayLike<number>) => void;
  /** The values now, in PyTorch's layout. */
  readonly read: () => Float32Array;
}

/** Every variable of `model` with its PyTorch shape and its assignment, in `state_dict` order. */
export function torchTargets(model: Module): Target[] {
  const out: Target[] = [];
  const plain = (name: string, variable: tf.Variable): Target => ({
    name,
    torchShape: [...variable.shape],
    assign: (data) => variable.assign(tf.tensor(Float32Array.from(data), variable.shape)),
    read: () => Float32Array.from(variable.dataSync()),
  });
  const visit = (module: Module, prefix: string): void => {
    const own = [...module.parameters(), ...module.buffers()];
    if (module instanceof Container) {
      for (const [key, child] of module.children()) visit(child, `${prefix}${key}.`);
      const fromChildren = new Set(
        module.children().flatMap(([, c]) => [...c.parameters(), ...c.buffers()].map((v) => v.variable)),
      );
      for (const { name, variable } of own) if (!fromChildren.has(variable)) out.push(plain(`${prefix}${name}`, variable));
      return;
    }
    for (const { name, variable } of own) {
      const full = `${prefix}${name}`;
      if (module instanceof Conv1kk && name === 'weight') {
        const [kh, kw, ig, o] = variable.shape as [number, number, number, number];
        out.push({
          name: full,
          torchShape: [o, ig, kh, kw],
          assign: (data) => module.setTorchWeight(data),
          read: () => module.torchWeight(),
        });
      } else out.push(plain(full, variable));
    }
  };
  visit(model, '');
  return out;
}

/**
 * The model's variables as PyTorch would hold them (`state_dict` order and names, convolution
 * kernels `[out, in/groups, kh, kw]`, a 1 x k x k kernel as its 2D kernel): the inverse of
 * {@link loadTorchStateDict}, e.g. to write a checkpoint in a source's names (tests, fixtures).
 */
export function torchStateDict(model: Module): Map<string, { shape: number[]; data: Float32Array }> {
  return new Map(torchTargets(model).map((t) => [t.name, { shape: [...t.torchShape], data: t.read() }]));
}

/**
 * Assigns the variables of `model` from `state` and says what it did. Strict (the default): any
 * missing variable, unexpected entry or wrong shape throws a {@link StateDictMismatchError} listing
 * all of them, before anything is assigned. The third argument may be the `ignore` predicate alone.
 */
export function loadTorchStateDict(
  model: Module,
  state: TorchStateDict,
  options: LoadStateOptions | ((name: string) => boolean) = {},
): LoadReport {
  const o: LoadStateOptions = typeof options === 'function' ? { ignore: options } : options;
  const ignore = o.ignore ?? (() => false);
  const optional = o.optional ?? (() => false);
  const report: LoadReport = { loaded: [], missing: [], unexpected: [], mismatched: [], kept: [], ignored: [] };
  const plan: Array<readonly [Target, ArrayLike<number>]> = [];
  const seen = new Set<string>();
  for (const target of torchTargets(model)) {
    const entry = state.get(target.name);
    seen.add(target.name);
    if (entry === undefined) {
      if (optional(target.name)) report.kept.push(target.name);
      else report.missing.push(target.name);
      continue;
    }
    const data = isTensor(entry) ? entry.data : entry;
    const count = target.torchShape.reduce((a, b) => a * b, 1);
    const fits = isTensor(entry)
      ? squeeze(entry.shape).join(',') === squeeze(target.torchShape).join(',') && data.length === count
      : data.length === count;
    if (!fits) {
      report.mismatched.push({
        name: target.name,
        model: target.torchShape,
        file: isTensor(entry) ? [...entry.shape] : [data.length],
      });
      continue;
    }
    plan.push([target, data]);
  }
  for (const key of state.keys()) {
    if (seen.has(key)) continue;
    if (ignore(key)) report.ignored.push(key);
    else report.unexpected.push(key);
  }
  const faults = report.missing.length + report.unexpected.length + report.mismatched.length;
  if (faults > 0 && !o.partial) {
    const counts = [
      report.missing.length && `${report.missing.length} missing`,
      report.unexpected.length && `${report.unexpected.length} unexpected`,
      report.mismatched.length && `${report.mismatched.length} with the wrong shape`,
    ].filter(Boolean);
    throw new StateDictMismatchError(
      o.source ?? 'loadTorchStateDict',
      `the weights do not fit ${model.name} (${counts.join(', ')}); nothing was loaded (a partial load takes what fits)\n${formatLoadReport(report)}`,
      report,
    );
  }
  for (const [target, data] of plan) {
    target.assign(data);
    report.loaded.push(target.name);
  }
  return report;
}
