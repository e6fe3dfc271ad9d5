/**
 * Parity of covsev's wasm Conv2DBackpropFilter with the cpu backend's, over a grid of shapes.
 *
 * Tolerance: each dW element is a float32 sum of n = B*OH*OW products, summed in a different
 * order by each backend. Its rounding error is bounded by about n*eps*S (worst case; sqrt(n)*eps*S
 * for random-signed terms), where S is the sum of the terms' absolute values. S is computed with
 * the same cpu kernel on |x| and |dy|, and the test asks |wasm - cpu| <= 1e-5 * S: 1e-5 relative
 * to the size of the sum rather than to its (possibly cancelled) result. With n <= 3*32*32 here,
 * sqrt(n)*eps ~ 3e-6 < 1e-5.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filterGradMethod } from './conv2dBackpropFilter.js';
import { convGeometry } from './convGeometry.js';
import { disableOnnxConv, dwFormOf, enableOnnxConv, type OnnxConvDwForm, onnxConvDwForm } from './onnxConv.js';
import {
  describeParity,
  expectNoLeaks,
  forEachConvEngine,
  itEachCase,
  randomValues,
  rng,
  worstRelative,
} from './parity.test-helpers.js';

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
interface Case {
  x: [number, number, number, number];
  k: [number, number];
  co: number;
  strides: [number, number];
  pad: Pad;
}

function grid(): Case[] {
  const kernels: [number, number][] = [
    [1, 1],
    [3, 3],
    [7, 7],
    [1, 3],
  ];
  const strides: [number, number][] = [
    [1, 1],
    [2, 2],
    [1, 2],
  ];
  const pads: Pad[] = [
    'same',
    'valid',
    [
      [0, 0],
      [1, 2],
      [0, 3],
      [0, 0],
    ],
    1,
  ];
  const spatial: [number, number][] = [
    [9, 13],
    [16, 11],
    [12, 12],
    [20, 7],
    [10, 17],
  ];
  const channels = [1, 5, 16, 24, 3, 8];
  const cases: Case[] = [];
  let i = 0;
  for (const k of kernels) {
    for (const s of strides) {
      for (const pad of pads) {
        const [h, w] = spatial[i % spatial.length] as [number, number];
        const ci = channels[i % channels.length] as number;
        const co = channels[(i * 5 + 2) % channels.length] as number;
        cases.push({ x: [1 + (i % 3), h, w, ci], k, co, strides: s, pad });
        i++;
      }
    }
  }
  // More 1x1 stride-1 unpadded: the matMul path, with more input than output channels and back.
  cases.push({ x: [3, 8, 6, 24], k: [1, 1], co: 7, strides: [1, 1], pad: 'valid' });
  cases.push({ x: [2, 5, 9, 2], k: [1, 1], co: 24, strides: [1, 1], pad: 'same' });
  return cases;
}

function outShape(c: Case): number[] {
  const info = tf.backend_util.computeConv2DInfo(c.x, [c.k[0], c.k[1], c.x[3], c.co], c.strides, 1, c.pad, 'floor');
  return info.outShape;
}

function geometryOf(c: Case) {
  const filter = [c.k[0], c.k[1], c.x[3], c.co];
  return convGeometry('test', c.x, filter, outShape(c), { strides: c.strides, pad: c.pad, dimRoundingMode: 'floor' });
}

function methodOf(c: Case): string {
  return filterGradMethod(geometryOf(c));
}

function run(backend: string, c: Case, x: Float32Array, dy: Float32Array): Float32Array {
  tf.setBackend(backend);
  return tf.tidy(() => {
    const dw = tf.engine().runKernel(
      'Conv2DBackpropFilter',
      { x: tf.tensor(x, c.x), dy: tf.tensor(dy, outShape(c)) },
      {
        strides: c.strides,
        pad: c.pad,
        dataFormat: 'NHWC',
        dimRoundingMode: 'floor',
        filterShape: [c.k[0], c.k[1], c.x[3], c.co],
      },
    ) as tf.Tensor;
    return dw.dataSync() as Float32Array;
  });
}

describeParity('covsev Conv2DBackpropFilter (wasm) against cpu', ['Conv2DBackpropFilter'], () => {
  const cases = grid();

  it('the grid exercises each of the three formulations', () => {
    const methods = cases.map(methodOf);
    for (const m of ['pointwise', 'tapRows', 'conv'] as const) {
      expect(methods.filter((x) => x === m).length, m).toBeGreaterThanOrEqual(3);
    }
  });

  const itMatchesCpu = () =>
    itEachCase(cases, (c, i) => {
      const r = rng(1000 + i);
      const x = randomValues(c.x, r);
      const dy = randomValues(outShape(c), r);
      const ref = run('cpu', c, x, dy);
      const size = run('cpu', c, x.map(Math.abs), dy.map(Math.abs));
      const got = run('wasm', c, x, dy);
      expect(got.length).toBe(ref.length);
      const worst = worstRelative(got, ref, size, (s) => Math.max(s, 1e-30));
      if (process.env.COVSEV_PARITY_LOG) console.log(`case ${i} worst ${worst.toExponential(2)}`);
      expect(worst).toBeLessThanOrEqual(1e-5);
    });

  forEachConvEngine(() => {
    itMatchesCpu();

    it('leaks no tensors and no wasm buffers, in each formulation', () => {
      tf.setBackend('wasm');
      for (const m of ['pointwise', 'tapRows', 'conv'] as const) {
        const c = cases.find((k) => methodOf(k) === m) as Case;
        const x = tf.randomNormal(c.x);
        const dy = tf.randomNormal(outShape(c));
        expectNoLeaks(() => {
          for (let k = 0; k < 3; k++) {
            const attrs = {
              strides: c.strides,
              pad: c.pad,
              dataFormat: 'NHWC',
              dimRoundingMode: 'floor',
              filterShape: [c.k[0], c.k[1], c.x[3], c.co],
            };
            tf.dispose(tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs));
          }
        }, m);
        tf.dispose([x, dy]);
      }
    });
  });

  // onnxruntime's two filter-gradient forms, each forced on the whole grid ('auto' above mixes them).
  for (const form of ['taps', 'conv'] as const) {
    describe(`on onnxruntime, every case in the ${form} form`, () => {
      let was: OnnxConvDwForm = 'auto';
      beforeAll(() => {
        expect(enableOnnxConv()).toMatchObject({ enabled: true });
        was = onnxConvDwForm(form);
      });
      afterAll(() => {
        onnxConvDwForm(was);
        disableOnnxConv();
      });
      itMatchesCpu();
    });
  }

  it("auto runs the 7 x 7 stems' filter gradient as one conv and 3 x 3 layers by taps; an unknown form is refused", () => {
    const stem = geometryOf({ x: [32, 64, 64, 2], k: [7, 7], co: 8, strides: [2, 2], pad: 'same' });
    const layer = geometryOf({ x: [32, 32, 32, 8], k: [3, 3], co: 16, strides: [1, 1], pad: 'same' });
    expect(onnxConvDwForm('auto')).toBe('auto');
    expect([dwFormOf(stem), dwFormOf(layer)]).toEqual(['conv', 'taps']);
    onnxConvDwForm('taps');
    expect([dwFormOf(stem), dwFormOf(layer)]).toEqual(['taps', 'taps']);
    expect(onnxConvDwForm('conv')).toBe('taps');
    expect([dwFormOf(stem), dwFormOf(layer)]).toEqual(['conv', 'conv']);
    expect(() => onnxConvDwForm('im2col' as OnnxConvDwForm)).toThrow(
      /onnxConvDwForm: 'im2col' is not a filter-gradient form; expected one of auto, taps, conv/,
    );
    expect(onnxConvDwForm('auto')).toBe('conv');
  });

  it('says why for NCHW', () => {
    tf.setBackend('wasm');
    const x = tf.zeros([1, 4, 4, 2]);
    const dy = tf.zeros([1, 4, 4, 3]);
    expect(() =>
      tf.engine().runKernel(
        'Conv2DBackpropFilter',
        { x, dy },
        {
          strides: 1,
          pad: 'same',
          dataFormat: 'NCHW',
          filterShape: [3, 3, 2, 3],
        },
      ),
    ).toThrow(/dataFormat 'NCHW' is not supported/);
    tf.dispose([x, dy]);
  });
});
