/**
 * The module contract of covsev's networks: a small, PyTorch-shaped alternative to tfjs-layers
 * (whose batch norm refuses rank 5, and whose layout we could not choose).
 *
 * - A module owns tfjs variables and lists them as `parameters()` (trainable) and `buffers()`
 *   (not trained by gradients, e.g. batch norm running statistics), each with a hierarchical,
 *   PyTorch-like name: a leaf names its own variables (`weight`, `running_mean`), a container
 *   prefixes its children's names with their keys, so a model yields `layer1.0.conv1.weight`.
 *   The tfjs variables themselves get tfjs' automatic unique names (two models can coexist).
 * - `apply(x, { training })` is the forward pass on {@link Activation}s: volumes travel as
 *   {@link Volume5} (`[B*D, H, W, C]` + batch + depth), feature matrices as `[B, F]` tensors.
 *   Call it inside `tf.tidy` / `tf.variableGrads` like any tfjs op chain.
 * - `toOnnx(graph, input)` appends the module's inference graph (eval mode) to an ONNX graph;
 *   see `onnx/graph.ts` for the ONNX layout.
 */
import * as tf from '@tensorflow/tfjs';
import type { Activation } from './layers/volume.js';
import { isVolume5, tensorOf, volume } from './layers/volume.js';
import type { OnnxGraphBuilder, OnnxValue } from './onnx/graph.js';

export type { Activation, Volume5 } from './layers/volume.js';

/** Per-call settings of a forward pass. */
export interface ForwardContext {
  /** Train mode: batch norm uses batch statistics and updates its running statistics. */
  readonly training: boolean;
  /**
   * Train mode only: false leaves batch norm's running statistics alone (a forward pass that will
   * be repeated with the tape on, as micro-batched steps do). Default true.
   */
  readonly updateStatistics?: boolean;
}

/** A variable with its hierarchical name (`layer1.0.bn1.running_var`). */
export interface NamedVariable {
  readonly name: string;
  readonly variable: tf.Variable;
}

/** A network building block: see the file comment. */
export interface Module {
  /** What the module is, with its settings (`Conv1kk(8->16, k3, s2, p1, g2)`), for summaries and errors. */
  readonly name: string;
  /** Trainable variables, named relative to this module. */
  parameters(): NamedVariable[];
  /** Non-trainable state (running statistics), named relative to this module. */
  buffers(): NamedVariable[];
  /** The forward pass. */
  apply(x: Activation, ctx: ForwardContext): Activation;
  /** Appends the eval-mode computation to an ONNX graph and returns its output value. */
  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue;
}

/** `list` with every name prefixed by `prefix.` */
export function prefixed(prefix: string, list: readonly NamedVariable[]): NamedVariable[] {
  return list.map(({ name, variable }) => ({ name: `${prefix}.${name}`, variable }));
}

/**
 * A module made of named child modules. Subclasses list their children in `children()` (the
 * order is the order of the names, like PyTorch's `state_dict`), and write `apply` / `toOnnx`
 * using {@link Container.applyChild} and {@link Container.childToOnnx}.
 */
export abstract class Container implements Module {
  abstract readonly name: string;
  abstract children(): ReadonlyArray<readonly [string, Module]>;
  abstract apply(x: Activation, ctx: ForwardContext): Activation;
  abstract toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue;

  parameters(): NamedVariable[] {
    return this.children().flatMap(([key, child]) => prefixed(key, child.parameters()));
  }

  buffers(): NamedVariable[] {
    return this.children().flatMap(([key, child]) => prefixed(key, child.buffers()));
  }

  /** Exports a child under its key, so its ONNX initializers and nodes carry the hierarchical name. */
  protected childToOnnx(graph: OnnxGraphBuilder, key: string, child: Module, input: OnnxValue): OnnxValue {
    return graph.scope(key, () => child.toOnnx(graph, input));
  }
}

/** Children given as a list (keys `0`, `1`, ...) or as an ordered record (keys as given). */
export type ModuleList = readonly Module[] | Readonly<Record<string, Module>>;

function entries(modules: ModuleList): Array<readonly [string, Module]> {
  const list: Array<readonly [string, Module]> = Array.isArray(modules)
    ? (modules as readonly Module[]).map((m, i) => [String(i), m] as const)
    : Object.entries(modules as Record<string, Module>);
  for (const [key] of list) {
    if (key === '' || key.includes('.')) throw new Error(`module key '${key}' must be non-empty and contain no '.'`);
  }
  return list;
}

/** PyTorch's `nn.Sequential`: children applied in order. */
export class Sequential extends Container {
  readonly name: string;
  private readonly items: Array<readonly [string, Module]>;

  constructor(modules: ModuleList) {
    super();
    this.items = entries(modules);
    this.name = `Sequential(${this.items.length})`;
  }

  children(): ReadonlyArray<readonly [string, Module]> {
    return this.items;
  }

  apply(x: Activation, ctx: ForwardContext): Activation {
    return applyChain(this.items, x, ctx);
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    let v = input;
    for (const [key, child] of this.items) v = this.childToOnnx(graph, key, child, v);
    return v;
  }
}

export interface ResidualOptions {
  /** The residual branch, applied in order; its keys sit directly under the block (`conv1`, `bn1`, ...). */
  readonly main: ModuleList;
  /** The shortcut (PyTorch ResNets call it `downsample`); identity when absent. */
  readonly shortcut?: Module;
  /** Key of the shortcut; default `downsample`. */
  readonly shortcutKey?: string;
  /** Activation after the sum; default `relu` (a ResNet block). */
  readonly activation?: 'relu' | 'none';
}

