import { describe, expect, it } from 'vitest';
import { classifierRun, failedRun, segmentationRun } from '../events.fixture.js';
import { initialRunState, isRunOver, reduceEvents, reduceRun } from './run-state.js';

describe('reduceRun', () => {
  it('folds a classifier run with the new optional fields', () => {
    const s = reduceEvents(initialRunState, classifierRun());
    expect(s.phase).toBe('finished');
    expect(s.kind).toBe('classifier');
    expect(s.model).toBe('CMC resnest-tiny-3d');
    expect(s.configHash).toBe('c0ffee12');
    expect([s.inChannels, s.workers, s.viewWorkers, s.seed]).toEqual([2, 2, 1, 2022]);
    expect(s.globalStep).toBe(6);
    expect(Object.keys(s.losses)).toEqual([
      'total',
      'contrastive',
      'mixup',
      'classification',
      'weightContrastive',
      'weightClassification',
    ]);
    expect(s.losses.total).toBeCloseTo(1.8);
    expect(s.smoothed.total).toBeGreaterThan(1.8); // an average of falling losses
    expect(s.volumesPerSecond).toBeCloseTo(2); // 2 volumes in 1000 ms
    expect(s.memory).toEqual({ rss: 512 * 1024 ** 2, heapUsed: 64 * 1024 ** 2, tensors: 321, wasmHeap: 256 * 1024 ** 2 });
    expect(s.metricName).toBe('valMacroF1');
    expect(s.best).toEqual({ epoch: 1, metric: 'valMacroF1', value: 0.6000000000000001, path: 'run/checkpoints/epoch-2' });
    expect(s.report?.classNames).toEqual(['Mild', 'Moderate', 'Severe', 'Critical']);
    expect(s.report?.confusion[3]).toEqual([0, 0, 1, 1]);
    expect(s.lastCheckpoint).toEqual({ epoch: 2, path: 'run/checkpoints/epoch-2', step: 6 });
    expect(s.lossCurve.map((p) => p.globalStep)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(s.epochRows).toHaveLength(2);
  });

  it('folds a segmentation run: Dice loss, valIoU, best from the metric when the trainer gives none', () => {
    const s = reduceEvents(initialRunState, segmentationRun());
    expect(s.kind).toBe('segmentation');
    expect(s.model).toBe('unetplusplus / resnet34 (width 0.0625), lesion');
    expect(s.task).toBe('lesion');
    expect(s.inChannels).toBe(1);
    expect(s.lungMasked).toBe(true);
    expect(s.data).toBe('3 training + 1 validation scans');
    expect(s.curveKey).toBe('dice');
    expect(s.metricName).toBe('valIoU');
    expect(s.best).toEqual({ epoch: 0, metric: 'valIoU', value: 0.31, path: 'seg/checkpoints/epoch-1' });
    expect(s.phase).toBe('running');
    expect(s.memory).toBeUndefined();
    expect(s.volumesPerSecond).toBeCloseTo(40); // 8 slices in 200 ms
  });

  it('a run that ends in an error is failed, with the error; a null loss stays out of the curve', () => {
    const s = reduceEvents(initialRunState, failedRun());
    expect(s.phase).toBe('failed');
    expect(s.error).toEqual({ name: 'RangeError', message: 'loss is NaN at step 2', epoch: 0, step: 1 });
    expect(s.losses.total).toBeNull();
    expect(s.lossCurve).toEqual([]);
    expect(isRunOver(s, false, true)).toBe(true);
  });

  it('ignores unknown kinds and malformed events, never throws, never mutates', () => {
    const before = reduceEvents(initialRunState, segmentationRun());
    const frozen = JSON.stringify(before);
    let s = reduceRun(before, { type: 'gpu-temperature', time: 1, celsius: 80 });
    s = reduceRun(s, null);
    s = reduceRun(s, 'text');
    s = reduceRun(s, { type: 'step', time: 2, losses: 'not an object', memory: { rss: 'big' }, samples: '2' });
    s = reduceRun(s, { type: 'epoch', time: 3, metrics: null, report: { classNames: 3 }, best: { epoch: 'x' } });
    s = reduceRun(s, { type: 'checkpoint', time: 4 });
    expect(s.ignored).toBe(3);
    expect(JSON.stringify(before)).toBe(frozen);
    expect(s.kind).toBe('segmentation');
    expect(s.best?.metric).toBe('valIoU');
  });

  it('a stop: control answer and run-end with stopped', () => {
    let s = reduceEvents(initialRunState, classifierRun().slice(0, 3));
    s = reduceRun(s, { type: 'control', time: 5, id: 'a1', command: 'stop', status: 'done' });
    s = reduceRun(s, { type: 'run-end', time: 6, epochs: 0, globalStep: 2, ms: 6, stopped: true });
    expect(s.controls).toEqual([{ id: 'a1', command: 'stop', status: 'done', time: 5 }]);
    expect(s.phase).toBe('stopped');
  });

  it('a pipeline run is over once submission is done (or its writer is gone)', () => {
    const trained = reduceEvents(initialRunState, classifierRun());
    expect(isRunOver(trained, true, true)).toBe(false);
    expect(isRunOver(trained, true, false)).toBe(true);
    const submitted = reduceEvents(trained, [
      { type: 'stage-start', time: 1, stage: 'submission' },
      { type: 'stage-end', time: 2, stage: 'submission', ms: 3, outputs: [], warnings: ['no test scans'] },
    ]);
    expect(isRunOver(submitted, true, true)).toBe(true);
    expect(submitted.stages[0]?.warnings).toEqual(['no test scans']);
    const killed = reduceEvents(initialRunState, classifierRun().slice(0, 2));
    expect(isRunOver(killed, false, true)).toBe(false);
    expect(isRunOver(killed, false, false)).toBe(true);
  });
});
