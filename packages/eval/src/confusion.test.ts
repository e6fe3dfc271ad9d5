import { describe, expect, it } from 'vitest';
import { ConfusionMatrixAccumulator, confusionMatrix } from './confusion.js';

describe('confusionMatrix', () => {
  it('counts rows = truth, columns = prediction', () => {
    expect(confusionMatrix([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0], 3)).toEqual([
      [1, 1, 0],
      [0, 2, 0],
      [1, 0, 1],
    ]);
  });

  it('gives absent classes a zero row and column', () => {
    expect(confusionMatrix([1, 1], [1, 0], 4)).toEqual([
      [0, 0, 0, 0],
      [1, 1, 0, 0],
      [0, 0, 0, 0],
      [0, 0, 0, 0],
    ]);
  });

  it('accepts typed arrays and empty input', () => {
    expect(confusionMatrix(Int32Array.from([1, 0]), Uint8Array.from([1, 1]), 2)).toEqual([
      [0, 1],
      [0, 1],
    ]);
    expect(confusionMatrix([], [], 2)).toEqual([
      [0, 0],
      [0, 0],
    ]);
  });

  it('rejects bad input with a clear message', () => {
    expect(() => confusionMatrix([0, 1], [0], 2)).toThrow(/truth and pred differ in length \(2 vs 1\)/);
    expect(() => confusionMatrix([0, 2], [0, 1], 2)).toThrow(/truth\[1\] = 2 is not a class id in 0\.\.1/);
    expect(() => confusionMatrix([0, 1], [0, -1], 2)).toThrow(/pred\[1\] = -1/);
    expect(() => confusionMatrix([0, 1.5], [0, 1], 2)).toThrow(/truth\[1\] = 1.5/);
    expect(() => confusionMatrix([0, Number.NaN], [0, 1], 2)).toThrow(/truth\[1\] = NaN/);
    expect(() => confusionMatrix([0], [0], 0)).toThrow(/numClasses must be an integer >= 1, got 0/);
    expect(() => confusionMatrix([0], [0], 2.5)).toThrow(RangeError);
  });
});

describe('ConfusionMatrixAccumulator', () => {
  const truth = [0, 1, 2, 2, 1, 0, 3, 3, 2, 1];
  const pred = [0, 2, 2, 1, 1, 0, 3, 0, 2, 2];

  it('equals confusionMatrix of the concatenated batches', () => {
    const acc = new ConfusionMatrixAccumulator(4);
    acc.update(truth.slice(0, 3), pred.slice(0, 3)).update([], []).update(truth.slice(3), pred.slice(3));
    expect(acc.aggregate()).toEqual(confusionMatrix(truth, pred, 4));
    expect(acc.count).toBe(10);
  });

  it('returns a copy, resets, and leaves counts unchanged on a rejected batch', () => {
    const acc = new ConfusionMatrixAccumulator(4);
    acc.update(truth, pred);
    const before = acc.aggregate();
    (before[0] as number[])[0] = 99;
    expect(acc.aggregate()).toEqual(confusionMatrix(truth, pred, 4));
    expect(() => acc.update([0, 0, 7], [0, 0, 0])).toThrow(/ConfusionMatrixAccumulator.update: truth\[2\] = 7/);
    expect(() => acc.update([0, 0], [0])).toThrow(/differ in length/);
    expect(acc.aggregate()).toEqual(confusionMatrix(truth, pred, 4));
    expect(acc.count).toBe(10);
    acc.reset();
    expect(acc.count).toBe(0);
    expect(acc.aggregate()).toEqual(confusionMatrix([], [], 4));
    acc.update([3], [1]);
    expect(acc.aggregate()).toEqual(confusionMatrix([3], [1], 4));
  });

  it('rejects a bad class count', () => {
    expect(() => new ConfusionMatrixAccumulator(0)).toThrow(/numClasses/);
  });
});
