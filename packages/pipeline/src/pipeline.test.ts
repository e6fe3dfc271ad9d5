import { appendFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTROL_FILE, readEvents, type StageEvent } from '@covsev/events';
import { LABEL_FILES, type TruthManifest, writeCohort } from '@covsev/phantom';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyCohort } from './classifyCohort.js';
import { categoryOf, classIdOf, predictionRow } from './grades.js';
import { type ClassifierRunConfig, parseClassifierRun } from './runConfig.js';
import { runFolder } from './runFolder.js';
import { COV19_LABEL_FILES, loadCohort, splitScans } from './stages/loadCohort.js';
import { preprocessScans } from './stages/preprocess.js';
import { writeChallengeSubmission } from './stages/submission.js';
import { trainClassifier } from './stages/trainClassifier.js';

let dir: string;
let cohortDir: string;
let manifest: TruthManifest;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covsev-pipeline-'));
  cohortDir = join(dir, 'cohort');
  manifest = await writeCohort({
    layout: 'cov19-ct-db',
    out: cohortDir,
    scans: 14,
    seed: 3,
    slices: [8, 10],
    rows: 48,
    cols: 48,
  });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('grades', () => {
  it('converts categories 1..4 and class ids 0..3 both ways, and refuses others', () => {
    expect([1, 2, 3, 4].map((c) => classIdOf(c as 1 | 2 | 3 | 4))).toEqual([0, 1, 2, 3]);
    expect([0, 1, 2, 3].map(categoryOf)).toEqual([1, 2, 3, 4]);
    expect(() => categoryOf(4)).toThrow(/0..3/);
    expect(() => categoryOf(1.5)).toThrow(/0..3/);
    expect(predictionRow('ct_scan_1', [0.1, 0.2, 0.6, 0.1])).toEqual({
      name: 'ct_scan_1',
      category: 3,
      probabilities: [0.1, 0.2, 0.6, 0.1],
    });
    expect(() => predictionRow('x', [1])).toThrow(/1 class probabilities/);
  });
});

describe('loadCohort', () => {
  it('reads the COV19-CT-DB layout: labelled splits in label-file order, test scans in natural order', async () => {
    expect(COV19_LABEL_FILES).toEqual(LABEL_FILES);
    const cohort = await loadCohort(cohortDir);
    for (const split of ['train', 'val', 'test'] as const) {
      const expected = manifest.scans.filter((s) => s.split === split);
      const scans = splitScans(cohort, split);
      expect(scans.map((s) => s.name)).toEqual(expected.map((s) => s.name));
      expect(scans.map((s) => s.category)).toEqual(expected.map((s) => (split === 'test' ? undefined : s.category)));
      for (const s of scans) expect(s.folder.startsWith(join(cohortDir, split))).toBe(true);
    }
  });

  it('names the folder and the problem for a missing cohort, a missing split or a label without a folder', async () => {
    await expect(loadCohort(join(dir, 'nowhere'))).rejects.toThrow(/nowhere: cohort folder does not exist/);
    const empty = join(dir, 'empty');
    await mkdir(empty, { recursive: true });
    await expect(loadCohort(empty)).rejects.toThrow(/not a COV19-CT-DB cohort/);
    await expect(loadCohort(cohortDir, { splits: ['train', 'val'] })).resolves.toBeDefined();
    const broken = join(dir, 'broken');
    await mkdir(join(broken, 'train', 'mild', 'ct_scan_1'), { recursive: true });
    await writeFile(join(broken, COV19_LABEL_FILES.train), 'Name;Category\nct_scan_1;1\nct_scan_2;3\n');
    await expect(loadCohort(broken)).rejects.toThrow(/train_partition_covid_categories\.csv:3.*ct_scan_2.*has no folder/);
    await expect(loadCohort(broken, { splits: ['val'] })).rejects.toThrow(/no val_partition_covid_categories\.csv/);
    // A label file with only its header: an empty split, said in the stage's end event.
    await writeFile(join(broken, COV19_LABEL_FILES.val), 'Name;Category\n');
    await writeFile(join(broken, COV19_LABEL_FILES.train), 'Name;Category\nct_scan_1;1\n');
    const ends: StageEvent[] = [];
    const cohort = await loadCohort(broken, {}, { onEvent: (e) => ends.push(e) });
    expect(cohort.scans.map((s) => `${s.split}:${s.name}`)).toEqual(['train:ct_scan_1']);
    const end = ends.find((e) => e.type === 'stage-end');
    expect(end?.type === 'stage-end' && end.warnings).toEqual([
      `${join(broken, COV19_LABEL_FILES.val)}: no labels (only the header)`,
    ]);
  });
});

