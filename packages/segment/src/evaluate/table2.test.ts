import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@covsev/engine';
import { segmentationMetrics } from '@covsev/eval';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CtSegScan, loadCtSegCohort } from '../data/ctSegCohort.js';
import { phantomCtSegCohort } from '../data/phantomCohort.test-helpers.js';
import { binaryMaskData } from '../data/slices.js';
import { predictVolumeMask } from '../infer/predictVolumeMask.js';
import { TfjsSegmenter } from '../infer/segmenter.js';
import { segmentVolume } from '../infer/segmentVolume.js';
import { loadTrainedSegmentation } from '../train/loadTrained.js';
import { trainSegmentation } from '../train/trainer.js';
import { evaluateOnCohort } from './evaluateOnCohort.js';
import { evaluateSegmentation, formatTable2 } from './table2.js';

describe('formatTable2', () => {
  it("prints the paper's layout in percent with two decimals", () => {
    const text = formatTable2([
      {
        model: 'U-Net++',
        encoder: 'DenseNet-121',
        lung: { miou: 0.97801, iou: 0.95794 },
        infection: { miou: 0.80004, iou: 0.6 },
      },
      { model: 'U-Net (lesion on predicted lung)', encoder: 'ResNet-34', infection: { miou: 0.5, iou: 0.123456 } },
      { model: 'FPN', encoder: 'ResNet-34', lung: { miou: 1, iou: 0 } },
    ]);
    expect(text).toBe(
      [
        '| Model                            | Encoder      | Lung mIoU | Lung IoU | Infection mIoU | Infection IoU |',
        '| -------------------------------- | ------------ | --------- | -------- | -------------- | ------------- |',
        '| U-Net++                          | DenseNet-121 | 97.80     | 95.79    | 80.00          | 60.00         |',
        '| U-Net (lesion on predicted lung) | ResNet-34    | -         | -        | 50.00          | 12.35         |',
        '| FPN                              | ResNet-34    | 100.00    | 0.00     | -              | -             |',
      ].join('\n'),
    );
    expect(() => formatTable2([{ model: 'X', encoder: 'Y', lung: { miou: 95, iou: 0.9 } }])).toThrow(
      'formatTable2: X lung mIoU must be a fraction in 0..1, got 95',
    );
  });
});

describe('evaluateSegmentation', () => {
  it('scores each scan and all pixels pooled as @covsev/eval does', () => {
    const a = { name: 'a', pred: [1, 1, 0, 0, 1, 0], truth: [1, 0, 0, 0, 1, 1] };
    const b = { name: 'b', pred: [0, 0, 0, 1], truth: [0, 0, 0, 0] };
    const result = evaluateSegmentation([a, b]);
    expect(result.perScan.map((s) => s.name)).toEqual(['a', 'b']);
    expect(result.perScan[0]?.metrics).toEqual(segmentationMetrics(a.pred, a.truth));
    expect(result.perScan[1]?.metrics.iou).toBe(0);
    expect(result.overall).toEqual(segmentationMetrics([...a.pred, ...b.pred], [...a.truth, ...b.truth]));
    // Pooled: intersection 2, union 5 (not the mean of the per-scan IoUs, 0.25).
    expect(result.overall.iou).toBeCloseTo(2 / 5, 12);
    expect(() => evaluateSegmentation([{ name: 'c', pred: [1], truth: [1, 0] }])).toThrow(
      'scan c: prediction has 1 voxels, truth 2',
    );
    expect(() => evaluateSegmentation([])).toThrow('no scans');
  });
});

describe('evaluateOnCohort', () => {
  let scans: CtSegScan[] = [];
  beforeAll(async () => {
    await initBackend({ prefer: 'wasm' });
    scans = await loadCtSegCohort(await phantomCtSegCohort({ scans: 4, size: 64, slices: 12 }));
  });

  it('gives the Table 2 rows of a lung and a lesion run, on ground-truth and on predicted lung masks', async () => {
    const common = {
      scans,
      split: { train: ['phantom_001', 'phantom_002'], val: ['phantom_003', 'phantom_004'] },
      model: { arch: 'unet', encoder: 'resnet34', width: 1 / 16 } as const,
      input: [32, 32] as const,
      epochs: 1,
      slicesPerEpoch: 16,
      lr: 0.3,
      seed: 3,
    };
    const lungRunDir = await mkdtemp(join(tmpdir(), 'covsev-seg-eval-lung-'));
    const lesionRunDir = await mkdtemp(join(tmpdir(), 'covsev-seg-eval-lesion-'));
    await trainSegmentation({ ...common, runDir: lungRunDir, task: 'lung' });
    await trainSegmentation({ ...common, runDir: lesionRunDir, task: 'lesion' });
    const held = scans.slice(2);
    const result = await evaluateOnCohort({ lungRunDir, lesionRunDir, scans: held });
    expect(result.scans).toEqual(['phantom_003', 'phantom_004']);
    expect(result.rows.map((r) => [r.model, r.encoder, r.lung !== undefined, r.infection !== undefined])).toEqual([
      ['U-Net', 'ResNet-34', true, true],
      ['U-Net (lesion on predicted lung)', 'ResNet-34', false, true],
    ]);

    // The same numbers from the parts: the models' masks on each scan's grid, scored by @covsev/eval.
    const lung = await loadTrainedSegmentation(lungRunDir);
    const lesion = await loadTrainedSegmentation(lesionRunDir);
    const lungSeg = new TfjsSegmenter(lung.model, lung.card);
    const lesionSeg = new TfjsSegmenter(lesion.model, lesion.card);
    const scan = held[1] as CtSegScan;
    const lungPred = await predictVolumeMask(scan.ct, lungSeg, { kind: 'hu' });
    expect(result.lung?.perScan[1]?.metrics).toEqual(segmentationMetrics(lungPred, binaryMaskData(scan.lung)));
    const lesionPred = await predictVolumeMask(scan.ct, lesionSeg, { kind: 'hu' }, { lung: binaryMaskData(scan.lung) });
    expect(result.lesion?.perScan[1]?.metrics).toEqual(segmentationMetrics(lesionPred, binaryMaskData(scan.infection)));
    const piped = await segmentVolume(scan.ct, { lung: lungSeg, lesion: lesionSeg, intensity: 'hu' });
    expect(result.lesionPipeline?.perScan[1]?.metrics).toEqual(
      segmentationMetrics(piped.lesion?.data as Uint8Array, binaryMaskData(scan.infection)),
    );
    expect(result.rows[0]?.lung).toEqual({ miou: result.lung?.overall.miou, iou: result.lung?.overall.iou });
    expect(result.rows[1]?.infection?.iou).toBe(result.lesionPipeline?.overall.iou);

    // A lesion run given as the lung run is refused by name.
    await expect(evaluateOnCohort({ lungRunDir: lesionRunDir, scans: held })).rejects.toThrow(
      `evaluateOnCohort: ${lesionRunDir} trained a lesion model, given as the lung run`,
    );
  });
});
