import { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { BatchNorm } from '../layers/batchNorm.js';
import { Sequential } from '../module.js';
import { readValues } from './flatVariables.js';
import { chainRunningStatistics, statisticUpdates } from './runningStatistics.js';

describe('chainRunningStatistics', () => {
  it('chains workers that each ran a contiguous part of the plan into the one-thread result', () => {
    const net = new Sequential([new BatchNorm({ channels: 3 }), new BatchNorm({ channels: 3, momentum: 0.3 })]);
    const buffers = net.buffers();
    const rules = statisticUpdates(net);
    expect([...rules.keys()].sort()).toEqual(buffers.map((b) => b.name).sort());
    const rng = Rng.fromSeed(4);
    const batches = [5, 4, 6, 3, 4].map((rows) =>
      tf.tensor2d(
        Float32Array.from({ length: rows * 3 }, () => 2 + 3 * rng.normal()),
        [rows, 3],
      ),
    );
    const start = readValues(buffers);
    const restore = (values: Float32Array) => {
      let at = 0;
      for (const { variable } of buffers) {
        const size = variable.size;
        variable.assign(tf.tensor(values.subarray(at, at + size), variable.shape));
        at += size;
      }
    };
    const run = (from: number, to: number) => {
      for (const x of batches.slice(from, to)) tf.tidy(() => net.apply(x, { training: true }) as tf.Tensor);
      return readValues(buffers);
    };
    const serial = run(0, 5);
    restore(start);
    const a = run(0, 2);
    restore(start);
    const b = run(2, 3);
    restore(start);
    const c = run(3, 5);
    const chained = chainRunningStatistics(buffers, rules, start, [
      { values: a, updates: 2 },
      { values: b, updates: 1 },
      { values: c, updates: 2 },
    ]);
    for (let i = 0; i < serial.length; i++) expect(chained[i]).toBeCloseTo(serial[i] as number, 5);
    // What averaging the workers' statistics (the former rule) gives instead: not the serial result.
    const averaged = a.map((v, i) => (v + (b[i] as number) + (c[i] as number)) / 3);
    expect(averaged.some((v, i) => Math.abs(v - (serial[i] as number)) > 1e-3)).toBe(true);
    expect(() => chainRunningStatistics(buffers, new Map(), start, [])).toThrow(/not a batch-norm statistic/);
    for (const x of batches) x.dispose();
  });
});