describe('stages under a run folder', () => {
  it('preprocess goes through the run cache and every stage writes its events to the run', async () => {
    const run = join(dir, 'run');
    const cohort = await loadCohort(cohortDir, {}, { runDir: run });
    const seen: StageEvent[] = [];
    const options = { grid: [4, 16, 16] as const, cacheDir: runFolder(run).cache };
    const first = await preprocessScans(cohort.scans, options, { runDir: run, onEvent: (e) => seen.push(e) });
    expect(first.cacheHits).toBe(0);
    expect(first.volumes.size).toBe(14);
    for (const v of first.volumes.values()) expect(v.shape).toEqual([4, 16, 16]);
    const second = await preprocessScans(cohort.scans, options, { runDir: run });
    expect(second.cacheHits).toBe(14);
    expect([...second.volumes.values()].map((v) => v.data)).toEqual([...first.volumes.values()].map((v) => v.data));
    expect(seen.map((e) => e.type)).toEqual(['stage-start', ...Array(14).fill('stage-progress'), 'stage-end']);
    // A truncated cache entry is recomputed, with a warning in the stage's end event.
    const npy = (await readdir(options.cacheDir)).find((f) => f.endsWith('.npy')) as string;
    const bytes = await readFile(join(options.cacheDir, npy));
    await writeFile(join(options.cacheDir, npy), bytes.subarray(0, bytes.length >> 1));
    const thirdEnds: StageEvent[] = [];
    const third = await preprocessScans(cohort.scans, options, { onEvent: (e) => e.type === 'stage-end' && thirdEnds.push(e) });
    expect(third.cacheHits).toBe(13);
    expect([...third.volumes.values()].map((v) => v.data)).toEqual([...first.volumes.values()].map((v) => v.data));
    const [thirdEnd] = thirdEnds;
    expect(thirdEnd?.type === 'stage-end' && thirdEnd.warnings?.length).toBe(1);
    expect(thirdEnd?.type === 'stage-end' && thirdEnd.warnings?.[0]).toContain(npy);
    const logged = await readEvents(runFolder(run).events);
    expect(
      logged
        .map((e) => (e.type.startsWith('stage') ? `${e.type}:${(e as StageEvent).stage}` : e.type))
        .filter((t) => !t.startsWith('stage-progress')),
    ).toEqual([
      'stage-start:load-cohort',
      'stage-end:load-cohort',
      'stage-start:preprocess',
      'stage-end:preprocess',
      'stage-start:preprocess',
      'stage-end:preprocess',
    ]);
    const ends = logged.filter((e): e is StageEvent & { type: 'stage-end' } => e.type === 'stage-end');
    const count = (split: string) => manifest.scans.filter((s) => s.split === split).length;
    expect(ends[0]?.summary).toEqual({ train: count('train'), val: count('val'), test: count('test') });
    expect(count('train') + count('val') + count('test')).toBe(14);
    expect(ends.at(-1)?.summary).toEqual({ scans: 14, cacheHits: 14 });
  });

  it('writes the submission from a table or rows, checked against the test folder', async () => {
    const cohort = await loadCohort(cohortDir);
    const test = splitScans(cohort, 'test');
    const rows = test.map((s, i) => predictionRow(s.name, i === 0 ? [0.7, 0.1, 0.1, 0.1] : [0.1, 0.1, 0.1, 0.7]));
    const out = join(dir, 'submission');
    const result = await writeChallengeSubmission({ predictions: rows, outDir: out, testDir: join(cohortDir, 'test') });
    expect(result.scans).toBe(test.length);
    expect(result.counts).toEqual([1, 0, 0, test.length - 1]);
    expect(await readFile(join(out, 'mild.csv'), 'utf8')).toBe(`${test[0]?.name}\n`);
    await expect(
      writeChallengeSubmission({ predictions: rows.slice(1), outDir: join(dir, 'sub2'), testDir: join(cohortDir, 'test') }),
    ).rejects.toThrow(new RegExp(`have no prediction: ${test[0]?.name}`));
  });
});

