/**
 * Does stage 1 learn? A small lung U-Net (ResNet-34 at width 1/16, 64 x 64) on four phantom scans,
 * scored on two held-out scans through the Table 2 path (`evaluateOnCohort`: every slice, masks
 * resized back to the scan's grid). lr 0.3 instead of the method's 1e-3 so that eight short
 * epochs suffice on a CPU; everything else is the method's (Dice loss, SGD momentum 0.9, x0.1 at
 * 30 % and 80 %, augmentation, batch 8). Measured on the 2-core machine: held-out lung IoU 0.750,
 * mIoU 0.855 (the best epoch's validation IoU too: same slices, same 64 x 64 grid), 12 s
 * unloaded. Longer runs level off near 0.77 at this width and size.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@covsev/engine';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCtSegCohort } from '../data/ctSegCohort.js';
import { phantomCtSegCohort } from '../data/phantomCohort.test-helpers.js';
import { evaluateOnCohort } from '../evaluate/evaluateOnCohort.js';
import { trainSegmentation } from './trainer.js';

beforeAll(async () => {
  await initBackend({ prefer: 'wasm' });
});

describe('trainSegmentation learns', () => {
  it('a tiny lung U-Net on four phantom scans reaches held-out lung IoU > 0.7', async () => {
    const cohortDir = await phantomCtSegCohort({ scans: 6, size: 64, slices: 12 });
    const scans = await loadCtSegCohort(cohortDir);
    const runDir = await mkdtemp(join(tmpdir(), 'covsev-seg-learns-'));
    const started = Date.now();
    const epochs: { valIoU: number; loss: number }[] = [];
    const result = await trainSegmentation({
      runDir,
      scans,
      split: { train: scans.slice(0, 4).map((s) => s.name), val: scans.slice(4).map((s) => s.name) },
      task: 'lung',
      model: { arch: 'unet', encoder: 'resnet34', width: 1 / 16 },
      input: [64, 64],
      epochs: 8,
      slicesPerEpoch: 96,
      lr: 0.3,
      seed: 1,
      onEvent: (e) => {
        if (e.type === 'epoch') epochs.push({ valIoU: e.metrics.valIoU as number, loss: e.metrics.loss as number });
      },
    });
    const evaluation = await evaluateOnCohort({ lungRunDir: runDir, cohortDir });
    const seconds = (Date.now() - started) / 1000;
    const iou = evaluation.lung?.overall.iou as number;
    console.log(
      `learns: held-out lung IoU ${iou.toFixed(4)}, mIoU ${evaluation.lung?.overall.miou.toFixed(4)}, best val IoU ${result.best?.value.toFixed(4)} (epoch ${result.best?.epoch}), ${seconds.toFixed(1)} s`,
    );
    expect(evaluation.scans).toEqual(['phantom_005', 'phantom_006']); // the run's own validation scans
    expect((epochs.at(-1) as { loss: number }).loss).toBeLessThan((epochs[0] as { loss: number }).loss * 0.5);
    expect(iou).toBeGreaterThan(0.7);
  });
});
