/**
 * The covsev demo on phantom data: the whole method, end to end (docs/method.md, "Pipeline").
 * What is demo-specific stays here (making phantom cohorts, the CPU-sized recipes, montages, the
 * checks against the phantom's exact truth); the way of the scans is `@covsev/pipeline`'s
 * `gradeCohort`, the report is `@covsev/report`'s:
 *
 *   phantom cohorts (COV19-CT-DB JPGs + COVID-19-CT-Seg NIfTIs)
 *   -> stage 1 models (docs/method.md, "Segmentation (stage 1)"): a tiny lung model M1 and a tiny
 *      lesion model M2 trained on the COVID-19-CT-Seg phantom (run folders a second run reuses)
 *   -> gradeCohort: labels checked against scan folders; every COV19-CT-DB scan segmented (lung,
 *      then infection inside the lung; NIfTI masks, overlays, a cache); every scan on the
 *      classifier grid (a cache); plain CMC (CT alone) and infection-aware CMC ([infection mask,
 *      CT], eq. 2) trained on the train split; val and test predicted with TTA; the involvement
 *      baseline from the masks; the ensemble (the mean of the two classifiers, the method's);
 *      the submission from the ensemble's test table
 *   -> the check of stage 1 against the phantom's exact involvement; the submission checked
 *   -> the report: Table 3 on the validation split against the published labels and against the
 *      exact grades, with bootstrap intervals; the ensemble's confusion matrix and the
 *      classifiers' training curves as PNG
 *   -> montages: masks over CT, two augmented views of one scan, the classifier grid, a scan's
 *      predicted lung and infection, the CAM with the predicted infection outlined
 *   -> @covsev/eval: how far the published (noisy) labels stand from the exact Table 1 grades
 */

import { readFile, rename, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { createProgress, type ProgressReporter } from '@covsev/cli';
import { type CmcVariant, camCaption, classActivationVolume, resolveCmcVariant, writeCamMontage } from '@covsev/cmc';
import { initBackend } from '@covsev/engine';
import { bootstrapMacroF1, classificationReport, confusionMatrix } from '@covsev/eval';
import { readEvents, type StageEvent, type TrainEvent } from '@covsev/events';
import {
  applyHuWindow,
  augmentImageAndMask,
  type Intensity,
  type LabelRow,
  makeVolume,
  Rng,
  readVolume,
  resampleVolume,
  SEVERITY_CLASSES,
  type Shape3,
  sliceView,
  type Volume,
  writeFileAtomic,
  writeMontagePng,
} from '@covsev/io';
import { CTSEG_FOLDERS, TRUTH_FILE, type TruthManifest, writeCohort } from '@covsev/phantom';
import {
  type Cohort,
  checkChallengeSubmission,
  classIdOf,
  describeRunStart,
  ENSEMBLE_MODEL,
  type GradedCohort,
  gradeCohort,
  INVOLVEMENT_MODEL,
  readMaskOnGrid,
  runFolder,
  segmentedInvolvement,
} from '@covsev/pipeline';
import {
  evaluatePredictions,
  formatTable3,
  type ModelEvaluation,
  readRunEvents,
  writeConfusionMatrixPng,
  writeTrainingCurvesPng,
} from '@covsev/report';
import {
  type ScanSegmentationReport,
  SEGMENT_OUTPUT_FOLDERS,
  type SegmentationModelOptions,
  type SegmentationTask,
  trainSegmentation,
} from '@covsev/segment';

export interface DemoOptions {
  /** Output folder (default demo-out). */
  readonly out: string;
  readonly seed: number;
  /** Scans in the COV19-CT-DB cohort (split 60 / 25 / 15 % into train, val and test). */
  readonly scans: number;
  /** The classifier grid at demo size; GPU users use CMC_FULL_SHAPE (64 x 256 x 256). */
  readonly grid: Shape3;
  /** CMC training epochs of each classifier (the paper: 100 on a GPU, from ImageNet weights). */
  readonly epochs: number;
  /** Training epochs of each stage 1 model, lung and lesion (the paper: 100). */
  readonly segEpochs: number;
  /**
   * Worker threads for the training gradients (`CmcDataParallel`) and the augmented views
   * (`ViewPool`); 0: the main thread. Default: 2 gradient workers where there are 2 cores or more
   * (steps 1.3x faster here, `pnpm bench:engine`), no view worker: at the demo's grid its gain
   * is within the noise once the gradient workers fill both cores (it pays on large grids).
   */
  readonly workers?: number;
  readonly viewWorkers?: number;
  readonly log?: (line: string) => void;
}

const twoCores = availableParallelism() >= 2;
/**
 * The demo's sizes: 160 COV19-CT-DB phantom scans (96 train, 40 val, 24 test), the classifiers on
 * an 8 x 32 x 32 grid for 24 epochs. Chosen so that the method learns within 15 minutes on two
 * cores: on the bench's cohort at this size and recipe (`pnpm bench:cmc -- --train 96 --val 32
 * --grid 8x32x32 --epochs 24`) both classifiers reached a validation Macro F1 of 0.74-0.80 after
 * their last epoch, each in about 3 minutes; at 16 x 64 x 64 one classifier takes 10.
 */
export const DEFAULT_DEMO: DemoOptions = {
  out: 'demo-out',
  seed: 2022,
  scans: 160,
  grid: [8, 32, 32],
  epochs: 36,
  segEpochs: 8,
  workers: twoCores ? 2 : 0,
  viewWorkers: 0,
};

/** Train / val / test proportions of the demo's COV19-CT-DB cohort (the Table 3 split is val). */
const DEMO_SPLITS = [60, 25, 15] as const;

async function readManifest(dir: string): Promise<TruthManifest | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, TRUTH_FILE), 'utf8')) as TruthManifest;
  } catch {
    return undefined;
  }
}