describe('classifier run config', () => {
  const good: ClassifierRunConfig = {
    cohort: 'data/cohort',
    run: 'runs/a',
    grid: [16, 64, 64],
    training: { network: { backbone: 'resnest-tiny-3d' }, inChannels: 1, epochs: 3, batchSize: 2, seed: 1 },
  };
  it('accepts a valid config and refuses bad values by their path, every problem at once', () => {
    expect(parseClassifierRun(good)).toEqual(good);
    const bad = {
      ...good,
      grid: [16, 0, 64],
      training: { ...good.training, epochs: 0, network: { backbone: 'resnest-huge-3d' }, lr: -1 },
    };
    const error = (() => {
      try {
        parseClassifierRun(bad, 'run.json');
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(error?.name).toBe('CovsevInputError');
    expect(error?.message).toMatch(/^run\.json: invalid classifier run config: /);
    for (const path of ['grid.1', 'training.epochs', 'training.network.backbone', 'training.lr'])
      expect(error?.message).toContain(`${path}:`);
    expect(() => parseClassifierRun({ ...good, training: { ...good.training, epoch: 3 } })).toThrow(
      /training: Unrecognized key.*epoch/,
    );
  });

  it('classifyCohort refuses a bad config before any stage runs', async () => {
    const run = join(dir, 'refused');
    await expect(
      classifyCohort({ ...good, cohort: cohortDir, run, grid: [4, 16, 16], training: { ...good.training, batchSize: 1 } }),
    ).rejects.toThrow(/training\.batchSize/);
    await expect(readFile(runFolder(run).events, 'utf8')).rejects.toThrow(/ENOENT/);
  });
});

describe('train-classifier', () => {
  it('says in its events that a run resumed, from which checkpoint and at which epoch', async () => {
    const run = join(dir, 'run-resume');
    const cohort = await loadCohort(cohortDir);
    const { volumes } = await preprocessScans(cohort.scans, { grid: [16, 32, 32], cacheDir: runFolder(run).cache });
    const runDir = runFolder(run).classifierRun;
    const inputs = { train: splitScans(cohort, 'train').slice(0, 4), volumes, runDir };
    const training = {
      network: { backbone: 'resnest-tiny-3d' as const },
      inChannels: 1 as const,
      epochs: 2,
      batchSize: 2,
      seed: 1,
      // Four scans need not hold every grade: weight an empty class as one scan.
      emptyClasses: 'weight-one' as const,
    };
    // The first run stops after its first checkpoint, as a crash would.
    const crash = trainClassifier(
      {
        ...inputs,
        onTrainEvent: (e) => {
          if (e.type === 'checkpoint') throw new Error('simulated crash');
        },
      },
      training,
      { runDir: run },
    );
    await expect(crash).rejects.toThrow('simulated crash');
    const seen: StageEvent[] = [];
    const resumed = await trainClassifier(inputs, training, { runDir: run, onEvent: (e) => seen.push(e) });
    expect(resumed.epochsRun).toBe(1);
    const from = join(runDir, 'checkpoints', 'epoch-1');
    const note = seen.find((e) => e.type === 'stage-progress' && e.item?.startsWith('resumed'));
    expect(note).toMatchObject({ stage: 'train-classifier', done: 1, total: 2, item: `resumed from ${from} (epoch 2 of 2)` });
    expect(seen.at(-1)).toMatchObject({ type: 'stage-end', summary: { epochsRun: 1, startEpoch: 1 } });
    const logged = await readEvents(runFolder(run).events);
    expect(logged.some((e) => e.type === 'stage-progress' && e.item === `resumed from ${from} (epoch 2 of 2)`)).toBe(true);
    // A finished run says it restored its weights.
    const restored: StageEvent[] = [];
    await trainClassifier(inputs, training, { runDir: run, onEvent: (e) => restored.push(e) });
    expect(
      restored.some(
        (e) =>
          e.type === 'stage-progress' && e.item === `restored from ${join(runDir, 'checkpoints', 'epoch-2')} (all 2 epochs done)`,
      ),
    ).toBe(true);
  });

  it('classifyCohort ends at a stop sent through the control channel: a checkpoint, nothing predicted', async () => {
    const run = join(dir, 'run-stop');
    const runDir = runFolder(run).classifierRun;
    const stages: string[] = [];
    const result = await classifyCohort({
      cohort: cohortDir,
      run,
      grid: [16, 32, 32],
      training: { network: { backbone: 'resnest-tiny-3d' }, inChannels: 1, epochs: 3, batchSize: 2, seed: 2 },
      onEvent: (e) => e.type === 'stage-start' && stages.push(e.stage),
      onTrainEvent: (e) => {
        // As a dashboard would: `q` after the first step.
        if (e.type === 'step' && e.globalStep === 1)
          appendFileSync(join(runDir, CONTROL_FILE), `${JSON.stringify({ id: 'q', command: 'stop', time: Date.now() })}\n`);
      },
    });
    expect(result.stopped).toBe(true);
    expect(result.classifier.stopped).toBe(true);
    expect(result.testPredictions).toEqual([]);
    expect(stages).toEqual(['load-cohort', 'preprocess', 'train-classifier']);
    await expect(readFile(runFolder(run).predictions('test'), 'utf8')).rejects.toThrow(/ENOENT/);
    const training = await readEvents(join(runDir, 'events.jsonl'));
    expect(training.find((e) => e.type === 'control')).toMatchObject({ id: 'q', command: 'stop', status: 'done' });
    expect(training.at(-1)).toMatchObject({ type: 'run-end', stopped: true });
    expect(JSON.parse(await readFile(join(runDir, 'checkpoints', 'latest.json'), 'utf8'))).toMatchObject({ epoch: 0, step: 1 });
  });
});
