import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { NamedVariable } from '../module.js';
import { assignValues, flatSpans, readValues } from './flatVariables.js';

function variables(): NamedVariable[] {
  return [
    { name: 'a', variable: tf.variable(tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3])) },
    { name: 'b', variable: tf.variable(tf.tensor1d([7])) },
    { name: 'c', variable: tf.variable(tf.tensor1d([8, 9])) },
  ];
}

describe('flat variable exchange', () => {
  it('lays variables out in order, reads them flat, and assigns them back', () => {
    const list = variables();
    expect(flatSpans(list).map(([e, from, to]) => [e.name, from, to])).toEqual([
      ['a', 0, 6],
      ['b', 6, 7],
      ['c', 7, 9],
    ]);
    expect(flatSpans(list, 4).map(([, from, to]) => [from, to])).toEqual([
      [4, 10],
      [10, 11],
      [11, 13],
    ]);
    expect(Array.from(readValues(list))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // Into a larger array after other values (gradients first, then buffers).
    const out = new Float32Array(11).fill(-1);
    readValues(list, out, 2);
    expect(Array.from(out)).toEqual([-1, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

    const tensors = tf.memory().numTensors;
    assignValues(list, Float32Array.from([9, 8, 7, 6, 5, 4, 3, 2, 1]));
    expect(tf.memory().numTensors).toBe(tensors);
    expect(list[0]?.variable.arraySync()).toEqual([
      [9, 8, 7],
      [6, 5, 4],
    ]);
    expect(Array.from(list[2]?.variable.dataSync() ?? [])).toEqual([2, 1]);
    expect(() => assignValues(list, new Float32Array(8))).toThrow('8 values for 9 weights');
    for (const { variable } of list) variable.dispose();
  });
});
