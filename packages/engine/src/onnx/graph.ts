/**
 * OnnxGraphBuilder: collects ONNX nodes and initializers while modules export themselves
 * (`Module.toOnnx`), then writes a ModelProto (opset 17, IR version 8) with onnx-proto.
 *
 * Layout inside the graph. Volumes are `[B*D, C, H, W]` float tensors: NCHW, so every
 * 1 x k x k convolution is onnxruntime's plain 2D `Conv` over B*D slices (its fastest path), and
 * 2D pools are `MaxPool` / `AveragePool` on the same tensor. The depth axis is only touched by the
 * depth pools, through reshapes to `[B, 1, D, C*H*W]` and a `[k, 1]` AveragePool (no transposes).
 * Feature matrices are `[B, F]`. The batch size stays symbolic: reshapes use -1 for it, and the
 * static D, C, H, W travel with each {@link OnnxValue}.
 *
 * Batch norm folding: a convolution added with {@link OnnxGraphBuilder.addConv} can absorb a
 * per-channel affine map `y = scale * x + shift` that directly follows it
 * ({@link OnnxGraphBuilder.foldAffineIntoConv}): the weights and bias are rewritten and the conv
 * output gets a new name, so nothing can read the unfolded value by mistake.
 */
import { type OnnxProto, onnx } from './proto.js';

/** A volume batch inside the graph: a `[B*D, C, H, W]` tensor. */
export interface OnnxVolumeValue {
  readonly kind: 'volume';
  readonly name: string;
  readonly depth: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/** A feature matrix inside the graph: a `[B, F]` tensor. */
export interface OnnxMatrixValue {
  readonly kind: 'matrix';
  readonly name: string;
  readonly features: number;
}

/** A value flowing through the ONNX graph, with its static shape (the batch stays symbolic). */
export type OnnxValue = OnnxVolumeValue | OnnxMatrixValue;

/** A node attribute: an integer, integers, a float, floats, or a string. */
export type OnnxAttribute =
  | { readonly i: number }
  | { readonly ints: readonly number[] }
  | { readonly f: number }
  | { readonly floats: readonly number[] }
  | { readonly s: string };

/** A graph input or output dimension: a size, or a symbolic name (`batch`). */
export type OnnxDim = number | string;

interface InitializerRecord {
  readonly name: string;
  readonly dims: readonly number[];
  readonly dataType: 'float32' | 'int64';
  data: Float32Array | BigInt64Array;
}

interface NodeRecord {
  readonly opType: string;
  readonly name: string;
  readonly inputs: readonly string[];
  outputs: string[];
  readonly attributes: Readonly<Record<string, OnnxAttribute>>;
  /** For a Conv added by addConv: its weight (`[O, I/g, kh, kw]`) and bias initializers. */
  conv?: { weight: string; bias: string | undefined; outChannels: number };
}

interface ValueInfo {
  readonly name: string;
  readonly dims: readonly OnnxDim[];
}

export interface OnnxModelMeta {
  /** Graph name; default `covsev`. */
  readonly graphName?: string;
  readonly producerVersion?: string;
  readonly docString?: string;
}

export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;

export class OnnxGraphBuilder {
  private readonly nodes: NodeRecord[] = [];
  private readonly initializers = new Map<string, InitializerRecord>();
  private readonly producers = new Map<string, NodeRecord>();
  private readonly consumers = new Map<string, number>();
  private readonly retired = new Map<string, string>();
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly scopes: string[] = [];
  private readonly used = new Set<string>();
  private readonly int64Cache = new Map<string, string>();