/** `act(main(x) + shortcut(x))`, the ResNet block skeleton. Works on volumes and matrices. */
export class Residual extends Container {
  readonly name: string;
  private readonly main: Array<readonly [string, Module]>;
  private readonly shortcut: Module | undefined;
  private readonly shortcutKey: string;
  private readonly activation: 'relu' | 'none';

  constructor(options: ResidualOptions) {
    super();
    this.main = entries(options.main);
    this.shortcut = options.shortcut;
    this.shortcutKey = options.shortcutKey ?? 'downsample';
    this.activation = options.activation ?? 'relu';
    if (this.main.some(([k]) => k === this.shortcutKey)) throw new Error(`Residual: key '${this.shortcutKey}' used twice`);
    this.name = `Residual(${this.main.length}${this.shortcut ? ' + shortcut' : ''})`;
  }

  children(): ReadonlyArray<readonly [string, Module]> {
    return this.shortcut ? [...this.main, [this.shortcutKey, this.shortcut] as const] : this.main;
  }

  apply(x: Activation, ctx: ForwardContext): Activation {
    const y = applyChain(this.main, x, ctx);
    const s = this.shortcut ? this.shortcut.apply(x, ctx) : x;
    const out = addActivations(y, s, this.activation === 'relu', this.name);
    if (!ctx.training) {
      disposeActivation(y);
      if (s !== x) disposeActivation(s);
    }
    return out;
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    let y = input;
    for (const [key, child] of this.main) y = this.childToOnnx(graph, key, child, y);
    const s = this.shortcut ? this.childToOnnx(graph, this.shortcutKey, this.shortcut, input) : input;
    if (!sameOnnxShape(y, s)) throw new Error(`${this.name}: branch shapes differ (${describeValue(y)} vs ${describeValue(s)})`);
    let sum = graph.addNode('Add', [y.name, s.name]);
    if (this.activation === 'relu') sum = graph.addNode('Relu', [sum]);
    return { ...y, name: sum };
  }
}

/**
 * Applies modules in order, each in its own tf.tidy (a module's temporaries die with it; under a
 * gradient tape tfjs keeps what backprop needs). In eval mode each intermediate activation is also
 * freed once the next module has consumed it, so inference holds one or two activations at a time
 * (a full-size ResNeSt-50 volume would not fit the wasm heap otherwise).
 */
function applyChain(items: ReadonlyArray<readonly [string, Module]>, x: Activation, ctx: ForwardContext): Activation {
  let y = x;
  for (const [, child] of items) {
    const input = y;
    const next = tidyActivation(() => child.apply(input, ctx));
    if (!ctx.training && y !== x && tensorOf(next) !== tensorOf(y)) disposeActivation(y);
    y = next;
  }
  return y;
}

/** `tf.tidy` for a function returning an Activation (a Volume5 is a plain object holding a tensor). */
export function tidyActivation(fn: () => Activation): Activation {
  return tf.tidy(() => fn() as unknown as tf.TensorContainer) as unknown as Activation;
}

function disposeActivation(a: Activation): void {
  tensorOf(a).dispose();
}

function addActivations(a: Activation, b: Activation, relu: boolean, who: string): Activation {
  const ta = tensorOf(a);
  const tb = tensorOf(b);
  if (ta.shape.join() !== tb.shape.join()) throw new Error(`${who}: branch shapes differ ([${ta.shape}] vs [${tb.shape}])`);
  const out = tf.tidy(() => (relu ? tf.relu(tf.add(ta, tb)) : tf.add(ta, tb)));
  return isVolume5(a) ? volume(out as tf.Tensor4D, a.batch, a.depth) : out;
}

function sameOnnxShape(a: OnnxValue, b: OnnxValue): boolean {
  if (a.kind === 'matrix') return b.kind === 'matrix' && a.features === b.features;
  if (b.kind === 'matrix') return false;
  return a.depth === b.depth && a.channels === b.channels && a.height === b.height && a.width === b.width;
}

function describeValue(v: OnnxValue): string {
  return v.kind === 'matrix' ? `[B, ${v.features}]` : `[B*${v.depth}, ${v.channels}, ${v.height}, ${v.width}]`;
}

/** Every variable of a model, parameters then buffers, with their full names; throws on a duplicate name. */
export function namedVariables(model: Module): NamedVariable[] {
  const all = [...model.parameters(), ...model.buffers()];
  const seen = new Set<string>();
  for (const { name } of all) {
    if (seen.has(name)) throw new Error(`${model.name}: two variables are named '${name}'`);
    seen.add(name);
  }
  return all;
}

/** The model's variables by full name (a state dict of live variables). */
export function variableMap(model: Module): Map<string, tf.Variable> {
  return new Map(namedVariables(model).map(({ name, variable }) => [name, variable]));
}

/** The trainable variables by full name (what an optimiser takes). */
export function parameterMap(model: Module): Map<string, tf.Variable> {
  return new Map(model.parameters().map(({ name, variable }) => [name, variable]));
}

/** Number of trainable scalars. */
export function parameterCount(model: Module): number {
  return model.parameters().reduce((n, { variable }) => n + variable.size, 0);
}

/** Disposes every variable of the model. */
export function disposeModule(model: Module): void {
  for (const { variable } of namedVariables(model)) variable.dispose();
}
