/** Recorded event streams for the tests, made by code (the shapes trainers write, new optional fields included). */
import type { CovsevEvent } from '@covsev/events';

const T0 = 1_800_000_000_000;

/** A 2-epoch CMC classifier run with the optional fields being added (samples, memory, report, best, model, kind, configHash). */
export function classifierRun(pid = 4242): CovsevEvent[] {
  const events: unknown[] = [
    {
      type: 'run-start',
      time: T0,
      version: 1,
      backend: 'wasm',
      backendInfo: 'covsev engine: wasm (SIMD, 2 threads)',
      config: { network: { backbone: 'resnest-tiny-3d' }, inChannels: 2, batchSize: 2, lr: 1e-4, scans: 11, workers: 2 },
      runtime: { workers: 2, viewWorkers: 1 },
      seed: 2022,
      epochs: 2,
      stepsPerEpoch: 3,
      startEpoch: 0,
      startStep: 0,
      pid,
      configHash: 'c0ffee12',
      model: 'CMC resnest-tiny-3d',
      kind: 'classifier',
    },
  ];
  let g = 0;
  for (let epoch = 0; epoch < 2; epoch++) {
    for (let step = 0; step < 3; step++) {
      g++;
      events.push({
        type: 'step',
        time: T0 + g * 1000,
        epoch,
        step,
        globalStep: g,
        losses: {
          total: 3 - g * 0.2,
          contrastive: 1.1,
          mixup: 1.4,
          classification: 0.4,
          weightContrastive: 0.99,
          weightClassification: 1.01,
        },
        lr: 1e-4,
        ms: 1000,
        samples: 2,
        memory: { rss: 512 * 1024 * 1024, heapUsed: 64 * 1024 * 1024, tensors: 321, wasmHeap: 256 * 1024 * 1024 },
      });
    }
    events.push({
      type: 'epoch',
      time: T0 + g * 1000 + 500,
      epoch,
      metrics: { loss: 2.5 - epoch * 0.3, valMacroF1: 0.4 + epoch * 0.2 },
      lr: 1e-4,
      ms: 3500,
      eta: epoch === 0 ? 3500 : 0,
      report: {
        classNames: ['Mild', 'Moderate', 'Severe', 'Critical'],
        perClassF1: [0.8, 0.6, 0.5 + epoch * 0.1, 0.2],
        confusion: [
          [5, 1, 0, 0],
          [1, 4, 1, 0],
          [0, 1, 3, 1],
          [0, 0, 1, 1],
        ],
      },
      best: { epoch, metric: 'valMacroF1', value: 0.4 + epoch * 0.2, path: `run/checkpoints/epoch-${epoch + 1}` },
    });
    events.push({
      type: 'checkpoint',
      time: T0 + g * 1000 + 600,
      epoch: epoch + 1,
      path: `run/checkpoints/epoch-${epoch + 1}`,
      step: g,
    });
  }
  events.push({ type: 'run-end', time: T0 + 10_000, epochs: 2, globalStep: g, ms: 10_000 });
  return events as CovsevEvent[];
}

/**
 * A segmentation run as `trainSegmentation` writes it: `kind: 'segmentation'`, the model card and
 * the scans of each side in the config, the Dice loss and slices per step, epoch metrics `loss`,
 * `valIoU`, `valMIoU`, `valDice` (no `best` on the event: the reducer finds it).
 */
export function segmentationRun(): CovsevEvent[] {
  return [
    {
      type: 'run-start',
      time: T0,
      version: 1,
      backend: 'tensorflow',
      config: {
        card: {
          format: 'covsev-segmentation-model',
          version: 1,
          task: 'lesion',
          architecture: { arch: 'unetplusplus', encoder: 'resnet34', classes: 1, inChannels: 1, width: 0.0625 },
          input: {
            size: [64, 64],
            huWindow: { low: -1250, high: 250 },
            normalise: { mean: 0, std: 1 },
            lungMasked: true,
            channels: 1,
          },
          output: { activation: 'sigmoid', foreground: 0, threshold: 0.5 },
        },
        batchSize: 8,
        lr: 1e-3,
        train: ['scan_0', 'scan_1', 'scan_2'],
        val: ['scan_3'],
      },
      seed: 7,
      epochs: 3,
      stepsPerEpoch: 2,
      startEpoch: 0,
      startStep: 0,
      pid: 99,
      kind: 'segmentation',
      model: 'unetplusplus / resnet34 (width 0.0625), lesion',
    },
    { type: 'step', time: T0 + 1, epoch: 0, step: 0, globalStep: 1, losses: { dice: 0.9 }, lr: 1e-3, ms: 200, samples: 8 },
    { type: 'step', time: T0 + 2, epoch: 0, step: 1, globalStep: 2, losses: { dice: 0.7 }, lr: 1e-3, ms: 200, samples: 8 },
    {
      type: 'epoch',
      time: T0 + 3,
      epoch: 0,
      metrics: { loss: 0.8, valIoU: 0.31, valMIoU: 0.62, valDice: 0.47 },
      lr: 1e-3,
      ms: 400,
      eta: 800,
    },
    { type: 'checkpoint', time: T0 + 4, epoch: 1, path: 'seg/checkpoints/epoch-1' },
  ] as unknown as CovsevEvent[];
}

/** A run that ends in an error at its second step. */
export function failedRun(): CovsevEvent[] {
  const start = classifierRun()[0] as CovsevEvent;
  return [
    start,
    { type: 'step', time: T0 + 1, epoch: 0, step: 0, globalStep: 1, losses: { total: null, contrastive: 1 }, lr: 1e-4, ms: 50 },
    { type: 'error', time: T0 + 2, name: 'RangeError', message: 'loss is NaN at step 2', epoch: 0, step: 1 },
  ] as CovsevEvent[];
}

/** JSON lines of events; `truncate` cuts the last line in half (a writer killed mid-line). */
export function jsonl(events: readonly unknown[], truncate = false): string {
  const text = events.map((e) => `${JSON.stringify(e)}\n`).join('');
  if (!truncate) return text;
  const last = JSON.stringify(events.at(-1));
  return text.slice(0, text.length - last.length - 1) + last.slice(0, Math.floor(last.length / 2));
}
