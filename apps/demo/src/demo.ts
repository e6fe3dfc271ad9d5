/**
 * The covsev demo on phantom data: everything of the method that is built, end to end
 * (docs/method.md, "Pipeline"). What is demo-specific stays here (making phantom cohorts, the
 * CPU-sized segmentation recipe, montages, the checks against the phantom's exact truth); the way
 * of the scans is `@covsev/segment` (stage 1) and `@covsev/pipeline`'s `classifyCohort` (stage 2):
 *
 *   phantom cohorts (COV19-CT-DB JPGs + COVID-19-CT-Seg NIfTIs)
 *   -> stage 1 (docs/method.md, "Segmentation (stage 1)"): a tiny lung model M1 and a tiny
 *      lesion model M2 trained on the COVID-19-CT-Seg phantom (run folders that a second run
 *      reuses), exported to ONNX, and every COV19-CT-DB scan segmented (lung, then infection
 *      inside the lung; NIfTI masks, overlays, a cache), the predicted involvement checked
 *      against the phantom's exact one
 *   -> pipeline: labels checked against scan folders, every scan on the classifier grid through
 *      the cache (second run: all hits), the infection-aware CMC classifier ([infection mask, CT],
 *      eq. 2; docs/method.md, "Variants (Table 3)", row 6) trained on the train split (two views,
 *      contrastive + mixup + weighted CE, Adam) and validated with Macro F1, predictions for val
 *      and test, the submission files
 *   -> montages: masks over CT, two augmented views of one scan, the classifier grid, a scan's
 *      predicted lung and infection, the CAM with the predicted infection outlined
 *   -> @covsev/eval: how far the published (noisy) labels stand from the exact Table 1 grades
 *
 * The one stage not built yet (the ensemble) is listed, not faked.
 */

import { readFile, rename, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { createProgress, type ProgressReporter } from '@covsev/cli';
import { type CmcVariant, classActivationVolume, resolveCmcVariant, writeCamMontage } from '@covsev/cmc';
import { initBackend } from '@covsev/engine';
import { bootstrapMacroF1, classificationReport, confusionMatrix } from '@covsev/eval';
import { readEvents, type StageEvent, type TrainEvent } from '@covsev/events';
import {
  applyHuWindow,
  augmentImageAndMask,
  type Intensity,
  makeVolume,
  Rng,
  readVolume,
  SEVERITY_CLASSES,
  type Shape3,
  sliceView,
  type Volume,
  writeMontagePng,
} from '@covsev/io';
import { CTSEG_FOLDERS, TRUTH_FILE, type TruthManifest, writeCohort } from '@covsev/phantom';
import {
  type ClassifiedCohort,
  classIdOf,
  classifyCohort,
  describeRunStart,
  loadCohort,
  readMaskOnGrid,
  runFolder,
} from '@covsev/pipeline';
import {
  openSegmenter,
  type ScanSegmentationReport,
  SEGMENT_OUTPUT_FOLDERS,
  type SegmentationModelOptions,
  type SegmentationTask,
  segmentScans,
  trainSegmentation,
} from '@covsev/segment';

export interface DemoOptions {
  /** Output folder (default demo-out). */
  readonly out: string;
  readonly seed: number;
  /** Scans in the COV19-CT-DB cohort. */
  readonly scans: number;
  /** The classifier grid at demo size; GPU users use CMC_FULL_SHAPE (64 x 256 x 256). */
  readonly grid: Shape3;
  /** CMC training epochs (the paper: 100 on a GPU; a few here, to show the method run). */
  readonly epochs: number;
  /** Training epochs of each stage 1 model, lung and lesion (the paper: 100). */
  readonly segEpochs: number;
  /**
   * Worker threads for the training gradients (`CmcDataParallel`) and the augmented views
   * (`ViewPool`); 0: the main thread. Default: 2 gradient workers where there are 2 cores or more
   * (steps 1.3x faster here, `pnpm bench:engine`), no view worker: at the demo's 16x64x64 its gain
   * is within the noise once the gradient workers fill both cores (it pays on large grids).
   */
  readonly workers?: number;
  readonly viewWorkers?: number;
  readonly log?: (line: string) => void;
}

const twoCores = availableParallelism() >= 2;
export const DEFAULT_DEMO: DemoOptions = {
  out: 'demo-out',
  seed: 2022,
  scans: 16,
  grid: [16, 64, 64],
  epochs: 3,
  segEpochs: 8,
  workers: twoCores ? 2 : 0,
  viewWorkers: 0,
};

async function readManifest(dir: string): Promise<TruthManifest | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, TRUTH_FILE), 'utf8')) as TruthManifest;
  } catch {
    return undefined;
  }
}

