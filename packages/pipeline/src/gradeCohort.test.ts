import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@covsev/engine';
import { readEvents, type StageEndEvent, type StageEvent, type StageStartEvent } from '@covsev/events';
import { categoryFromInvolvement, readPredictionCsv } from '@covsev/io';
import { writeCohort } from '@covsev/phantom';
import { trainSegmentation } from '@covsev/segment';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GradeCohortOptions, gradeCohort } from './gradeCohort.js';
import { gradeScans, readTrainedRunPlan } from './gradeScans.js';
import { runFolder } from './runFolder.js';

let dir: string;
let options: GradeCohortOptions;
beforeAll(async () => {
  await initBackend({ log: () => {} });
  dir = await mkdtemp(join(tmpdir(), 'covsev-grade-'));
  const cohort = join(dir, 'cov19-ct-db');
  const ctseg = join(dir, 'ct-seg');
  await writeCohort({ layout: 'cov19-ct-db', out: cohort, scans: 12, seed: 5, slices: [8, 10], rows: 48, cols: 48 });
  await writeCohort({ layout: 'ct-seg', out: ctseg, scans: 3, seed: 6, slices: [8, 10], rows: 48, cols: 48 });
  const seg = {
    cohortDir: ctseg,
    model: { arch: 'unet', encoder: 'resnet34', width: 1 / 16 } as const,
    input: [32, 32] as const,
  };
  const common = { ...seg, epochs: 1, slicesPerEpoch: 8, lr: 0.3, seed: 3, batchSize: 4 };
  await trainSegmentation({ ...common, runDir: join(dir, 'seg-lung'), task: 'lung' });
  await trainSegmentation({ ...common, runDir: join(dir, 'seg-lesion'), task: 'lesion' });
  const training = {
    network: { backbone: 'resnest-tiny-3d' as const },
    epochs: 1,
    batchSize: 2,
    seed: 1,
    emptyClasses: 'weight-one' as const,
  };
  options = {
    cohort,
    run: join(dir, 'run'),
    grid: [16, 32, 32],
    segmentation: { lungModel: join(dir, 'seg-lung'), lesionModel: join(dir, 'seg-lesion') },
    classifiers: [
      { name: 'cmc', training: { ...training, variant: 'cmc' } },
      { name: 'infection-cmc', training: { ...training, variant: 'infection-cmc' } },
    ],
    tta: { passes: 1, seed: 0 },
  };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const csv = (path: string) => readFile(path, 'utf8');

describe('gradeCohort', () => {
  it('runs stage 1, two classifiers, the involvement baseline and the mean ensemble into one run folder; a second call reuses every stage', async () => {
    const first = await gradeCohort(options);
    const paths = runFolder(options.run);
    expect(first.models.map((m) => m.name)).toEqual(['cmc', 'infection-cmc', 'involvement', 'ensemble']);
    expect(first.classifiers.get('infection-cmc')?.classifier.inChannels).toBe(2);
    expect(first.classifiers.get('cmc')?.classifier.inChannels).toBe(1);

    // The ensemble is the mean of the two classifiers' tables, scan by scan, as written.
    for (const split of ['val', 'test'] as const) {
      const [a, b, e] = await Promise.all(
        [paths.model('cmc').predictions(split), paths.model('infection-cmc').predictions(split), paths.predictions(split)].map(
          (p) => readPredictionCsv(p),
        ),
      );
      expect(e?.length).toBeGreaterThan(0);
      e?.forEach((row, i) => {
        expect(row.name).toBe(a?.[i]?.name);
        row.probabilities.forEach((p, c) => {
          expect(p).toBeCloseTo(((a?.[i]?.probabilities[c] as number) + (b?.[i]?.probabilities[c] as number)) / 2, 5);
        });
      });
    }
    // The baseline grades each scan's stage 1 involvement by Table 1 (one-hot: not an ensemble member here).
    const involvement = new Map(
      first.segmentation?.scans.map((r) => [r.name, (r.lesionVoxels ?? 0) / Math.max(1, r.lungVoxels)]),
    );
    const baseline = await readPredictionCsv(paths.model('involvement').predictions('val'));
    expect(baseline.length).toBe(first.cohort.scans.filter((s) => s.split === 'val').length);
    for (const row of baseline) {
      expect(row.category).toBe(categoryFromInvolvement(Math.min(1, involvement.get(row.name) as number)));
      expect([...row.probabilities].sort()).toEqual([0, 0, 0, 1]);
    }
    // The submission is the ensemble's test table, with each scan's stage 1 involvement.
    expect(first.submission?.rows.map((r) => r.category)).toEqual(first.ensemble.testPredictions.map((r) => r.category));
    const submitted = await readPredictionCsv(join(paths.submission, 'predictions.csv'));
    expect(submitted.length).toBeGreaterThan(0);
    for (const row of submitted) expect(row.involvement).toBeCloseTo(Math.min(1, involvement.get(row.name) as number), 5);

    // The stages in order, each classifier named in its events.
    const events = (await readEvents(paths.events)).filter((e): e is StageStartEvent => e.type === 'stage-start');
    expect(events.map((e) => `${e.stage}${e.detail?.model === undefined ? '' : `:${String(e.detail.model)}`}`)).toEqual([
      'load-cohort',
      'segment',
      'preprocess',
      'train-classifier:cmc',
      'predict:cmc',
      'predict:cmc',
      'train-classifier:infection-cmc',
      'predict:infection-cmc',
      'predict:infection-cmc',
      'involvement',
      'involvement',
      'ensemble',
      'ensemble',
      'submission',
    ]);

    const tables = [paths.predictions('val'), paths.predictions('test'), paths.model('involvement').predictions('test')];
    const before = await Promise.all(tables.map(csv));
    const ends: StageEndEvent[] = [];
    const second = await gradeCohort({ ...options, onEvent: (e: StageEvent) => e.type === 'stage-end' && ends.push(e) });
    const summary = (stage: string) => ends.find((e) => e.stage === stage)?.summary;
    expect(summary('segment')).toMatchObject({ scans: 12, cached: 12, segmented: 0 });
    expect(summary('preprocess')).toMatchObject({ scans: 12, cacheHits: 12 });
    expect([...second.classifiers.values()].map((c) => c.classifier.epochsRun)).toEqual([0, 0]);
    expect(await Promise.all(tables.map(csv))).toEqual(before);
  });

  it('gradeScans grades a test folder with the trained run, as the run graded its test split: the same submission, byte for byte', async () => {
    const plan = await readTrainedRunPlan(options.run);
    expect(plan).toEqual({
      classifiers: ['cmc', 'infection-cmc'],
      segmentation: options.segmentation,
      ensemble: { members: ['cmc', 'infection-cmc'], rule: 'mean' },
      tta: { passes: 1, seed: 0 },
      engine: 'onnx',
    });
    const out = join(dir, 'submission-from-scans');
    const graded = await gradeScans({ scans: join(options.cohort, 'test'), run: options.run, out });
    const paths = runFolder(options.run);
    expect(graded.work).toBe(join(options.run, 'graded', 'test'));
    expect(graded.tables.map((t) => t.name)).toEqual(['cmc', 'infection-cmc', 'ensemble']);
    // The masks were made again (another folder), from the same models: the same bytes.
    for (const name of graded.submission.rows.map((r) => r.name))
      expect(await readFile(join(graded.work, 'masks', 'infection', `${name}.nii.gz`))).toEqual(
        await readFile(join(paths.masks, 'infection', `${name}.nii.gz`)),
      );
    expect(await csv(graded.submission.table)).toBe(await csv(join(paths.submission, 'predictions.csv')));
    for (const file of ['mild.csv', 'moderate.csv', 'severe.csv', 'critical.csv'])
      expect(await csv(join(out, file))).toBe(await csv(join(paths.submission, file)));
    // A run folder that never trained a classifier is refused, naming its events file.
    await expect(gradeScans({ scans: join(options.cohort, 'test'), run: join(dir, 'nowhere'), out })).rejects.toThrow(
      /nowhere.*events\.jsonl.*pipeline run folder/,
    );
  });

  it('can take the involvement baseline into the ensemble (soft probabilities), and refuses bad options before any stage runs', async () => {
    const withBaseline = await gradeCohort({ ...options, ensemble: { members: ['infection-cmc', 'involvement'] } });
    const baseline = withBaseline.models.find((m) => m.name === 'involvement');
    // Soft rows: no longer one-hot, still summing to 1.
    expect(baseline?.valPredictions.some((r) => Math.max(...r.probabilities) < 1)).toBe(true);
    for (const r of baseline?.valPredictions ?? []) expect(r.probabilities.reduce((s, p) => s + p, 0)).toBeCloseTo(1, 6);

    const run = join(dir, 'refused');
    const { segmentation: _, ...noStage1 } = options;
    await expect(gradeCohort({ ...noStage1, run })).rejects.toThrow(
      /"infection-cmc" reads infection masks: give stage 1's models/,
    );
    const cmc = options.classifiers[0] as GradeCohortOptions['classifiers'][number];
    await expect(gradeCohort({ ...options, run, classifiers: [cmc, cmc] })).rejects.toThrow(/two classifiers are named "cmc"/);
    await expect(gradeCohort({ ...options, run, ensemble: { members: ['plain'] } })).rejects.toThrow(
      /member "plain" is not a classifier/,
    );
    await expect(gradeCohort({ ...options, run, classifiers: [{ ...cmc, name: 'a/b' }] })).rejects.toThrow(
      /cannot be a folder name/,
    );
    await expect(rm(run)).rejects.toThrow(/ENOENT/);
  });
});
