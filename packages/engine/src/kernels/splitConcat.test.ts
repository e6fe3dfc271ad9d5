import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { describeParity, expectNoLeaks, itEachCase, randomValues, rng } from './parity.test-helpers.js';
import { concatInto, splitInto } from './splitConcat.js';

/** [shape, axis, sizes along the axis]: the grid of the parity tests. */
type Case = { shape: number[]; axis: number; sizes: number[] };

const cases: Case[] = [
  { shape: [7], axis: 0, sizes: [3, 4] },
  { shape: [9], axis: -1, sizes: [2, 2, 5] },
  { shape: [5, 6], axis: 0, sizes: [1, 4] },
  { shape: [5, 6], axis: 1, sizes: [2, 4] },
  { shape: [5, 200], axis: -1, sizes: [70, 130] }, // chunks past the small-copy threshold
  { shape: [3, 4, 5], axis: 1, sizes: [1, 1, 2] },
  { shape: [3, 4, 5], axis: 2, sizes: [5] }, // a single part
  { shape: [2, 5, 4, 8], axis: 3, sizes: [4, 4] }, // NHWC channels, 2 parts
  { shape: [2, 5, 4, 12], axis: -1, sizes: [4, 4, 4] }, // 3 parts
  { shape: [2, 3, 3, 10], axis: 3, sizes: [1, 2, 3, 4] }, // 4 uneven parts
  { shape: [6, 3, 2, 4], axis: 0, sizes: [2, 1, 3] },
  { shape: [2, 6, 3, 4], axis: 1, sizes: [3, 3] },
  { shape: [2, 3, 4, 5, 6], axis: 4, sizes: [2, 4] }, // NDHWC
  { shape: [2, 3, 4, 5, 130], axis: -1, sizes: [65, 65] },
  { shape: [4, 0, 3], axis: 2, sizes: [1, 2] }, // 0-size
  { shape: [4, 5, 3], axis: 1, sizes: [0, 5] }, // a part of size 0
];

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const partShape = (c: Case, s: number) => c.shape.map((d, i) => (i === (c.axis + c.shape.length) % c.shape.length ? s : d));

describe('concatInto and splitInto', () => {
  itEachCase(cases, (c) => {
    const axis = (c.axis + c.shape.length) % c.shape.length;
    const outer = size(c.shape.slice(0, axis));
    const inner = size(c.shape.slice(axis + 1));
    const chunks = c.sizes.map((s) => s * inner);
    const x = Float32Array.from({ length: size(c.shape) }, (_, i) => i + 1);
    const parts = c.sizes.map((s) => new Float32Array(size(partShape(c, s))));
    splitInto(x, chunks, outer, parts);
    const back = new Float32Array(x.length);
    concatInto(parts, chunks, outer, back);
    expect(Array.from(back)).toEqual(Array.from(x));
    // Each part holds the x values whose index along the axis falls in its range.
    let begin = 0;
    c.sizes.forEach((s, p) => {
      const expected: number[] = [];
      for (let o = 0; o < outer; o++) {
        for (let a = begin; a < begin + s; a++) {
          for (let i = 0; i < inner; i++) expected.push(x[(o * (c.shape[axis] as number) + a) * inner + i] as number);
        }
      }
      expect(Array.from(parts[p] as Float32Array)).toEqual(expected);
      begin += s;
    });
  });
});

/** f's result on the backend, with the tensors f made disposed. */
function onBackend<T>(backend: string, f: () => T): T {
  tf.setBackend(backend);
  let result: T | undefined;
  tf.tidy(() => {
    result = f();
  });
  return result as T;
}