/**
 * The demo's phantom settings (`writeCohort`), besides layout, seed and count. Label noise: a
 * scan within 8 points of involvement of a grade border gets the neighbouring grade with
 * probability 0.25, as annotators disagree near a border; the published labels of the
 * COV19-CT-DB layout carry it, the exact grades stay in `phantom_truth.json`.
 */
const DEMO_PHANTOM = { slices: [24, 40], rows: 128, cols: 128, labelNoise: 0.25, labelNoiseMargin: 0.08 } as const;

/** Beside each phantom cohort: the settings it was made with, so that a change makes it again. */
const DEMO_COHORT_RECORD = 'demo_cohort.json';

/**
 * Writes a phantom cohort unless the same one (layout, seed, count, settings) is already there;
 * returns the manifest and whether it was made now.
 */
async function ensureCohort(
  dir: string,
  layout: 'cov19-ct-db' | 'ct-seg',
  scans: number,
  seed: number,
  log: (l: string) => void,
): Promise<{ manifest: TruthManifest; made: boolean }> {
  const settings = { layout, scans, seed, ...DEMO_PHANTOM, ...(layout === 'cov19-ct-db' ? { splits: DEMO_SPLITS } : {}) };
  const record = JSON.stringify(settings);
  const existing = await readManifest(dir);
  const recorded = await readFile(join(dir, DEMO_COHORT_RECORD), 'utf8').catch(() => undefined);
  if (existing !== undefined && recorded === record) {
    log(`phantom ${layout}: ${scans} scans already in ${dir} (seed ${seed}), reused`);
    return { manifest: existing, made: false };
  }
  const progress = createProgress(`phantom ${layout}`, scans);
  const manifest = await writeCohort({ ...settings, out: dir, onProgress: (p) => progress.update(p.done, p.scan.name) });
  await writeFileAtomic(join(dir, DEMO_COHORT_RECORD), record);
  progress.finish(dir);
  return { manifest, made: true };
}

/** Slice z of each volume, stacked into one volume (for side-by-side montages). */
function stackSlice(volumes: readonly Volume<Uint8Array>[], z: number, intensity: Intensity): Volume<Uint8Array> {
  const [, rows, cols] = (volumes[0] as Volume).shape;
  const data = new Uint8Array(volumes.length * rows * cols);
  volumes.forEach((v, i) => data.set(sliceView(v, z), i * rows * cols));
  return makeVolume({ data, shape: [volumes.length, rows, cols], intensity });
}

/** Scans in the demo's COVID-19-CT-Seg phantom cohort, what the stage 1 models learn from (a seeded 5 / 1 split). */
export const DEMO_CTSEG_SCANS = 6;

/**
 * Stage 1 at CPU size. The method (docs/method.md, "Segmentation (stage 1)"): U-Net++ / ResNet-34
 * from ImageNet weights, 256 x 256 slices, batch 8, SGD lr 1e-3, 100 epochs. Here: a U-Net /
 * ResNet-34 at 1/16 of the published channels from random weights, 64 x 64 slices, batch 8, and
 * lr 0.1, because random weights need a larger lr than 1e-3 on CPU-sized runs (the same section):
 * on the demo's phantom, 8 epochs at 1e-3 leave the lung model's Dice loss at 0.77, where it
 * started (validation IoU 0.08); 8 at 0.1 reach 0.78 (lesion: 0.61), about 2 s an epoch on one core.
 */
export const DEMO_SEGMENTATION = {
  model: { arch: 'unet', encoder: 'resnet34', width: 1 / 16 } satisfies SegmentationModelOptions,
  input: [64, 64] as const,
  batchSize: 8,
  lr: 0.1,
};

/** What stage 1 made and how close it came to the phantom's truth. */
export interface DemoSegmentation {
  /** Epochs each model trained in this call (0: its finished run reused). */
  readonly lungEpochsRun: number;
  readonly lesionEpochsRun: number;
  /** The best validation IoU of each run (the checkpoint the masks come from). */
  readonly lungValIoU: number;
  readonly lesionValIoU: number;
  /** `<out>/masks`: lung/, infection/, overlays/, records/ (the pipeline's segment stage). */
  readonly masksDir: string;
  /** One report per COV19-CT-DB scan, in the cohort's order. */
  readonly scans: readonly ScanSegmentationReport[];
  /** How many of them came from the cache. */
  readonly cached: number;
  /**
   * Predicted involvement (infection voxels / lung voxels) against the phantom's exact one, over
   * every scan: Pearson's r, the mean absolute difference and the mean signed one (predicted - true).
   */
  readonly involvement: { readonly r: number; readonly meanAbsDiff: number; readonly bias: number };
  /** Predicted lung voxels / the phantom's lung voxels: the median and the range over the scans. */
  readonly lungRatio: { readonly median: number; readonly min: number; readonly max: number };
}