/** Writes a phantom cohort unless the same one (layout, seed, count) is already there. */
async function ensureCohort(
  dir: string,
  layout: 'cov19-ct-db' | 'ct-seg',
  scans: number,
  seed: number,
  log: (l: string) => void,
): Promise<TruthManifest> {
  const existing = await readManifest(dir);
  if (existing !== undefined && existing.layout === layout && existing.seed === seed && existing.scans.length === scans) {
    log(`phantom ${layout}: ${scans} scans already in ${dir} (seed ${seed}), reused`);
    return existing;
  }
  const progress = createProgress(`phantom ${layout}`, scans);
  const manifest = await writeCohort({
    layout,
    out: dir,
    scans,
    seed,
    slices: [24, 40],
    rows: 128,
    cols: 128,
    labelNoise: 0.5,
    labelNoiseMargin: 0.08,
    onProgress: (p) => progress.update(p.done, p.scan.name),
  });
  progress.finish(dir);
  return manifest;
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
  /** `<out>/masks`: lung/, infection/, overlays/, records/ (`segmentScans`). */
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

/**
 * Stage 1 (docs/method.md, "Segmentation (stage 1)"): the lung and lesion models trained on the
 * COVID-19-CT-Seg phantom, then every COV19-CT-DB scan segmented with them through onnxruntime
 * (`openSegmenter` exports each run's best checkpoint), its masks checked against the phantom's
 * exact involvement and lung volume (`phantom_truth.json`: COV19-CT-DB has no mask files).
 */
async function runStage1(
  options: DemoOptions,
  cov19Dir: string,
  cov19: TruthManifest,
  ctsegDir: string,
  log: (line: string) => void,
): Promise<DemoSegmentation> {
  const runs = { lung: join(options.out, 'runs', 'seg-lung'), lesion: join(options.out, 'runs', 'seg-lesion') };
  const { model, input, batchSize, lr } = DEMO_SEGMENTATION;
  log(
    `2. stage 1: lung model M1 and lesion model M2 (${model.arch} / ${model.encoder}, width 1/${1 / model.width}, ${input.join('x')} slices, batch ${batchSize}, SGD lr ${lr}, ${options.segEpochs} epochs) trained on the ${DEMO_CTSEG_SCANS} COVID-19-CT-Seg phantom scans, runs in ${runs.lung}, ${runs.lesion}`,
  );
  // The engine's fastest backend (the classifier's stage says which).
  await initBackend({ log: () => {} });
  const lungRun = await trainSegModel('lung', runs.lung, ctsegDir, options, log);
  const lesionRun = await trainSegModel('lesion', runs.lesion, ctsegDir, options, log);

  const masksDir = join(options.out, 'masks');
  const cohort = await loadCohort(cov19Dir);
  log(
    `3. stage 1 on every COV19-CT-DB scan (${cohort.scans.length}, 8-bit JPG slices read back to HU through the cov19ctdb window): lung by M1, infection by M2 inside it, both on onnxruntime -> ${join(masksDir, '{lung,infection,overlays,records}')}`,
  );
  const lung = await openSegmenter(runs.lung);
  const lesion = await openSegmenter(runs.lesion).catch(async (error: unknown) => {
    await lung.dispose();
    throw error;
  });
  const progress = createProgress('segment', cohort.scans.length);
  let done = 0;
  let result: Awaited<ReturnType<typeof segmentScans>>;
  try {
    result = await segmentScans(
      cohort.scans.map((scan) => ({ name: scan.name, path: scan.folder, intensity: { window: 'cov19ctdb' as const } })),
      {
        out: masksDir,
        lung,
        lesion,
        onScan: (report) => progress.update(++done, `${report.name}${report.cached ? ' (cache)' : ''}`),
        onWarning: (message) => log(`   warning: ${message}`),
      },
    );
  } finally {
    await lung.dispose();
    await lesion.dispose();
  }
  progress.finish(`${result.computed} segmented, ${result.cached} from the cache`);
  if (result.cached === result.scans.length)
    log(`   all ${result.cached} scans from the cache (same scan files, same models): nothing segmented again`);
  for (const report of result.scans) for (const warning of report.warnings) log(`   warning: ${report.name}: ${warning}`);

  // The check: no mask files in COV19-CT-DB, but the phantom knows each scan's exact involvement and lung volume.
  const truth = new Map(cov19.scans.map((s) => [s.name, s]));
  const rows = result.scans.flatMap((report) => {
    const t = truth.get(report.name);
    if (t === undefined) return [];
    const predicted = report.lungVoxels > 0 ? (report.lesionVoxels ?? 0) / report.lungVoxels : 0;
    return [{ predicted, truth: t.involvement, lungRatio: report.lungVoxels / (t.lungVoxels.left + t.lungVoxels.right) }];
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
    `   check against phantom_truth.json (${rows.length} scans): predicted involvement (infection / lung voxels) vs the exact one: Pearson r ${involvement.r.toFixed(3)}, mean |difference| ${involvement.meanAbsDiff.toFixed(3)}, mean difference ${involvement.bias >= 0 ? '+' : ''}${involvement.bias.toFixed(3)}`,
  );
  log(
    `   lung voxels predicted / true: median ${lungRatio.median.toFixed(2)}, range ${lungRatio.min.toFixed(2)}-${lungRatio.max.toFixed(2)}`,
  );
  return {
    lungEpochsRun: lungRun.epochsRun,
    lesionEpochsRun: lesionRun.epochsRun,
    lungValIoU: lungRun.valIoU,
    lesionValIoU: lesionRun.valIoU,
    masksDir,
    scans: result.scans,
    cached: result.cached,
    involvement,
    lungRatio,
  };
}

export interface DemoSummary {
  readonly preprocessed: number;
  readonly cacheHits: number;
  readonly montages: readonly string[];
  /** The CAM montage of a validation scan (`montage-cam.png`), when there is one. */
  readonly cam?: string;
  readonly labelMacroF1: number;
  readonly cmcValMacroF1: number;
  readonly submission: readonly string[];
  /** Stage 1: the two models, the masks of every COV19-CT-DB scan, their check against the truth. */
  readonly segmentation: DemoSegmentation;
  /** Input channels of the trained classifier: 2, [infection mask, CT]. */
  readonly classifierInChannels: number;
}

/** The backbone the demo trains on two CPU cores. */
const DEMO_BACKBONE = 'resnest-tiny-3d';

/** Prints the pipeline's stage events as the demo's numbered steps, with progress bars. */
function stagePrinter(options: DemoOptions, log: (line: string) => void): (event: StageEvent) => void {
  let progress: ProgressReporter | undefined;
  return (event) => {
    if (event.type === 'stage-start') {
      if (event.stage === 'load-cohort') log('4. labels, checked against the scan folders');
      if (event.stage === 'preprocess') {
        log(`5. read + resample every scan to ${options.grid.join('x')} through the cache`);
        progress = createProgress('preprocess', event.total ?? 0);
      }
      if (event.stage === 'train-classifier') {
        log(
          `6. infection-aware CMC (${DEMO_BACKBONE}, ${String(event.detail?.inChannels ?? '?')} input channels: [infection mask, CT], eq. 2, the masks of step 3 put on the grid) trained ${options.epochs} epoch(s) on the phantom train split, checkpoints and events in ${join(options.out, 'runs', 'cmc')}`,
        );
        log(`   ${String(event.detail?.backend ?? '')}`);
        const workers = options.workers ?? 0;
        const viewWorkers = options.viewWorkers ?? 0;
        log(
          `   gradients: ${workers > 0 ? `${workers} worker threads (data-parallel)` : 'the main thread'}; augmented views: ${viewWorkers > 0 ? `${viewWorkers} worker thread(s), one step ahead` : 'the main thread'}`,
        );
      }
    } else if (event.type === 'stage-progress') {
      if (event.stage === 'preprocess')
        progress?.update(event.done, `${event.item ?? ''} ${event.cached === true ? '(cache)' : ''}`);
    } else if (event.stage === 'load-cohort') {
      for (const warning of event.warnings ?? []) log(`   warning: ${warning}`);
      const n = event.summary ?? {};
      log(`   train ${n.train} scans, val ${n.val} scans (labelled), test ${n.test} scans`);
    } else if (event.stage === 'preprocess') {
      progress?.finish(`${event.summary?.cacheHits} cache hits of ${event.summary?.scans}`);
      for (const warning of event.warnings ?? []) log(`   warning: ${warning}`);
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
function infectionOnGrid(options: DemoOptions, masksDir: string, scan: { name: string; folder: string }) {
  return readMaskOnGrid(join(masksDir, SEGMENT_OUTPUT_FOLDERS.infection, `${scan.name}.nii.gz`), scan.folder, options.grid);
}

/**
 * The class activation map (CAM) of the first validation scan over its CT on the classifier
 * grid, the predicted infection outlined: where the trained classifier looked for the grade it
 * gave (a tiny network after a few epochs: a picture of the machinery, not of a finding).
 */
async function writeCamPicture(options: DemoOptions, result: ClassifiedCohort, masksDir: string): Promise<string | undefined> {
  const scan = result.cohort.scans.find((s) => s.split === 'val');
  const image = scan && result.preprocessed.volumes.get(scan.name);
  if (scan === undefined || image === undefined || result.stopped) return undefined;
  const mask = await infectionOnGrid(options, masksDir, scan);
  const cam = classActivationVolume(result.classifier.model, { image, mask }, { inChannels: result.classifier.inChannels });
  const path = join(options.out, 'montage-cam.png');
  await writeCamMontage(path, image, cam, { slices: Math.min(8, image.shape[0]), columns: 4, mask });
  return path;
}

/** Published labels against the phantom's exact Table 1 grades. */
function labelNoise(cov19: TruthManifest, result: ClassifiedCohort, seed: number, log: (line: string) => void): number {
  const published = new Map(
    result.cohort.scans.flatMap((s) => (s.category === undefined ? [] : [[s.name, classIdOf(s.category)]])),
  );
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

/** The classifier variant the demo trains (docs/method.md, "Variants (Table 3)", row 6). */
const DEMO_VARIANT: CmcVariant = 'infection-cmc';

/**
 * A classifier run left in `<out>/runs/cmc` by an earlier demo that trained another variant (the
 * demo trained CT alone before stage 1 was built) cannot be resumed with 2 input channels: it is
 * moved aside to `runs/<variant>-earlier` (kept, not deleted), and said so.
 */
async function moveAsideOtherVariant(options: DemoOptions, log: (line: string) => void): Promise<void> {
  const runDir = runFolder(options.out).classifierRun;
  const events = await readEvents(join(runDir, 'events.jsonl')).catch(() => []);
  const start = events.findLast((e) => e.type === 'run-start');
  if (start?.type !== 'run-start') return;
  const config = (start.config ?? {}) as { variant?: CmcVariant; inChannels?: 1 | 2 };
  const { variant } = resolveCmcVariant({ variant: config.variant, inChannels: config.inChannels });
  if (variant === DEMO_VARIANT) return;
  const base = join(runDir, '..', `${variant}-earlier`);
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
  await rename(runDir, aside);
  log(
    `   an earlier demo's ${variant} classifier run (${start.model ?? 'CT alone'}) moved to ${aside}: this demo trains ${DEMO_VARIANT}`,
  );
}

export async function runDemo(options: DemoOptions = DEFAULT_DEMO): Promise<DemoSummary> {
  const log = options.log ?? ((line: string) => console.log(line));
  const cov19Dir = join(options.out, 'cov19-ct-db');
  const ctsegDir = join(options.out, 'ct-seg');

  log('1. phantom cohorts');
  const cov19 = await ensureCohort(cov19Dir, 'cov19-ct-db', options.scans, options.seed, log);
  const ctseg = await ensureCohort(ctsegDir, 'ct-seg', DEMO_CTSEG_SCANS, options.seed + 1, log);
  await moveAsideOtherVariant(options, log);

  // Steps 2-3: stage 1, the masks of every COV19-CT-DB scan.
  const segmentation = await runStage1(options, cov19Dir, cov19, ctsegDir, log);
  const infectionDir = join(segmentation.masksDir, SEGMENT_OUTPUT_FOLDERS.infection);

  // Steps 4-7 are the pipeline's stages, printed from their events.
  const result = await classifyCohort({
    cohort: cov19Dir,
    run: options.out,
    grid: options.grid,
    // [infection mask, CT] (eq. 2): each scan's predicted infection mask, put on the grid.
    masksDir: infectionDir,
    training: {
      network: { backbone: DEMO_BACKBONE },
      variant: DEMO_VARIANT,
      epochs: options.epochs,
      batchSize: 2,
      seed: options.seed,
      workers: options.workers ?? 0,
      viewWorkers: options.viewWorkers ?? 0,
      // A small phantom cohort (`--scans 8`) may lack a grade in its train split: weight an
      // empty class as one scan instead of refusing (the trainer's default).
      emptyClasses: 'weight-one',
    },
    onEvent: stagePrinter(options, log),
    onTrainEvent: (e) => {
      if (e.type === 'run-start') for (const line of describeRunStart(e)) log(`   ${line}`);
      if (e.type === 'epoch')
        log(
          `   epoch ${e.epoch + 1}: loss ${e.metrics.loss?.toFixed(3)}, val Macro F1 ${e.metrics.valMacroF1?.toFixed(3) ?? '-'}, ${(e.ms / 1000).toFixed(1)} s`,
        );
    },
  });
  if (result.classifier.epochsRun === 0) log('   the run was already complete: weights restored from its last checkpoint');
  if (result.stopped) log('   training was stopped through its control channel (a checkpoint was written): nothing predicted');
  log(
    `   validation Macro F1 ${result.valMacroF1.toFixed(3)} on ${result.valPredictions.length} scans (a ${DEMO_BACKBONE} after ${options.epochs} epochs: a smoke test of the method, not a result)`,
  );
  log(
    "7. predictions (TTA: 3 augmented passes per scan, on onnxruntime, with each scan's infection mask) and the challenge submission (pnpm submit does the same from a CSV)",
  );
  const files = result.submission?.files ?? [];
  log(`   ${runFolder(options.out).predictions('test')}; ${files.join(', ')}`);

  log('8. montages');
  const first = result.cohort.scans[0];
  const firstImage = first && result.preprocessed.volumes.get(first.name);
  const montages = await writeMontages(
    options,
    ctsegDir,
    ctseg,
    first === undefined || firstImage === undefined
      ? undefined
      : { image: firstImage, mask: await infectionOnGrid(options, segmentation.masksDir, first) },
  );
  // Stage 1 on one COV19-CT-DB scan (the validation scan of the CAM): segmentScans' overlay.
  const shown = result.cohort.scans.find((s) => s.split === 'val') ?? first;
  const overlay = segmentation.scans.find((r) => r.name === shown?.name);
  // segmentScans' paths are absolute: said here under the demo's own folder, as the other montages.
  const overlayPath =
    overlay?.overlayPath === undefined
      ? undefined
      : join(segmentation.masksDir, SEGMENT_OUTPUT_FOLDERS.overlays, basename(overlay.overlayPath));
  if (overlay !== undefined && overlayPath !== undefined) {
    montages.push(overlayPath);
    const truth = cov19.scans.find((s) => s.name === overlay.name)?.involvement;
    const predicted = (overlay.lesionVoxels ?? 0) / Math.max(1, overlay.lungVoxels);
    log(
      `   ${overlayPath} (stage 1 on ${overlay.name}: predicted lung blue, infection red; involvement predicted ${predicted.toFixed(2)}, true ${truth?.toFixed(2) ?? '-'})`,
    );
  }
  for (const m of montages) if (m !== overlayPath) log(`   ${m}`);
  const cam = await writeCamPicture(options, result, segmentation.masksDir);
  if (cam !== undefined) log(`   ${cam} (the predicted infection outlined)`);

  log('9. label noise: published labels vs exact Table 1 grades (@covsev/eval)');
  const labelMacroF1 = labelNoise(cov19, result, options.seed, log);

  log('10. not built yet: the ensemble (the average of plain CMC and infection-aware CMC)');
  return {
    preprocessed: result.preprocessed.volumes.size,
    cacheHits: result.preprocessed.cacheHits,
    montages,
    ...(cam === undefined ? {} : { cam }),
    labelMacroF1,
    cmcValMacroF1: result.valMacroF1,
    submission: files,
    segmentation,
    classifierInChannels: result.classifier.inChannels,
  };
}
