import { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchNorm } from '../layers/batchNorm.js';
import { Conv1kk } from '../layers/conv1kk.js';
import { attr, OnnxGraphBuilder, type OnnxValue } from './graph.js';
import { onnx } from './proto.js';
import { cudaProviderInstalled, OnnxSession } from './session.js';

beforeAll(async () => {
  await tf.setBackend('wasm');
});

const volumeInput = (graph: OnnxGraphBuilder): OnnxValue => ({
  kind: 'volume',
  name: graph.addInput('x', ['batch', 2, 5, 5]),
  depth: 1,
  channels: 2,
  height: 5,
  width: 5,
});

describe('OnnxGraphBuilder', () => {
  it('folds an affine map into the conv before it, renames its output, and refuses the stale name', () => {
    const graph = new OnnxGraphBuilder();
    const x = volumeInput(graph);
    const conv = new Conv1kk({ inChannels: 2, outChannels: 3, kernel: 3, padding: 1, bias: false, rng: Rng.fromSeed(1) });
    const y = graph.scope('conv1', () => conv.toOnnx(graph, x));
    const folded = graph.foldAffineIntoConv(y.name, Float32Array.of(2, 2, 2), Float32Array.of(1, 2, 3));
    expect(folded).toBeDefined();
    expect(() => graph.addNode('Relu', [y.name])).toThrow(/was folded/);
    graph.addOutput(folded as string, 'y', ['batch', 3, 5, 5]);
    const model = onnx.ModelProto.decode(graph.encode());
    const init = model.graph?.initializer ?? [];
    expect(init.map((t) => t.name)).toEqual(['conv1.weight', 'conv1.bias']);
    const bias = init[1] as InstanceType<typeof onnx.TensorProto>;
    expect(Array.from(new Float32Array(Uint8Array.from(bias.rawData).buffer))).toEqual([1, 2, 3]);
    const w = init[0] as InstanceType<typeof onnx.TensorProto>;
    const torch = conv.torchWeight();
    expect(new Float32Array(Uint8Array.from(w.rawData).buffer)[0]).toBeCloseTo(2 * (torch[0] as number), 6);
    expect(model.graph?.output?.[0]?.name).toBe('y');
    expect(model.graph?.node?.map((n) => n.opType)).toEqual(['Conv']);
  });

  it('does not fold when the conv output already has another reader, or after an activation', () => {
    const graph = new OnnxGraphBuilder();
    const x = volumeInput(graph);
    const rng = Rng.fromSeed(2);
    const conv = new Conv1kk({ inChannels: 2, outChannels: 2, kernel: 1, rng });
    const y = conv.toOnnx(graph, x);
    graph.addNode('Relu', [y.name]);
    expect(graph.foldAffineIntoConv(y.name, Float32Array.of(1, 1), Float32Array.of(0, 0))).toBeUndefined();
    const fused = new Conv1kk({ inChannels: 2, outChannels: 2, kernel: 1, activation: 'relu', rng });
    const bn = new BatchNorm({ channels: 2 });
    const z = bn.toOnnx(graph, fused.toOnnx(graph, x));
    expect(graph.opCounts()).toMatchObject({ Conv: 2, Relu: 2, BatchNormalization: 1 });
    expect(z.kind).toBe('volume');
    expect(graph.int64([-1, 2])).toBe(graph.int64([-1, 2]));
    expect(() => graph.addNode('Relu', ['nowhere'])).toThrow(/nothing produces/);
    expect(attr.ints([1, 2])).toEqual({ ints: [1, 2] });
  });
});

describe('OnnxSession', () => {
  it('falls back to the CPU when the CUDA provider cannot start', async () => {
    const graph = new OnnxGraphBuilder();
    const x = graph.addInput('x', ['batch', 3]);
    graph.addOutput(graph.addNode('Relu', [x]), 'y', ['batch', 3]);
    const bytes = graph.encode();
    const auto = await OnnxSession.create(bytes, { intraOpNumThreads: 1 });
    expect(auto.executionProviders).toEqual(cudaProviderInstalled() ? ['cuda', 'cpu'] : ['cpu']);
    const out = await auto.runSingle(Float32Array.of(-1, 0, 2, 3, -4, 5), [2, 3]);
    expect(Array.from(out.data)).toEqual([0, 0, 2, 3, 0, 5]);
    expect(out.dims).toEqual([2, 3]);
    await auto.release();
    if (!cudaProviderInstalled()) {
      const forced = await OnnxSession.create(bytes, { executionProviders: ['cuda', 'cpu'], intraOpNumThreads: 1 });
      expect(forced.executionProviders).toEqual(['cpu']);
      expect(forced.fallbackReason).toBeTruthy();
      await forced.release();
    }
    await expect(auto.run({ x: { data: new Float32Array(4), dims: [2, 3] } })).rejects.toThrow(/4 values/);
  });
});
