/**
 * loadTorchStateDict: strict loads list every fault in one error and assign nothing; partial loads
 * assign what fits and report the rest; shapes are PyTorch's, with 2D kernels fitting 1 x k x k
 * convs (inflation) and 1 x 1 convs fitting Linear layers.
 */
import { CovsevInputError, Rng } from '@covsev/io/core';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchNorm, Conv1kk, Linear } from './layers/index.js';
import { disposeModule, Sequential, variableMap } from './module.js';
import { formatLoadReport, loadTorchStateDict, StateDictMismatchError, type TorchTensor } from './torchWeights.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** conv (3 -> 4, 3 x 3), bn(4), fc (4 -> 2). */
function net(): Sequential {
  const rng = Rng.fromSeed(3);
  return new Sequential({
    conv: new Conv1kk({ inChannels: 3, outChannels: 4, kernel: 3, padding: 1, bias: false, rng }),
    bn: new BatchNorm({ channels: 4 }),
    fc: new Linear({ inFeatures: 4, outFeatures: 2, rng }),
  });
}

const seq = (n: number, from = 0): Float32Array => Float32Array.from({ length: n }, (_, i) => from + i / 8);
const t = (shape: number[], from = 0): TorchTensor => ({
  shape,
  data: seq(
    shape.reduce((a, b) => a * b, 1),
    from,
  ),
});

/** A state dict that fits `net()` exactly, with 2D conv shapes as torchvision writes them. */
function fullState(): Map<string, TorchTensor> {
  return new Map([
    ['conv.weight', t([4, 3, 3, 3])],
    ['bn.weight', t([4], 1)],
    ['bn.bias', t([4], 2)],
    ['bn.running_mean', t([4], 3)],
    ['bn.running_var', t([4], 4)],
    ['bn.num_batches_tracked', { shape: [], data: [7] }],
    ['fc.weight', t([2, 4], 5)],
    ['fc.bias', t([2], 6)],
  ]);
}

const snapshot = (m: Sequential): Map<string, number[]> =>
  new Map([...variableMap(m)].map(([k, v]) => [k, [...(v.dataSync() as Float32Array)]]));

