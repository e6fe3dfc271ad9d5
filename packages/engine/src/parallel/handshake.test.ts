import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { awaitPhaseChange, ERROR_BYTES, failStep, handOver, readError, StepAborted, setPhase, WorkerPhase } from './handshake.js';

const shared = () => ({
  control: new Int32Array(new SharedArrayBuffer(4)),
  error: new Uint8Array(new SharedArrayBuffer(ERROR_BYTES)),
});

describe('data-parallel hand-over', () => {
  it('runs a step with a worker thread: features out, their gradients in, results back', async () => {
    const { control, error } = shared();
    const data = new Float32Array(new SharedArrayBuffer(4 * 2));
    // The worker "computes" features 3 and 4, then returns 10 x the gradients it was handed.
    const code = `
      const { workerData } = require('node:worker_threads');
      import(workerData.module).then(({ handOver, setPhase, WorkerPhase }) => {
        const control = new Int32Array(workerData.control);
        const data = new Float32Array(workerData.data);
        data.set([3, 4]);
        handOver(control);
        data.set([data[0] * 10, data[1] * 10]);
        setPhase(control, WorkerPhase.Done);
      });`;
    const module = new URL('../../dist/parallel/handshake.js', import.meta.url).href;
    const worker = new Worker(code, { eval: true, workerData: { module, control: control.buffer, data: data.buffer } });
    try {
      awaitPhaseChange(control, WorkerPhase.Running, error, 10000, 'worker 0');
      expect(Atomics.load(control, 0)).toBe(WorkerPhase.FeaturesReady);
      expect(Array.from(data)).toEqual([3, 4]);
      data.set([0.5, -2]);
      setPhase(control, WorkerPhase.GradientsReady);
      awaitPhaseChange(control, WorkerPhase.GradientsReady, error, 10000, 'worker 0');
      expect(Atomics.load(control, 0)).toBe(WorkerPhase.Done);
      expect(Array.from(data)).toEqual([5, -20]);
    } finally {
      await worker.terminate();
    }
  });

  it('names a worker that failed (with its error) or gave no answer', () => {
    const { control, error } = shared();
    failStep(control, error, new RangeError('out of bounds'));
    expect(Atomics.load(control, 0)).toBe(WorkerPhase.Failed);
    expect(readError(error)).toBe('RangeError: out of bounds');
    expect(() => awaitPhaseChange(control, WorkerPhase.Running, error, 1000, 'worker 3')).toThrow(
      'worker 3 failed: RangeError: out of bounds',
    );
    const quiet = shared();
    expect(() => awaitPhaseChange(quiet.control, WorkerPhase.Running, quiet.error, 20, 'worker 1')).toThrow(
      'worker 1 gave no answer in 20 ms',
    );
  });

  it('a worker hands over only a running step', () => {
    const { control } = shared();
    setPhase(control, WorkerPhase.Failed);
    expect(() => handOver(control)).toThrow(StepAborted);
    expect(Atomics.load(control, 0)).toBe(WorkerPhase.Failed);
  });
});