  /** Runs `fn` with `key` appended to the naming scope (`layer1` then `0` gives `layer1.0.conv1.weight`). */
  scope<T>(key: string, fn: () => T): T {
    this.scopes.push(key);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  /** `local` under the current scope, made unique across initializers, nodes and values. */
  uniqueName(local: string): string {
    return this.uniqueGlobalName([...this.scopes, local].join('.'));
  }

  private uniqueGlobalName(base: string): string {
    let name = base;
    for (let n = 1; this.used.has(name); n++) name = `${base}_${n}`;
    this.used.add(name);
    return name;
  }

  /** Adds a float32 initializer (data copied) and returns its name. */
  addInitializer(local: string, data: Float32Array, dims: readonly number[]): string {
    checkSize(local, data.length, dims);
    const name = this.uniqueName(local);
    this.initializers.set(name, { name, dims: [...dims], dataType: 'float32', data: Float32Array.from(data) });
    return name;
  }

  /** An int64 constant (reshape shapes, ...), shared between nodes that need the same values. */
  int64(values: readonly number[]): string {
    const key = values.join(',');
    const cached = this.int64Cache.get(key);
    if (cached) return cached;
    const name = this.uniqueGlobalName(`const_i64_${values.map((v) => (v < 0 ? `m${-v}` : v)).join('_')}`);
    this.initializers.set(name, {
      name,
      dims: [values.length],
      dataType: 'int64',
      data: BigInt64Array.from(values.map((v) => BigInt(v))),
    });
    this.int64Cache.set(key, name);
    return name;
  }

  /** Declares a graph input. */
  addInput(name: string, dims: readonly OnnxDim[]): string {
    if (this.used.has(name)) throw new Error(`ONNX graph: name '${name}' is taken`);
    this.used.add(name);
    this.inputs.push({ name, dims: [...dims] });
    return name;
  }

  /**
   * Adds a node with one output and returns the output's name. Inputs must exist already
   * (graph inputs, initializers, or outputs of earlier nodes); '' stands for an omitted optional input.
   */
  addNode(opType: string, inputs: readonly string[], attributes: Readonly<Record<string, OnnxAttribute>> = {}): string {
    for (const input of inputs) {
      if (input === '') continue;
      const why = this.retired.get(input);
      if (why) throw new Error(`ONNX graph: value '${input}' was ${why}; use the value returned then`);
      if (!this.producers.has(input) && !this.initializers.has(input) && !this.inputs.some((i) => i.name === input)) {
        throw new Error(`ONNX graph: ${opType} reads '${input}', which nothing produces`);
      }
    }
    const name = this.uniqueName(opType);
    const node: NodeRecord = { opType, name, inputs: [...inputs], outputs: [name], attributes };
    this.nodes.push(node);
    this.producers.set(name, node);
    for (const input of inputs) if (input !== '') this.consumers.set(input, (this.consumers.get(input) ?? 0) + 1);
    return name;
  }

  /**
   * A 2D convolution over `[N, C, H, W]`, with weight `[O, I/groups, kh, kw]` (PyTorch's Conv2d
   * layout) and an optional bias `[O]`, stored as initializers `weight` / `bias` of the current scope.
   */
  addConv(
    input: string,
    weight: Float32Array,
    weightDims: readonly [number, number, number, number],
    bias: Float32Array | undefined,
    attributes: Readonly<Record<string, OnnxAttribute>>,
  ): string {
    const w = this.addInitializer('weight', weight, weightDims);
    const b = bias ? this.addInitializer('bias', bias, [weightDims[0]]) : undefined;
    const out = this.addNode('Conv', b ? [input, w, b] : [input, w], attributes);
    const node = this.producers.get(out) as NodeRecord;
    node.conv = { weight: w, bias: b, outChannels: weightDims[0] };
    return out;
  }

  /**
   * Folds `y[c] = scale[c] * x[c] + shift[c]` into the Conv that produced `value`, when that Conv
   * came from {@link addConv} and nothing else reads its output yet. Returns the new name of the
   * (folded) output, or undefined when folding is not possible (the caller then emits the op).
   */
  foldAffineIntoConv(value: string, scale: Float32Array, shift: Float32Array): string | undefined {
    const node = this.producers.get(value);
    const conv = node?.conv;
    if (!node || !conv || (this.consumers.get(value) ?? 0) > 0 || this.outputs.some((o) => o.name === value)) return undefined;
    if (scale.length !== conv.outChannels || shift.length !== conv.outChannels) return undefined;
    const w = this.initializers.get(conv.weight) as InitializerRecord;
    const wd = w.data as Float32Array;
    const per = wd.length / conv.outChannels;
    for (let o = 0; o < conv.outChannels; o++) {
      const s = scale[o] as number;
      for (let j = o * per; j < (o + 1) * per; j++) wd[j] = (wd[j] as number) * s;
    }
    const folded = new Float32Array(conv.outChannels);
    const oldBias = conv.bias ? (this.initializers.get(conv.bias)?.data as Float32Array) : undefined;
    for (let o = 0; o < conv.outChannels; o++) {
      folded[o] = (scale[o] as number) * (oldBias ? (oldBias[o] as number) : 0) + (shift[o] as number);
    }
    if (conv.bias) {
      (this.initializers.get(conv.bias) as InitializerRecord).data = folded;
    } else {
      const biasName = this.uniqueGlobalName(conv.weight.replace(/weight(_\d+)?$/, 'bias'));
      this.initializers.set(biasName, { name: biasName, dims: [conv.outChannels], dataType: 'float32', data: folded });
      (node.inputs as string[]).push(biasName);
      conv.bias = biasName;
    }
    const renamed = this.uniqueName('folded');
    node.outputs = [renamed];
    this.producers.delete(value);
    this.producers.set(renamed, node);
    this.retired.set(value, 'folded with the affine map (batch norm) after it');
    return renamed;
  }

  /**
   * Declares `value` a graph output named `name`: the producing node's output is renamed when
   * possible, otherwise an Identity node is added.
   */
  addOutput(value: string, name: string, dims: readonly OnnxDim[]): void {
    const node = this.producers.get(value);
    if (value !== name) {
      if (this.used.has(name)) throw new Error(`ONNX graph: output name '${name}' is taken`);
      if (node && (this.consumers.get(value) ?? 0) === 0 && !this.outputs.some((o) => o.name === value)) {
        node.outputs = node.outputs.map((o) => (o === value ? name : o));
        this.producers.delete(value);
        this.producers.set(name, node);
        this.retired.set(value, `renamed to the graph output '${name}'`);
        this.used.add(name);
      } else {
        const idName = this.addNode('Identity', [value]);
        const idNode = this.producers.get(idName) as NodeRecord;
        idNode.outputs = [name];
        this.producers.delete(idName);
        this.producers.set(name, idNode);
        this.used.add(name);
      }
    }
    this.outputs.push({ name, dims: [...dims] });
  }

  /** Node counts by operator type (a folded model has no BatchNormalization). */
  opCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const n of this.nodes) counts[n.opType] = (counts[n.opType] ?? 0) + 1;
    return counts;
  }

