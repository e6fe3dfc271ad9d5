import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { describeParity, expectNoLeaks } from './parity.test-helpers.js';
import { tileInto } from './tile.js';

const cases: [number[], number[]][] = [
  [
    [1, 1, 1, 16],
    [8, 5, 7, 1],
  ], // the batch-norm gradient's broadcast
  [
    [3, 1],
    [1, 6],
  ],
  [
    [2, 3, 4],
    [2, 1, 3],
  ],
  [[5], [4]],
  [
    [2, 1, 3, 2],
    [1, 3, 1, 2],
  ],
  [
    [4, 3],
    [1, 1],
  ],
  [
    [2, 2, 2, 2, 3],
    [2, 1, 2, 1, 2],
  ],
  [
    [7, 70],
    [3, 2],
  ], // chunks past the small-copy threshold
  [
    [0, 3],
    [2, 2],
  ],
];

function reference(x: Float32Array, shape: number[], reps: number[]): Float32Array {
  const outShape = shape.map((d, i) => d * (reps[i] as number));
  const out = new Float32Array(outShape.reduce((a, b) => a * b, 1));
  const idx = new Array<number>(shape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let rem = o;
    for (let a = shape.length - 1; a >= 0; a--) {
      idx[a] = rem % (outShape[a] as number);
      rem = Math.floor(rem / (outShape[a] as number));
    }
    let src = 0;
    for (let a = 0; a < shape.length; a++) src = src * (shape[a] as number) + ((idx[a] as number) % (shape[a] as number));
    out[o] = x[src] as number;
  }
  return out;
}

describe('tileInto', () => {
  it.each(cases)('tiles %j by %j', (shape, reps) => {
    const x = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i + 1);
    const out = new Float32Array(shape.reduce((a, d, i) => a * d * (reps[i] as number), 1));
    tileInto(x, shape, reps, out);
    expect(Array.from(out)).toEqual(Array.from(reference(x, shape, reps)));
  });
});

describeParity('covsev Tile (wasm) against cpu', ['Tile'], () => {
  it.each(['float32', 'int32', 'bool'] as const)('matches cpu for %s', (dtype) => {
    for (const [shape, reps] of cases) {
      const values = Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => (i * 7) % 5);
      const run = (backend: string) => {
        tf.setBackend(backend);
        return tf.tidy(() => Array.from(tf.tile(tf.tensor(values, shape, dtype), reps).dataSync()));
      };
      expect(run('wasm'), `${JSON.stringify(shape)} x ${JSON.stringify(reps)}`).toEqual(run('cpu'));
    }
  });

  it('leaks nothing', () => {
    tf.setBackend('wasm');
    const x = tf.ones([1, 1, 1, 8]);
    expectNoLeaks(() => tf.tile(x, [2, 3, 3, 1]).dispose());
    x.dispose();
  });
});
