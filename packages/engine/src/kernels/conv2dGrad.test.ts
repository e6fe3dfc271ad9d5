/**
 * End to end: tf.grad of conv2d (plain and fused with bias + relu) on wasm, where the covsev
 * kernels compute it, equals the same on cpu. Tolerance as in the kernel parity tests: 1e-5 of
 * the sum of absolute terms (S: the cpu backprop kernels on |x|, |w| and |dy|).
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { forEachConvEngine, itEachCase, randomValues, rng, useWasmAgainstCpu, worstRelative } from './parity.test-helpers.js';

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
interface Case {
  x: [number, number, number, number];
  w: [number, number, number, number];
  strides: [number, number];
  pad: Pad;
  fused: boolean;
}

const cases: Case[] = [
  { x: [2, 12, 10, 3], w: [3, 3, 3, 8], strides: [1, 1], pad: 'same', fused: false },
  { x: [3, 16, 13, 8], w: [3, 3, 8, 16], strides: [2, 2], pad: 'same', fused: true },
  { x: [1, 19, 15, 2], w: [7, 7, 2, 12], strides: [2, 2], pad: 'valid', fused: false },
  { x: [2, 9, 11, 24], w: [1, 1, 24, 6], strides: [1, 1], pad: 'valid', fused: true },
  {
    x: [2, 10, 10, 5],
    w: [3, 3, 5, 4],
    strides: [1, 2],
    pad: [
      [0, 0],
      [1, 0],
      [2, 1],
      [0, 0],
    ],
    fused: false,
  },
];

interface Data {
  x: Float32Array;
  w: Float32Array;
  b: Float32Array;
  dy: Float32Array;
  yShape: number[];
}

function grads(backend: string, c: Case, d: Data): [Float32Array, Float32Array] {
  tf.setBackend(backend);
  return tf.tidy(() => {
    const x = tf.tensor4d(d.x, c.x);
    const w = tf.tensor4d(d.w, c.w);
    const b = tf.tensor1d(d.b);
    const dy = tf.tensor(d.dy, d.yShape);
    const f = (xx: tf.Tensor, ww: tf.Tensor) => {
      const y = c.fused
        ? tf.fused.conv2d({
            x: xx as tf.Tensor4D,
            filter: ww as tf.Tensor4D,
            strides: c.strides,
            pad: c.pad,
            bias: b,
            activation: 'relu',
          })
        : tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, c.strides, c.pad);
      return tf.sum(tf.mul(y, dy));
    };
    const [gx, gw] = tf.grads(f)([x, w]) as [tf.Tensor, tf.Tensor];
    return [gx.dataSync() as Float32Array, gw.dataSync() as Float32Array];
  });
}

/** S: the cpu backprop kernels on absolute values. */
function sums(c: Case, d: Data): [Float32Array, Float32Array] {
  tf.setBackend('cpu');
  return tf.tidy(() => {
    const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC' };
    const x = tf.abs(tf.tensor4d(d.x, c.x));
    const w = tf.abs(tf.tensor4d(d.w, c.w));
    const dy = tf.abs(tf.tensor(d.dy, d.yShape));
    const sx = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: c.x }) as tf.Tensor;
    const sw = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: c.w }) as tf.Tensor;
    return [sx.dataSync() as Float32Array, sw.dataSync() as Float32Array];
  });
}

describe('tf.grad of conv2d: wasm with covsev kernels against cpu', () => {
  useWasmAgainstCpu();

  forEachConvEngine(() =>
    itEachCase(cases, (c, i) => {
      const r = rng(3000 + i);
      const yShape = tf.backend_util.computeConv2DInfo(c.x, c.w, c.strides, 1, c.pad).outShape;
      const d: Data = {
        x: randomValues(c.x, r),
        w: randomValues(c.w, r),
        b: Float32Array.from({ length: c.w[3] }, r),
        dy: randomValues(yShape, r),
        yShape,
      };
      const [refX, refW] = grads('cpu', c, d);
      const [sizeX, sizeW] = sums(c, d);
      const [gotX, gotW] = grads('wasm', c, d);
      expect(worstRelative(gotX, refX, sizeX)).toBeLessThanOrEqual(1e-5);
      expect(worstRelative(gotW, refW, sizeW)).toBeLessThanOrEqual(1e-5);
    }),
  );

  it('trains a tf.layers conv net on wasm without leaking', () => {
    tf.setBackend('wasm');
    const init = (seed: number) => tf.initializers.glorotUniform({ seed });
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({
          inputShape: [16, 16, 1],
          filters: 4,
          kernelSize: 3,
          strides: 2,
          padding: 'same',
          activation: 'relu',
          kernelInitializer: init(1),
        }),
        tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init(2) }),
        tf.layers.batchNormalization(),
        tf.layers.activation({ activation: 'relu' }),
        tf.layers.globalAveragePooling2d({}),
        tf.layers.dense({ units: 2, kernelInitializer: init(3) }),
      ],
    });
    const opt = tf.train.adam(0.01);
    const x = tf.randomNormal([4, 16, 16, 1], 0, 1, 'float32', 1);
    const y = tf.tensor2d([
      [1, 0],
      [0, 1],
      [1, 0],
      [0, 1],
    ]);
    const loss = () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar;
    const step = () => {
      const l = opt.minimize(loss, true) as tf.Scalar;
      const v = l.dataSync()[0] as number;
      l.dispose();
      return v;
    };
    const first = step();
    const tensors = tf.memory().numTensors;
    let last = first;
    for (let k = 0; k < 5; k++) last = step();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(Number.isFinite(last)).toBe(true);
    expect(last).toBeLessThan(first);
    tf.dispose([x, y]);
    model.dispose();
    opt.dispose();
  });
});