describe('loadTorchStateDict', () => {
  it('loads a fitting state dict and reports every variable loaded; the conv kernel is transposed to tfjs layout', () => {
    const m = net();
    const report = loadTorchStateDict(m, fullState());
    expect(report.loaded).toEqual([
      'conv.weight',
      'bn.weight',
      'bn.bias',
      'bn.running_mean',
      'bn.running_var',
      'bn.num_batches_tracked',
      'fc.weight',
      'fc.bias',
    ]);
    expect(variableMap(m).get('bn.num_batches_tracked')?.dataSync()[0]).toBe(7);
    expect([report.missing, report.unexpected, report.mismatched, report.kept]).toEqual([[], [], [], []]);
    const conv = m.children()[0]?.[1] as Conv1kk;
    expect([...conv.torchWeight()]).toEqual([...seq(108)]);
    expect([...(variableMap(m).get('fc.bias')?.dataSync() ?? [])]).toEqual([6, 6.125]);
    disposeModule(m);
  });

  it('inflation: a Conv3d kernel [out, in, 1, k, k] and a 1 x 1 conv for a Linear fit too', () => {
    const m = net();
    const state = fullState();
    state.set('conv.weight', t([4, 3, 1, 3, 3]));
    state.set('fc.weight', t([2, 4, 1, 1], 5));
    expect(loadTorchStateDict(m, state).loaded).toHaveLength(8);
    disposeModule(m);
  });

  it('strict: lists every missing key, unexpected key and wrong shape in one error, and assigns nothing', () => {
    const m = net();
    const before = snapshot(m);
    const state = fullState();
    state.delete('bn.running_var');
    state.delete('fc.bias');
    state.set('fc.extra', t([3]));
    state.set('classifier.weight', t([1000, 4]));
    state.set('conv.weight', t([4, 3, 7, 7]));
    state.set('bn.weight', t([5], 1));
    let error: unknown;
    try {
      loadTorchStateDict(m, state, { source: '/data/resnet34.safetensors' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StateDictMismatchError);
    expect(error).toBeInstanceOf(CovsevInputError);
    const message = (error as Error).message;
    expect(message).toContain(
      '/data/resnet34.safetensors: the weights do not fit Sequential(3) (2 missing, 2 unexpected, 2 with the wrong shape); nothing was loaded',
    );
    expect(message).toContain('missing (in the model, not in the file): bn.running_var, fc.bias');
    expect(message).toContain('unexpected (in the file, not in the model): fc.extra, classifier.weight');
    expect(message).toContain('wrong shape: conv.weight: file [4, 3, 7, 7], model [4, 3, 3, 3]');
    expect(message).toContain('wrong shape: bn.weight: file [5], model [4]');
    expect((error as StateDictMismatchError).report.loaded).toEqual([]);
    expect(snapshot(m)).toEqual(before);
    disposeModule(m);
  });

  it('strict without a source names loadTorchStateDict; flat arrays are checked by count', () => {
    const m = net();
    const flat = new Map<string, ArrayLike<number>>([...fullState()].map(([k, v]) => [k, v.data]));
    flat.set('fc.weight', seq(9));
    expect(() => loadTorchStateDict(m, flat)).toThrow(
      /^loadTorchStateDict: the weights do not fit .*\nwrong shape: fc.weight: file \[9\], model \[2, 4\]$/s,
    );
    disposeModule(m);
  });

  it('partial: assigns what fits, leaves the rest as it was, and reports it', () => {
    const m = net();
    const before = snapshot(m);
    const state = fullState();
    state.delete('fc.bias');
    state.set('conv.weight', t([4, 3, 7, 7]));
    state.set('fc.extra', t([3]));
    const report = loadTorchStateDict(m, state, { partial: true });
    expect(report.loaded).toEqual([
      'bn.weight',
      'bn.bias',
      'bn.running_mean',
      'bn.running_var',
      'bn.num_batches_tracked',
      'fc.weight',
    ]);
    expect(report.missing).toEqual(['fc.bias']);
    expect(report.unexpected).toEqual(['fc.extra']);
    expect(report.mismatched).toEqual([{ name: 'conv.weight', model: [4, 3, 3, 3], file: [4, 3, 7, 7] }]);
    const after = snapshot(m);
    expect(after.get('conv.weight')).toEqual(before.get('conv.weight'));
    expect(after.get('fc.bias')).toEqual(before.get('fc.bias'));
    expect(after.get('bn.bias')).toEqual([2, 2.125, 2.25, 2.375]);
    expect(formatLoadReport(report).split('\n')).toEqual([
      'missing (in the model, not in the file): fc.bias',
      'unexpected (in the file, not in the model): fc.extra',
      'wrong shape: conv.weight: file [4, 3, 7, 7], model [4, 3, 3, 3]',
    ]);
    disposeModule(m);
  });

  it('ignore (also given alone, as before) drops entries; optional variables may be absent and are then kept as initialised', () => {
    const m = net();
    const before = snapshot(m);
    const state = fullState();
    state.set('features.extra', t([2]));
    expect(() => loadTorchStateDict(m, state)).toThrow(/unexpected \(in the file, not in the model\): features.extra/);
    const report = loadTorchStateDict(m, state, (name) => name === 'features.extra');
    expect(report.ignored).toEqual(['features.extra']);
    expect(report.loaded).toHaveLength(8);
    state.delete('conv.weight');
    state.delete('bn.num_batches_tracked');
    const m2 = net();
    expect(() => loadTorchStateDict(m2, state, (name) => name === 'features.extra')).toThrow(/2 missing/);
    const kept = loadTorchStateDict(m2, state, {
      optional: (n) => n === 'conv.weight' || n.endsWith('num_batches_tracked'),
      ignore: (name) => name === 'features.extra',
    });
    expect(kept.kept).toEqual(['conv.weight', 'bn.num_batches_tracked']);
    expect(kept.missing).toEqual([]);
    expect(snapshot(m2).get('conv.weight')).toEqual(before.get('conv.weight'));
    expect(snapshot(m2).get('bn.bias')).toEqual([2, 2.125, 2.25, 2.375]);
    disposeModule(m);
    disposeModule(m2);
  });
});
