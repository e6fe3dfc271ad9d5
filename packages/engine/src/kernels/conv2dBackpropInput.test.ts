/**
 * Parity of covsev's wasm Conv2DBackpropInput with the cpu backend's, over a grid of shapes,
 * and of its phase decomposition. Tolerance as in conv2dBackpropFilter.test.ts: |wasm - cpu| <=
 * 1e-5 * S, S the sum of the absolute terms (the cpu kernel on |dy| and |w|); each dx element
 * sums n <= KH*KW*Co = 7*7*24 products, sqrt(n)*eps ~ 2e-6.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { phaseTaps } from './conv2dBackpropInput.js';
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
    [3, 1],
  ];
  const strides: [number, number][] = [
    [1, 1],
    [2, 2],
    [2, 1],
  ];
  const pads: Pad[] = [
    'same',
    'valid',
    [
      [0, 0],
      [2, 1],
      [3, 0],
      [0, 0],
    ],
    1,
  ];
  const spatial: [number, number][] = [
    [13, 9],
    [11, 16],
    [12, 12],
    [7, 20],
    [17, 10],
  ];
  const channels = [1, 5, 16, 24, 3, 8];
  const cases: Case[] = [];
  let i = 0;
  for (const k of kernels) {
    for (const s of strides) {
      for (const pad of pads) {
        const [h, w] = spatial[(i + 2) % spatial.length] as [number, number];
        const ci = channels[(i + 1) % channels.length] as number;
        const co = channels[(i * 5 + 3) % channels.length] as number;
        cases.push({ x: [1 + ((i + 1) % 3), h, w, ci], k, co, strides: s, pad });
        i++;
      }
    }
  }
  // Odd corners: a padding wider than the kernel, stride 3, a 1x1 stride-2 'same'.
  cases.push({
    x: [2, 10, 9, 4],
    k: [3, 3],
    co: 6,
    strides: [1, 1],
    pad: [
      [0, 0],
      [4, 0],
      [0, 5],
      [0, 0],
    ],
  });
  cases.push({ x: [1, 14, 13, 3], k: [3, 3], co: 5, strides: [3, 3], pad: 'same' });
  cases.push({ x: [2, 9, 8, 7], k: [1, 1], co: 4, strides: [2, 2], pad: 'same' });
  return cases;
}

const filterShape = (c: Case): [number, number, number, number] => [c.k[0], c.k[1], c.x[3], c.co];

function outShape(c: Case): number[] {
  return tf.backend_util.computeConv2DInfo(c.x, filterShape(c), c.strides, 1, c.pad, 'floor').outShape;
}

function run(backend: string, c: Case, dy: Float32Array, w: Float32Array): Float32Array {
  tf.setBackend(backend);
  return tf.tidy(() => {
    const dx = tf
      .engine()
      .runKernel(
        'Conv2DBackpropInput',
        { dy: tf.tensor(dy, outShape(c)), filter: tf.tensor(w, filterShape(c)) },
        { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: 'floor', inputShape: c.x },
      ) as tf.Tensor;
    return dx.dataSync() as Float32Array;
  });
}

describe('phaseTaps', () => {
  it('splits a 3-tap filter at stride 2 into phases of 2 and 1 taps', () => {
    // padTop 1: row 2q reads dy[q] w[1]; row 2q+1 reads dy[q+1] w[0] and dy[q] w[2]
    expect(phaseTaps(3, 2, 1)).toEqual([
      [{ k: 1, d: 0 }],
      [
        { k: 0, d: 1 },
        { k: 2, d: 0 },
      ],
    ]);
  });
  it('gives the flipped filter at stride 1', () => {
    expect(phaseTaps(3, 1, 1)).toEqual([
      [
        { k: 0, d: 1 },
        { k: 1, d: 0 },
        { k: 2, d: -1 },
      ],
    ]);
  });
});

describeParity('covsev Conv2DBackpropInput (wasm) against cpu', ['Conv2DBackpropInput'], () => {
  const cases = grid();
  forEachConvEngine(() => {
    itEachCase(cases, (c, i) => {
      const r = rng(2000 + i);
      const dy = randomValues(outShape(c), r);
      const w = randomValues(filterShape(c), r);
      const ref = run('cpu', c, dy, w);
      const size = run('cpu', c, dy.map(Math.abs), w.map(Math.abs));
      const got = run('wasm', c, dy, w);
      expect(got.length).toBe(ref.length);
      // An input pixel no output reads (stride > kernel) has a zero gradient on both: size 0, absolute error.
      const worst = worstRelative(got, ref, size);
      if (process.env.COVSEV_PARITY_LOG) console.log(`case ${i} worst ${worst.toExponential(2)}`);
      expect(worst).toBeLessThanOrEqual(1e-5);
    });

    it('leaks no tensors and no wasm buffers, at stride 1 and 2', () => {
      tf.setBackend('wasm');
      for (const c of [cases[1], cases[17]] as Case[]) {
        const dy = tf.randomNormal(outShape(c));
        const w = tf.randomNormal(filterShape(c));
        expectNoLeaks(() => {
          for (let k = 0; k < 3; k++) {
            const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: 'floor', inputShape: c.x };
            tf.dispose(tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, attrs));
          }
        });
        tf.dispose([dy, w]);
      }
    });
  });
});