function pearson(x: readonly number[], y: readonly number[]): number {
  const mean = (a: readonly number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  const [mx, my] = [mean(x), mean(y)];
  let [sxy, sxx, syy] = [0, 0, 0];
  x.forEach((xi, i) => {
    const dy = (y[i] as number) - my;
    sxy += (xi - mx) * dy;
    sxx += (xi - mx) ** 2;
    syy += dy ** 2;
  });
  return sxy / Math.sqrt(sxx * syy);
}

/** Trains (or resumes, or reuses) one stage 1 model, printing each epoch's validation IoU. */
async function trainSegModel(
  task: SegmentationTask,
  runDir: string,
  cohortDir: string,
  options: DemoOptions,
  log: (line: string) => void,
): Promise<{ epochsRun: number; valIoU: number }> {
  const result = await trainSegmentation({
    runDir,
    cohortDir,
    task,
    ...DEMO_SEGMENTATION,
    epochs: options.segEpochs,
    seed: options.seed,
    onEvent: (e: TrainEvent) => {
      if (e.type === 'run-start') for (const line of describeRunStart(e)) log(`   ${task}: ${line}`);
      if (e.type === 'epoch')
        log(
          `   ${task} epoch ${e.epoch + 1}: Dice loss ${e.metrics.loss?.toFixed(3)}, val IoU ${e.metrics.valIoU?.toFixed(3) ?? '-'}, ${(e.ms / 1000).toFixed(1)} s`,
        );
    },
    onWarning: (message) => log(`   warning: ${message}`),
  });
  const valIoU = result.best?.value ?? Number.NaN;
  const best = result.best === undefined ? '' : `best val IoU ${valIoU.toFixed(3)} (epoch ${result.best.epoch + 1})`;
  log(
    result.epochsRun === 0
      ? `   ${task}: the run was already complete (0 epochs trained): its ${best || 'last checkpoint'} reused`
      : `   ${task}: ${result.epochsRun} epoch(s) trained (train ${result.split.train.join(', ')}; val ${result.split.val.join(', ')}); ${best}`,
  );
  return { epochsRun: result.epochsRun, valIoU };
}

/** The stage 1 models' run folders under the demo's output. */
function stage1Runs(options: DemoOptions): { lung: string; lesion: string } {
  return { lung: join(options.out, 'runs', 'seg-lung'), lesion: join(options.out, 'runs', 'seg-lesion') };
}

/**
 * Stage 1's models (docs/method.md, "Segmentation (stage 1)"): the lung and lesion models trained
 * on the COVID-19-CT-Seg phantom; the pipeline's segment stage then runs them on every scan.
 */
async function trainStage1(options: DemoOptions, ctsegDir: string, log: (line: string) => void) {
  const runs = stage1Runs(options);
  const { model, input, batchSize, lr } = DEMO_SEGMENTATION;
  log(
    `2. stage 1: lung model M1 and lesion model M2 (${model.arch} / ${model.encoder}, width 1/${1 / model.width}, ${input.join('x')} slices, batch ${batchSize}, SGD lr ${lr}, ${options.segEpochs} epochs) trained on the ${DEMO_CTSEG_SCANS} COVID-19-CT-Seg phantom scans, runs in ${runs.lung}, ${runs.lesion}`,
  );
  // The engine's fastest backend (the classifier's stage says which).
  await initBackend({ log: () => {} });
  const lung = await trainSegModel('lung', runs.lung, ctsegDir, options, log);
  const lesion = await trainSegModel('lesion', runs.lesion, ctsegDir, options, log);
  return { lung, lesion };
}

/**
 * The check of stage 1's masks: COV19-CT-DB has no mask files, but the phantom knows each
 * scan's exact involvement and lung volume (`phantom_truth.json`).
 */
function checkStage1(
  graded: GradedCohort,
  models: Awaited<ReturnType<typeof trainStage1>>,
  cov19: TruthManifest,
  options: DemoOptions,
  log: (line: string) => void,
): DemoSegmentation {
  const result = graded.segmentation;
  if (result === undefined) throw new Error('the demo runs stage 1: gradeCohort returned no masks');
  const truth = new Map(cov19.scans.map((s) => [s.name, s]));
  const rows = result.scans.flatMap((report) => {
    const t = truth.get(report.name);
    if (t === undefined) return [];
    return [
      {
        predicted: segmentedInvolvement(report),
        truth: t.involvement,
        lungRatio: report.lungVoxels / (t.lungVoxels.left + t.lungVoxels.right),
      },
    ];
  });
  const diffs = rows.map((r) => r.predicted - r.truth);
  const involvement = {
    r: pearson(
      rows.map((r) => r.truth),
      rows.map((r) => r.predicted),
    ),
    meanAbsDiff: diffs.reduce((s, d) => s + Math.abs(d), 0) / diffs.length,
    bias: diffs.reduce((s, d) => s + d, 0) / diffs.length,
  };
  const ratios = rows.map((r) => r.lungRatio).sort((a, b) => a - b);
  const lungRatio = {
    median: ratios[Math.floor(ratios.length / 2)] ?? Number.NaN,
    min: ratios[0] ?? Number.NaN,
    max: ratios[ratios.length - 1] ?? Number.NaN,
  };
  log(
    `   stage 1 against phantom_truth.json (${rows.length} scans): predicted involvement (infection / lung voxels) vs the exact one: Pearson r ${involvement.r.toFixed(3)}, mean |difference| ${involvement.meanAbsDiff.toFixed(3)}, mean difference ${involvement.bias >= 0 ? '+' : ''}${involvement.bias.toFixed(3)}`,
  );
  log(
    `   lung voxels predicted / true: median ${lungRatio.median.toFixed(2)}, range ${lungRatio.min.toFixed(2)}-${lungRatio.max.toFixed(2)}`,
  );
  return {
    lungEpochsRun: models.lung.epochsRun,
    lesionEpochsRun: models.lesion.epochsRun,
    lungValIoU: models.lung.valIoU,
    lesionValIoU: models.lesion.valIoU,
    masksDir: runFolder(options.out).masks,
    scans: result.scans,
    cached: result.cached,
    involvement,
    lungRatio,
  };
}

/** One model's validation scores, against the published labels and against the exact grades. */
export interface DemoModelScore {
  readonly name: string;
  readonly published: ModelEvaluation;
  readonly exact: ModelEvaluation;
}

export interface DemoSummary {
  readonly preprocessed: number;
  readonly cacheHits: number;
  readonly montages: readonly string[];
  /** The CAM montage of a validation scan (`montage-cam.png`), when there is one. */
  readonly cam?: string;
  readonly labelMacroF1: number;
  /** Validation scores of each model: the classifiers, the involvement baseline, the ensemble. */
  readonly models: readonly DemoModelScore[];
  /** The ensemble's validation Macro F1 against the published labels. */
  readonly ensembleValMacroF1: number;
  /** The Table 3-style report (`<out>/report.md`) and its figures. */
  readonly report: { readonly table: string; readonly path: string; readonly figures: readonly string[] };
  readonly submission: readonly string[];
  /** The submission's check against the test folder (every scan once, names as the folders). */
  readonly submissionChecked: boolean;
  /** Stage 1: the two models, the masks of every COV19-CT-DB scan, their check against the truth. */
  readonly segmentation: DemoSegmentation;
  /** Epochs each classifier trained in this call (0: its finished run reused), by name. */
  readonly classifierEpochsRun: Readonly<Record<string, number>>;
  /** Input channels of each classifier, by name. */
  readonly classifierInChannels: Readonly<Record<string, number>>;
}

/** The backbone the demo trains on two CPU cores. */
const DEMO_BACKBONE = 'resnest-tiny-3d' as const;

/** The demo's classifiers (docs/method.md, "Variants (Table 3)"): rows 4 and 6, whose mean is the method's ensemble. */
export const DEMO_CLASSIFIERS: readonly { readonly name: string; readonly variant: CmcVariant; readonly title: string }[] = [
  { name: 'cmc', variant: 'cmc', title: 'plain CMC (CT alone)' },
  { name: 'infection-cmc', variant: 'infection-cmc', title: 'infection-aware CMC ([infection mask, CT], eq. 2)' },
];

/**
 * The classifiers' recipe from random weights on CPU (docs/method.md, "Training"): Adam lr 1e-3,
 * batch 4 (the paper's lr 1e-4 is for fine-tuning ImageNet weights).
 */
const DEMO_TRAINING = { batchSize: 4, lr: 1e-3 } as const;

/** Prints the pipeline's stage events as the demo's numbered steps, with progress bars. */
function stagePrinter(options: DemoOptions, log: (line: string) => void): (event: StageEvent) => void {
  let progress: ProgressReporter | undefined;
  let step = 2;
  const model = (event: StageEvent) => (event.type === 'stage-start' ? String(event.detail?.model ?? '') : '');
  return (event) => {
    if (event.type === 'stage-start') {
      const split = String(event.detail?.split ?? '');
      if (event.stage === 'load-cohort') log(`${++step}. labels, checked against the scan folders`);
      if (event.stage === 'segment') {
        log(
          `${++step}. stage 1 on every COV19-CT-DB scan (8-bit JPG slices read back to HU through the cov19ctdb window): lung by M1, infection by M2 inside it, both on onnxruntime -> ${join(runFolder(options.out).masks, '{lung,infection,overlays,records}')}`,
        );
        progress = createProgress('segment', event.total ?? 0);
      }
      if (event.stage === 'preprocess') {
        log(`${++step}. read + resample every scan to ${options.grid.join('x')} through the cache`);
        progress = createProgress('preprocess', event.total ?? 0);
      }
      if (event.stage === 'train-classifier') {
        const spec = DEMO_CLASSIFIERS.find((c) => c.name === model(event));
        log(
          `${++step}. ${spec?.title ?? model(event)}: ${DEMO_BACKBONE}, ${String(event.detail?.inChannels ?? '?')} input channel(s), ${options.epochs} epochs, batch ${DEMO_TRAINING.batchSize}, Adam lr ${DEMO_TRAINING.lr}, on ${String(event.detail?.trainScans ?? '?')} train scans, validated on ${String(event.detail?.valScans ?? '?')}; run in ${String(event.detail?.runDir ?? '')}`,
        );
        if (step === 6) {
          log(`   ${String(event.detail?.backend ?? '')}`);
          const workers = options.workers ?? 0;
          const viewWorkers = options.viewWorkers ?? 0;
          log(
            `   gradients: ${workers > 0 ? `${workers} worker threads (data-parallel)` : 'the main thread'}; augmented views: ${viewWorkers > 0 ? `${viewWorkers} worker thread(s), one step ahead` : 'the main thread'}`,
          );
        }
      }
      if (event.stage === 'predict') progress = createProgress(`predict ${model(event)} (TTA)`, event.total ?? 0);
      if (event.stage === 'involvement' && split === 'val')
        log(`${++step}. the involvement baseline: stage 1's infected share of the lung, graded by Table 1's thresholds`);
      if (event.stage === 'ensemble' && split === 'val')
        log(`${++step}. the ensemble: ${String(event.detail?.rule ?? 'mean')} of ${String(event.detail?.members ?? '')}`);
      if (event.stage === 'submission') log(`${++step}. the challenge submission from the ensemble's test table`);
    } else if (event.type === 'stage-progress') {
      if (event.stage === 'segment' || event.stage === 'preprocess' || event.stage === 'predict')
        progress?.update(event.done, `${event.item ?? ''} ${event.cached === true ? '(cache)' : ''}`);
    } else {
      for (const warning of event.warnings ?? []) log(`   warning: ${warning}`);
      const n = event.summary ?? {};
      if (event.stage === 'load-cohort') log(`   train ${n.train} scans, val ${n.val} scans (labelled), test ${n.test} scans`);
      if (event.stage === 'segment') {
        progress?.finish(`${n.segmented} segmented, ${n.cached} from the cache`);
        if (n.cached === n.scans)
          log(`   all ${n.cached} scans from the cache (same scan files, same models): nothing segmented again`);
      }
      if (event.stage === 'preprocess') progress?.finish(`${n.cacheHits} cache hits of ${n.scans}`);
      if (event.stage === 'predict') progress?.finish(event.outputs.join(', '));
      if (event.stage === 'involvement' || event.stage === 'ensemble' || event.stage === 'submission')
        log(`   ${event.outputs.join(', ')}`);
      progress = undefined;
    }
  };
}

/**
 * The montages: masks over CT, two augmented views of one scan, the classifier grid (its CT with
 * the infection channel in red).
 */
async function writeMontages(
  options: DemoOptions,
  ctsegDir: string,
  ctseg: TruthManifest,
  firstGrid?: { readonly image: Volume; readonly mask?: Volume },
): Promise<string[]> {
  const montages: string[] = [];
  const seg = ctseg.scans[0];
  if (seg !== undefined) {
    const ct = await readVolume(join(ctsegDir, CTSEG_FOLDERS[0], `${seg.name}.nii.gz`));
    const masks = await readVolume(join(ctsegDir, CTSEG_FOLDERS[3], `${seg.name}.nii.gz`));
    const path = join(options.out, 'montage-ct-seg-masks.png');
    await writeMontagePng(path, ct.intensity === 'hu' ? ct : { ...ct, intensity: 'hu' }, {
      mask: masks,
      slices: 9,
      window: 'cov19ctdb',
    });
    montages.push(path);
    // Two views of one scan, as the CMC classifier sees them (crop, rotation, contrast), image and mask
    // transformed by one draw each.
    const image = applyHuWindow({ ...ct, intensity: 'hu' }, 'cov19ctdb');
    const mask = makeVolume({
      data: Uint8Array.from(masks.data, (v) => (v === 3 ? 3 : 0)),
      shape: masks.shape,
      intensity: 'label',
    });
    const rng = Rng.fromSeed(options.seed);
    const views = [augmentImageAndMask({ image, mask }, rng), augmentImageAndMask({ image, mask }, rng)];
    const middle = Math.floor(image.shape[0] / 2);
    const stacked = stackSlice([image, ...views.map((v) => v.image)], middle, 'uint8-windowed');
    const stackedMask = stackSlice([mask, ...views.map((v) => v.mask)], middle, 'label');
    const viewsPath = join(options.out, 'montage-two-views.png');
    await writeMontagePng(viewsPath, stacked, { mask: stackedMask, columns: 3, slices: [0, 1, 2] });
    montages.push(viewsPath);
  }
  if (firstGrid !== undefined) {
    const path = join(options.out, 'montage-classifier-grid.png');
    await writeMontagePng(path, firstGrid.image, {
      slices: Math.min(16, firstGrid.image.shape[0]),
      columns: 8,
      // The infection channel in red, as in stage 1's overlays.
      ...(firstGrid.mask === undefined ? {} : { mask: firstGrid.mask, colours: [[230, 50, 40]] as const }),
    });
    montages.push(path);
  }
  return montages;
}

/** A scan's predicted infection mask (stage 1, `<masks>/infection/<scan>.nii.gz`) on the classifier grid. */
function infectionOnGrid(options: DemoOptions, scan: { name: string; folder: string }) {
  const path = join(runFolder(options.out).masks, SEGMENT_OUTPUT_FOLDERS.infection, `${scan.name}.nii.gz`);
  return readMaskOnGrid(path, scan.folder, options.grid);
}

/**
 * The class activation map of the first validation scan over its CT on the classifier grid, the
 * predicted infection outlined: where the infection-aware classifier looked for the grade it gave.
 * At the demo's 8 x 32 x 32 grid the paper's layer-4 CAM is a single cell (1 x 1 x 1), so the
 * demo draws Grad-CAM on layer 2 (4 x 4 x 4; docs/method.md, "CAM").
 */
const DEMO_CAM_LAYER = 2;

async function writeCamPicture(options: DemoOptions, graded: GradedCohort): Promise<string | undefined> {
  const scan = graded.cohort.scans.find((s) => s.split === 'val');
  const image = scan && graded.preprocessed.volumes.get(scan.name);
  const classifier = graded.classifiers.get('infection-cmc')?.classifier;
  if (scan === undefined || image === undefined || classifier === undefined || graded.stopped) return undefined;
  const mask = await infectionOnGrid(options, scan);
  const cam = classActivationVolume(
    classifier.model,
    { image, mask },
    { inChannels: classifier.inChannels, layer: DEMO_CAM_LAYER },
  );
  const path = join(options.out, 'montage-cam.png');
  // Tiles 4 times the grid's 32 x 32 in-plane (CT and map linear, the mask nearest), so the picture and its caption are legible.
  const [d, h, w] = image.shape;
  const large: Shape3 = [d, 4 * h, 4 * w];
  await writeCamMontage(
    path,
    resampleVolume(image, large, { mode: 'linear', output: 'same' }),
    resampleVolume(cam.cam, large, { mode: 'linear', output: 'float32' }),
    {
      slices: Math.min(8, d),
      columns: 4,
      mask: resampleVolume(mask, large, { mode: 'nearest' }),
      caption: `${camCaption(cam)} | ${scan.name}`,
    },
  );
  return path;
}

/** Published labels against the phantom's exact Table 1 grades. */
function labelNoise(cov19: TruthManifest, cohort: Cohort, seed: number, log: (line: string) => void): number {
  const published = new Map(cohort.scans.flatMap((s) => (s.category === undefined ? [] : [[s.name, classIdOf(s.category)]])));
  const labelled = cov19.scans.filter((s) => published.has(s.name));
  const truth = labelled.map((s) => classIdOf(s.trueCategory));
  const given = labelled.map((s) => published.get(s.name) as number);
  const report = classificationReport(confusionMatrix(truth, given, 4), { classNames: [...SEVERITY_CLASSES] });
  const ci = bootstrapMacroF1(truth, given, { numClasses: 4, seed });
  log(`   ${truth.length} labelled scans, ${truth.filter((t, i) => t !== given[i]).length} labels differ from the truth`);
  log(
    `   Macro F1 ${report.macroF1.toFixed(3)} (95 % CI ${ci.low.toFixed(3)}-${ci.high.toFixed(3)}), quadratic kappa ${report.quadraticKappa.toFixed(3)}`,
  );
  return report.macroF1;
}

/** Renames `dir` to `<base>`, `<base>-2`, ...: the first that is free. */
async function moveAside(dir: string, base: string): Promise<string> {
  let aside = base;
  for (
    let n = 2;
    await stat(aside).then(
      () => true,
      () => false,
    );
    n++
  )
    aside = `${base}-${n}`;
  await rename(dir, aside);
  return aside;
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/**
 * Training runs an earlier demo left that this one must not resume: a classifier run in
 * `<out>/runs/<name>` of another variant (earlier demos trained infection-aware CMC in
 * `runs/cmc`) goes to `runs/<variant>-earlier`; runs trained on a cohort that was just made
 * again (other settings) go to `runs/<name>-other-cohort`. Moved, not deleted, and said so.
 */
async function moveAsideEarlierRuns(
  options: DemoOptions,
  cohorts: { readonly cohortMade: boolean; readonly ctsegMade: boolean },
  log: (line: string) => void,
): Promise<void> {
  const runs = stage1Runs(options);
  const stale = [
    ...(cohorts.ctsegMade ? [runs.lung, runs.lesion] : []),
    ...(cohorts.cohortMade ? DEMO_CLASSIFIERS.map((c) => runFolder(options.out).model(c.name).run) : []),
  ];
  for (const dir of stale)
    if (await exists(dir))
      log(`   ${dir}: trained on an earlier cohort, moved to ${await moveAside(dir, `${dir}-other-cohort`)}`);
  for (const classifier of DEMO_CLASSIFIERS) {
    const runDir = runFolder(options.out).model(classifier.name).run;
    const events = await readEvents(join(runDir, 'events.jsonl')).catch(() => []);
    const start = events.findLast((e) => e.type === 'run-start');
    if (start?.type !== 'run-start') continue;
    const config = (start.config ?? {}) as { variant?: CmcVariant; inChannels?: 1 | 2 };
    const { variant } = resolveCmcVariant({ variant: config.variant, inChannels: config.inChannels });
    if (variant === classifier.variant) continue;
    const aside = await moveAside(runDir, join(runDir, '..', `${variant}-earlier`));
    log(
      `   an earlier demo's ${variant} classifier run (${start.model ?? 'CT alone'}) moved to ${aside}: this demo trains ${classifier.variant} there`,
    );
  }
}

/** A model's name in the report. */
function reportName(name: string): string {
  if (name === INVOLVEMENT_MODEL) return 'involvement baseline (stage 1 masks, Table 1)';
  if (name === ENSEMBLE_MODEL) return 'ensemble (mean of CMC and infection-aware CMC)';
  return DEMO_CLASSIFIERS.find((c) => c.name === name)?.title ?? name;
}

/**
 * The Table 3-style report on the validation split: every model against the published labels
 * and against the phantom's exact grades, with bootstrap intervals; the ensemble's confusion
 * matrix and each classifier's training curves as PNG; all in `<out>/report.md` and `<out>/figures/`.
 */
async function writeReport(options: DemoOptions, graded: GradedCohort, cov19: TruthManifest) {
  const val = graded.cohort.scans.filter((s) => s.split === 'val');
  const published: LabelRow[] = val.flatMap((s) => (s.category === undefined ? [] : [{ name: s.name, category: s.category }]));
  const trueGrade = new Map(cov19.scans.map((s) => [s.name, s.trueCategory]));
  const exact: LabelRow[] = val.map((s) => ({ name: s.name, category: trueGrade.get(s.name) ?? 1 }));
  const tables = graded.models.map((m) => ({ name: reportName(m.name), rows: m.valPredictions }));
  const bootstrap = { seed: options.seed, resamples: 2000 };
  const onPublished = evaluatePredictions(tables, published, { ...bootstrap, labelsPath: 'val labels' });
  const onExact = evaluatePredictions(tables, exact, { ...bootstrap, labelsPath: 'exact grades' });
  const ids = graded.models.map((m) => (m.name === 'cmc' ? '4' : m.name === 'infection-cmc' ? '6' : '-'));
  const table = [
    `Validation split (${val.length} scans), against the published labels (the challenge's, noisy):`,
    '',
    formatTable3(onPublished, { ids }),
    '',
    'The same predictions against the exact Table 1 grades (the phantom knows them):',
    '',
    formatTable3(onExact, { ids }),
  ].join('\n');
  const figures = join(options.out, 'figures');
  const ensemble = onPublished.at(-1) as ModelEvaluation;
  const confusionPath = join(figures, 'confusion-ensemble-val.png');
  await writeConfusionMatrixPng(confusionPath, ensemble.confusion, {
    title: 'Ensemble, validation split (published labels)',
    subtitle: `Macro F1 ${(ensemble.macroF1.estimate * 100).toFixed(1)} %, ${ensemble.scans} scans`,
  });
  const paths = [confusionPath];
  for (const c of DEMO_CLASSIFIERS) {
    const run = runFolder(options.out).model(c.name).run;
    const path = join(figures, `training-curves-${c.name}.png`);
    await writeTrainingCurvesPng(path, (await readRunEvents(run)).events, { title: `Training curves: ${c.title}` });
    paths.push(path);
  }
  const path = join(options.out, 'report.md');
  await writeFileAtomic(path, `# covsev demo report\n\n${table}\n\nFigures: ${paths.map((p) => basename(p)).join(', ')}\n`);
  const scores: DemoModelScore[] = graded.models.map((m, i) => ({
    name: m.name,
    published: onPublished[i] as ModelEvaluation,
    exact: onExact[i] as ModelEvaluation,
  }));
  return { table, path, figures: paths, scores };
}

export async function runDemo(options: DemoOptions = DEFAULT_DEMO): Promise<DemoSummary> {
  const log = options.log ?? ((line: string) => console.log(line));
  const cov19Dir = join(options.out, 'cov19-ct-db');
  const ctsegDir = join(options.out, 'ct-seg');
  const paths = runFolder(options.out);

  log('1. phantom cohorts');
  const { manifest: cov19, made } = await ensureCohort(cov19Dir, 'cov19-ct-db', options.scans, options.seed, log);
  const { manifest: ctseg, made: madeCtSeg } = await ensureCohort(ctsegDir, 'ct-seg', DEMO_CTSEG_SCANS, options.seed + 1, log);
  await moveAsideEarlierRuns(options, { cohortMade: made, ctsegMade: madeCtSeg }, log);

  const stage1 = await trainStage1(options, ctsegDir, log);
  const runs = stage1Runs(options);
  const training = {
    network: { backbone: DEMO_BACKBONE },
    epochs: options.epochs,
    ...DEMO_TRAINING,
    seed: options.seed,
    workers: options.workers ?? 0,
    viewWorkers: options.viewWorkers ?? 0,
    // A small phantom cohort (`--scans 8`) may lack a grade in its train split: weight an
    // empty class as one scan instead of refusing (the trainer's default).
    emptyClasses: 'weight-one' as const,
  };
  // Steps 3-11 are the pipeline's stages, printed from their events.
  const graded = await gradeCohort({
    cohort: cov19Dir,
    run: options.out,
    grid: options.grid,
    segmentation: { lungModel: runs.lung, lesionModel: runs.lesion },
    classifiers: DEMO_CLASSIFIERS.map((c) => ({ name: c.name, training: { ...training, variant: c.variant } })),
    onEvent: stagePrinter(options, log),
    onTrainEvent: (_, e: TrainEvent) => {
      if (e.type === 'run-start') for (const line of describeRunStart(e)) log(`   ${line}`);
      if (e.type === 'epoch')
        log(
          `   epoch ${e.epoch + 1}: loss ${e.metrics.loss?.toFixed(3)}, val Macro F1 ${e.metrics.valMacroF1?.toFixed(3) ?? '-'}, ${(e.ms / 1000).toFixed(1)} s`,
        );
    },
  });
  const segmentation = checkStage1(graded, stage1, cov19, options, log);
  if (graded.stopped) throw new Error('training was stopped through its control channel: rerun pnpm demo to resume it');
  const files = graded.submission?.files ?? [];
  const check = await checkChallengeSubmission(paths.submission, { testDir: join(cov19Dir, 'test') });
  if (check.problems.length > 0) for (const problem of check.problems) log(`   submission problem: ${problem}`);
  else
    log(
      `   ${paths.submission} checked against ${join(cov19Dir, 'test')}: ${check.scans} scans, each once (mild / moderate / severe / critical: ${check.counts.join(' / ')})`,
    );
  for (const warning of check.warnings) log(`   warning: ${warning}`);

  log('12. montages');
  const first = graded.cohort.scans[0];
  const firstImage = first && graded.preprocessed.volumes.get(first.name);
  const montages = await writeMontages(
    options,
    ctsegDir,
    ctseg,
    first === undefined || firstImage === undefined
      ? undefined
      : { image: firstImage, mask: await infectionOnGrid(options, first) },
  );
  // Stage 1 on one COV19-CT-DB scan (the validation scan of the CAM): the segment stage's overlay.
  const shown = graded.cohort.scans.find((s) => s.split === 'val') ?? first;
  const overlay = segmentation.scans.find((r) => r.name === shown?.name);
  // segmentScans' paths are absolute: said here under the demo's own folder, as the other montages.
  const overlayPath =
    overlay?.overlayPath === undefined
      ? undefined
      : join(segmentation.masksDir, SEGMENT_OUTPUT_FOLDERS.overlays, basename(overlay.overlayPath));
  if (overlay !== undefined && overlayPath !== undefined) {
    montages.push(overlayPath);
    const truth = cov19.scans.find((s) => s.name === overlay.name)?.involvement;
    log(
      `   ${overlayPath} (stage 1 on ${overlay.name}: predicted lung blue, infection red; involvement predicted ${segmentedInvolvement(overlay).toFixed(2)}, true ${truth?.toFixed(2) ?? '-'})`,
    );
  }
  for (const m of montages) if (m !== overlayPath) log(`   ${m}`);
  const cam = await writeCamPicture(options, graded);
  if (cam !== undefined)
    log(
      `   ${cam} (infection-aware CMC's Grad-CAM on layer ${DEMO_CAM_LAYER}: the layer-4 CAM is one cell at this grid; the predicted infection outlined)`,
    );

  log('13. label noise: published labels vs exact Table 1 grades (@covsev/eval)');
  const labelMacroF1 = labelNoise(cov19, graded.cohort, options.seed, log);

  log(`14. report: ${join(options.out, 'report.md')}`);
  const report = await writeReport(options, graded, cov19);
  for (const figure of report.figures) log(`   ${figure}`);
  log('');
  for (const line of report.table.split('\n')) log(line);
  const byName = (record: (name: string) => number) => Object.fromEntries(DEMO_CLASSIFIERS.map((c) => [c.name, record(c.name)]));
  return {
    preprocessed: graded.preprocessed.volumes.size,
    cacheHits: graded.preprocessed.cacheHits,
    montages,
    ...(cam === undefined ? {} : { cam }),
    labelMacroF1,
    models: report.scores,
    ensembleValMacroF1: graded.ensemble.valMacroF1,
    report: { table: report.table, path: report.path, figures: report.figures },
    submission: files,
    submissionChecked: check.problems.length === 0,
    segmentation,
    classifierEpochsRun: byName((n) => graded.classifiers.get(n)?.classifier.epochsRun ?? 0),
    classifierInChannels: byName((n) => graded.classifiers.get(n)?.classifier.inChannels ?? 0),
  };
}