  /** The ModelProto message. */
  toModelProto(meta: OnnxModelMeta = {}): OnnxProto.ModelProto {
    const graph = onnx.GraphProto.create({
      name: meta.graphName ?? 'covsev',
      node: this.nodes.map((n) =>
        onnx.NodeProto.create({
          name: n.name,
          opType: n.opType,
          input: [...n.inputs],
          output: [...n.outputs],
          attribute: Object.entries(n.attributes).map(([name, a]) => attributeProto(name, a)),
        }),
      ),
      initializer: [...this.initializers.values()].map(tensorProto),
      input: this.inputs.map(valueInfo),
      output: this.outputs.map(valueInfo),
    });
    return onnx.ModelProto.create({
      irVersion: ONNX_IR_VERSION,
      opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: ONNX_OPSET })],
      producerName: 'covsev',
      producerVersion: meta.producerVersion ?? '0.1.0',
      docString: meta.docString ?? '',
      graph,
    });
  }

  /** The serialised model (protobuf bytes). */
  encode(meta: OnnxModelMeta = {}): Uint8Array {
    return onnx.ModelProto.encode(this.toModelProto(meta)).finish();
  }
}

function checkSize(what: string, length: number, dims: readonly number[]): void {
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== length) throw new Error(`ONNX initializer ${what}: ${length} values for dims [${dims}]`);
}

function attributeProto(name: string, a: OnnxAttribute): OnnxProto.AttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if ('i' in a) return onnx.AttributeProto.create({ name, type: T.INT, i: a.i });
  if ('ints' in a) return onnx.AttributeProto.create({ name, type: T.INTS, ints: [...a.ints] });
  if ('f' in a) return onnx.AttributeProto.create({ name, type: T.FLOAT, f: a.f });
  if ('floats' in a) return onnx.AttributeProto.create({ name, type: T.FLOATS, floats: [...a.floats] });
  return onnx.AttributeProto.create({ name, type: T.STRING, s: new TextEncoder().encode(a.s) });
}

function tensorProto(init: InitializerRecord): OnnxProto.TensorProto {
  const bytes = new Uint8Array(init.data.buffer, init.data.byteOffset, init.data.byteLength);
  return onnx.TensorProto.create({
    name: init.name,
    dims: [...init.dims],
    dataType: init.dataType === 'float32' ? onnx.TensorProto.DataType.FLOAT : onnx.TensorProto.DataType.INT64,
    // raw_data is little-endian in ONNX, like every platform Node runs on here.
    rawData: bytes,
  });
}

function valueInfo(v: ValueInfo): OnnxProto.ValueInfoProto {
  return onnx.ValueInfoProto.create({
    name: v.name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: onnx.TensorShapeProto.create({
          dim: v.dims.map((d) =>
            typeof d === 'number'
              ? onnx.TensorShapeProto.Dimension.create({ dimValue: d })
              : onnx.TensorShapeProto.Dimension.create({ dimParam: d }),
          ),
        }),
      }),
    }),
  });
}

/** Helpers for attributes. */
export const attr = {
  i: (i: number): OnnxAttribute => ({ i }),
  ints: (ints: readonly number[]): OnnxAttribute => ({ ints }),
  f: (f: number): OnnxAttribute => ({ f }),
  floats: (floats: readonly number[]): OnnxAttribute => ({ floats }),
  s: (s: string): OnnxAttribute => ({ s }),
};

/** Reshape node with a static target shape (-1 for the symbolic batch). */
export function reshape(graph: OnnxGraphBuilder, value: string, shape: readonly number[]): string {
  return graph.addNode('Reshape', [value, graph.int64(shape)]);
}
