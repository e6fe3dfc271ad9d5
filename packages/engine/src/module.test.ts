import { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { AvgPool3d } from './layers/avgPool3d.js';
import { BatchNorm } from './layers/batchNorm.js';
import { Conv1kk } from './layers/conv1kk.js';
import { GlobalAvgPool3d } from './layers/globalAvgPool3d.js';
import { Linear } from './layers/linear.js';
import { ReLU } from './layers/relu.js';
import { isVolume5, tensorOf, volume } from './layers/volume.js';
import {
  disposeModule,
  type Module,
  namedVariables,
  parameterCount,
  parameterMap,
  Residual,
  Sequential,
  variableMap,
} from './module.js';

beforeAll(async () => {
  await tf.setBackend('wasm');
});

function block(rng: Rng, cin: number, cout: number) {
  return new Residual({
    main: {
      conv1: new Conv1kk({ inChannels: cin, outChannels: cout, kernel: 3, padding: 1, bias: false, rng }),
      bn1: new BatchNorm({ channels: cout }),
      relu: new ReLU(),
    },
    shortcut:
      cin === cout
        ? undefined
        : new Sequential([new Conv1kk({ inChannels: cin, outChannels: cout, kernel: 1, bias: false, rng })]),
  });
}

describe('module contract', () => {
  it('names variables hierarchically, like a PyTorch state_dict', () => {
    const rng = Rng.fromSeed(1);
    const model = new Sequential({
      layer1: new Sequential([block(rng, 2, 4), block(rng, 4, 4)]),
      fc: new Linear({ inFeatures: 4, outFeatures: 3, rng }),
    });
    expect(model.parameters().map((p) => p.name)).toEqual([
      'layer1.0.conv1.weight',
      'layer1.0.bn1.weight',
      'layer1.0.bn1.bias',
      'layer1.0.downsample.0.weight',
      'layer1.1.conv1.weight',
      'layer1.1.bn1.weight',
      'layer1.1.bn1.bias',
      'fc.weight',
      'fc.bias',
    ]);
    expect(model.buffers().map((p) => p.name)).toEqual([
      'layer1.0.bn1.running_mean',
      'layer1.0.bn1.running_var',
      'layer1.0.bn1.num_batches_tracked',
      'layer1.1.bn1.running_mean',
      'layer1.1.bn1.running_var',
      'layer1.1.bn1.num_batches_tracked',
    ]);
    expect(model.parameters().every((p) => p.variable.trainable)).toBe(true);
    expect(model.buffers().some((p) => p.variable.trainable)).toBe(false);
    expect(variableMap(model).get('layer1.0.conv1.weight')?.shape).toEqual([3, 3, 2, 4]);
    expect(variableMap(model).size).toBe(15);
    expect([...parameterMap(model).keys()]).toEqual(model.parameters().map((p) => p.name));
    expect(parameterCount(model)).toBe(3 * 3 * 2 * 4 + 8 + 2 * 4 + 3 * 3 * 4 * 4 + 8 + 4 * 3 + 3);
    // Two models with the same structure coexist (tfjs variable names stay unique).
    const twin = new Sequential({ layer1: new Sequential([block(rng, 2, 4)]) });
    expect(namedVariables(twin)[0]?.name).toBe('layer1.0.conv1.weight');
    disposeModule(twin);
    disposeModule(model);
  });

  it('rejects keys with dots, a shortcut key used twice, and duplicate variable names', () => {
    expect(() => new Sequential({ 'a.b': new ReLU() })).toThrow(/contain no '\.'/);
    const rng = Rng.fromSeed(2);
    const conv = new Conv1kk({ inChannels: 1, outChannels: 1, kernel: 1, rng });
    expect(() => new Residual({ main: { downsample: conv }, shortcut: conv })).toThrow(/used twice/);
    const relu = new ReLU();
    const twice: Module = {
      name: 'Twice',
      parameters: () => [...conv.parameters(), ...conv.parameters()],
      buffers: () => [],
      apply: (x) => x,
      toOnnx: (_g, v) => v,
    };
    expect(() => namedVariables(new Sequential({ relu, twice }))).toThrow(/two variables are named 'twice.weight'/);
    disposeModule(new Sequential([conv]));
  });

  it('runs a volume through Sequential and Residual, keeping batch and depth, and trains without leaking tensors', () => {
    const rng = Rng.fromSeed(3);
    const model = new Sequential([
      block(rng, 2, 4),
      new AvgPool3d({ kernel: 2 }),
      new GlobalAvgPool3d(),
      new Linear({ inFeatures: 4, outFeatures: 2, rng }),
    ]);
    const x = volume(tf.randomNormal([2 * 4, 6, 6, 2]) as tf.Tensor4D, 2, 4);
    const mid = model.children()[0]?.[1].apply(x, { training: true });
    expect(mid && isVolume5(mid) && [mid.batch, mid.depth, ...mid.tensor.shape]).toEqual([2, 4, 8, 6, 6, 4]);
    const before = tf.memory().numTensors;
    const y = tf.tidy(() => tensorOf(model.apply(x, { training: true })));
    expect(y.shape).toEqual([2, 2]);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    disposeModule(model);
  });
});