describeParity('covsev SplitV and Concat (wasm) against cpu', ['SplitV', 'Concat'], () => {
  describe.each(['float32', 'int32', 'bool'] as const)('%s', (dtype) => {
    itEachCase(cases, (c) => {
      const values = Array.from({ length: size(c.shape) }, (_, i) => (i * 7) % 5);
      const run = (backend: string) =>
        onBackend(backend, () => {
          const x = tf.tensor(values, c.shape, dtype);
          const parts = tf.split(x, c.sizes, c.axis);
          // Concat the parts back, reversed so that the result differs from x.
          const joined = tf.concat([...parts].reverse(), c.axis);
          return {
            parts: parts.map((p) => ({ shape: p.shape, dtype: p.dtype, values: Array.from(p.dataSync()) })),
            joined: { shape: joined.shape, dtype: joined.dtype, values: Array.from(joined.dataSync()) },
          };
        });
      expect(run('wasm')).toEqual(run('cpu'));
    });
  });

  it('copies float32 special values bit for bit', () => {
    const values = [Number.NaN, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-40, -3.5];
    const run = (backend: string) =>
      onBackend(backend, () => {
        const x = tf.tensor(values.concat(values), [2, 6]);
        const [a, b] = tf.split(x, [2, 4], 1) as [tf.Tensor, tf.Tensor];
        return [tf.concat([b, a], 1), a, b].map((t) => Array.from(new Int32Array(t.dataSync<'float32'>().buffer.slice(0))));
      });
    expect(run('wasm')).toEqual(run('cpu'));
  });

  it('splits into equal parts by count', () => {
    const run = (backend: string) =>
      onBackend(backend, () => tf.split(tf.range(0, 24).reshape([2, 3, 4]), 2, -1).map((p) => Array.from(p.dataSync())));
    expect(run('wasm')).toEqual(run('cpu'));
  });

  it('concatenates inputs of size 0 with others, and only inputs of size 0', () => {
    const run = (backend: string) =>
      onBackend(backend, () => {
        const a = tf.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
        const e = tf.zeros([2, 0]);
        const one = tf.concat([e, a, e], 1);
        const none = tf.concat([e, e], 1);
        const both = tf.concat([a, e, a], -1);
        return [one, none, both].map((t) => ({ shape: t.shape, values: Array.from(t.dataSync()) }));
      });
    expect(run('wasm')).toEqual(run('cpu'));
  });

  it('concatenates a single input', () => {
    const run = (backend: string) =>
      onBackend(backend, () =>
        Array.from(
          tf
            .concat(
              [
                tf.tensor([
                  [1, 2],
                  [3, 4],
                ]),
              ],
              0,
            )
            .dataSync(),
        ),
      );
    expect(run('wasm')).toEqual(run('cpu'));
  });

  it('hands strings to the stock Concat', () => {
    tf.setBackend('wasm');
    const t = tf.concat([tf.tensor(['a', 'b']), tf.tensor(['c'])]);
    expect(t.dataSync()).toEqual(['a', 'b', 'c']);
    t.dispose();
  });

  const gradCases: Case[] = [
    { shape: [2, 4, 3, 10], axis: 3, sizes: [3, 7] },
    { shape: [2, 3, 4, 4, 12], axis: -1, sizes: [4, 4, 4] },
    { shape: [6, 5], axis: 0, sizes: [1, 2, 3] },
    { shape: [3, 4, 5], axis: 1, sizes: [1, 3] },
  ];
  describe('gradients through split and concat', () => {
    itEachCase(gradCases, (c, i) => {
      const r = rng(100 + i);
      const xs = randomValues(c.shape, r);
      const parts = c.sizes.map((s) => randomValues(partShape(c, s), r));
      const run = (backend: string) =>
        onBackend(backend, () => {
          const x = tf.tensor(xs, c.shape);
          const ps = parts.map((v, p) => tf.tensor(v, partShape(c, c.sizes[p] as number)));
          // f(x, parts) = sum(w * concat(reverse(split(x)) * parts)), so every piece gets a distinct gradient.
          const f = (x: tf.Tensor, ...pieces: tf.Tensor[]) => {
            const split = tf.split(x, c.sizes, c.axis);
            const joined = tf.concat(
              pieces.map((p, k) => tf.mul(p, split[k] as tf.Tensor)),
              c.axis,
            );
            const w = tf.range(0, joined.size).reshape(joined.shape).mod(7);
            return tf.sum(
              tf.mul(tf.concat([joined, joined], c.axis), tf.concat([w, w.neg()], c.axis).add(tf.concat([w, w], c.axis))),
            );
          };
          return tf
            .grads(f)([x, ...ps])
            .map((g) => Array.from(g.dataSync()));
        });
      const wasm = run('wasm');
      const cpu = run('cpu');
      expect(wasm.length).toBe(cpu.length);
      wasm.forEach((g, k) => {
        const ref = cpu[k] as number[];
        expect(g.length).toBe(ref.length);
        for (let j = 0; j < g.length; j++) expect(g[j]).toBeCloseTo(ref[j] as number, 5);
      });
    });
  });

  it('leaks nothing', () => {
    tf.setBackend('wasm');
    const x = tf.ones([2, 3, 3, 8]);
    expectNoLeaks(() => {
      const parts = tf.split(x, [3, 5], 3);
      const y = tf.concat(parts, 3);
      tf.dispose([...parts, y]);
    });
    x.dispose();
  });
});
