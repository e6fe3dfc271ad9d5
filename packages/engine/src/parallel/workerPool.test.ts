import { describe, expect, it } from 'vitest';
import { WorkerPool } from './workerPool.js';

interface Job {
  readonly values: number[];
  readonly delayMs?: number;
  readonly fail?: string;
  readonly exit?: number;
}
interface Answer {
  readonly sum: Float64Array;
  readonly thread: number;
}

const url = new URL('./testing/poolWorker.mjs', import.meta.url);

describe('WorkerPool', () => {
  it('answers in the jobs’ order, shares them round-robin, and passes workerData', async () => {
    const pool = WorkerPool.start<Job, Answer>(url, 2, { name: 'sum', workerData: { scale: 10 } });
    try {
      expect(pool.size).toBe(2);
      // The first job finishes last: answers still come back in the jobs' order.
      const answers = await pool.runAll([
        { values: [1, 2], delayMs: 80 },
        { values: [3] },
        { values: [4, 5, 6] },
        { values: [] },
      ]);
      expect(answers.map((a) => a.sum[0])).toEqual([30, 30, 150, 0]);
      const threads = answers.map((a) => a.thread);
      expect(threads[0]).toBe(threads[2]);
      expect(threads[1]).toBe(threads[3]);
      expect(threads[0]).not.toBe(threads[1]);
    } finally {
      await pool.close();
    }
  });

  it('rejects a failed job naming the worker, and goes on', async () => {
    const pool = WorkerPool.start<Job, Answer>(url, 1, { name: 'sum' });
    try {
      await expect(pool.run({ values: [1], fail: 'no sums today' })).rejects.toThrow(/^sum worker 0: no sums today$/);
      expect((await pool.run({ values: [2, 3] })).sum[0]).toBe(5);
    } finally {
      await pool.close();
    }
  });

  it('close rejects the jobs still waiting and every later one', async () => {
    const pool = WorkerPool.start<Job, Answer>(url, 1, { name: 'sum' });
    const waiting = expect(pool.run({ values: [1], delayMs: 5000 })).rejects.toThrow('the sum pool is closed');
    await pool.close();
    await waiting;
    await expect(pool.run({ values: [1] })).rejects.toThrow('the sum pool is closed');
  });

  it('a worker that exits fails the pool; refuses a pool of no workers', async () => {
    const pool = WorkerPool.start<Job, Answer>(url, 2, { name: 'sum' });
    try {
      await expect(pool.run({ values: [], exit: 3 })).rejects.toThrow('sum worker 0 exited with code 3');
      await expect(pool.run({ values: [1] })).rejects.toThrow('sum worker 0 exited with code 3');
    } finally {
      await pool.close();
    }
    expect(() => WorkerPool.start(url, 0, { name: 'sum' })).toThrow(/sum workers must be a whole number >= 1, got 0/);
  });
});
