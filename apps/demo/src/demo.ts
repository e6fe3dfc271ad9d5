/**
 * The covsev demo on phantom data: everything of the method that is built, end to end. What is
 * demo-specific stays here (making phantom cohorts, montages, the label-noise report against the
 * phantom's exact grades); the way of the scans is `@covsev/pipeline`'s `classifyCohort`:
 *
 *   phantom cohorts (COV19-CT-DB JPGs + COVID-19-CT-Seg NIfTIs)
 *   -> pipeline: labels checked against scan folders, every scan on the classifier grid through
 *      the cache (second run: all hits), the CMC classifier trained on the train split (two
 *      views, contrastive + mixup + weighted CE, Adam) and validated with Macro F1, predictions
 *      for val and test, the submission files
 *   -> montages: masks over CT, two augmented views of one scan, the classifier grid
 *   -> @covsev/eval: how far the published (noisy) labels stand from the exact Table 1 grades
 *
 * Stages not built yet (segmentation, CAM, the ensemble) are listed, not faked.
 */

import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createProgress, type ProgressReporter } from '@covsev/cli';
import { classActivationVolume, writeCamMontage } from '@covsev/cmc';
import { bootstrapMacroF1, classificationReport, confusionMatrix } from '@covsev/eval';
import type { StageEvent } from '@covsev/events';
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
import { type ClassifiedCohort, classIdOf, classifyCohort, describeRunStart, runFolder } from '@covsev/pipeline';

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

export interface DemoSummary {
  readonly preprocessed: number;
  readonly cacheHits: number;
  readonly montages: readonly string[];
  /** The CAM montage of a validation scan (`montage-cam.png`), when there is one. */
  readonly cam?: string;
  readonly labelMacroF1: number;
  readonly cmcValMacroF1: number;
  readonly submission: readonly string[];
}

/** The backbone the demo trains on two CPU cores. */
const DEMO_BACKBONE = 'resnest-tiny-3d';

/** Prints the pipeline's stage events as the demo's numbered steps, with progress bars. */
function stagePrinter(options: DemoOptions, log: (line: string) => void): (event: StageEvent) => void {
  let progress: ProgressReporter | undefined;
  return (event) => {
    if (event.type === 'stage-start') {
      if (event.stage === 'load-cohort') log('2. labels, checked against the scan folders');
      if (event.stage === 'preprocess') {
        log(`3. read + resample every scan to ${options.grid.join('x')} through the cache`);
        progress = createProgress('preprocess', event.total ?? 0);
      }
      if (event.stage === 'train-classifier') {
        log(
          `4. CMC (${DEMO_BACKBONE}, CT channel) trained ${options.epochs} epoch(s) on the phantom train split, checkpoints and events in ${join(options.out, 'runs', 'cmc')}`,
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

/** The montages: masks over CT, two augmented views of one scan, the classifier grid. */
async function writeMontages(
  options: DemoOptions,
  ctsegDir: string,
  ctseg: TruthManifest,
  firstGrid?: Volume,
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
    await writeMontagePng(path, firstGrid, { slices: Math.min(16, firstGrid.shape[0]), columns: 8 });
    montages.push(path);
  }
  return montages;
}

/**
 * The class activation map (CAM) of the first validation scan over its CT on the classifier
 * grid: where the trained classifier looked for the grade it gave (a tiny network after a few
 * epochs: a picture of the machinery, not of a finding).
 */
async function writeCamPicture(options: DemoOptions, result: ClassifiedCohort): Promise<string | undefined> {
  const scan = result.cohort.scans.find((s) => s.split === 'val');
  const image = scan && result.preprocessed.volumes.get(scan.name);
  if (image === undefined || result.stopped) return undefined;
  const cam = classActivationVolume(result.classifier.model, { image }, { inChannels: result.classifier.inChannels });
  const path = join(options.out, 'montage-cam.png');
  await writeCamMontage(path, image, cam, { slices: Math.min(8, image.shape[0]), columns: 4 });
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

export async function runDemo(options: DemoOptions = DEFAULT_DEMO): Promise<DemoSummary> {
  const log = options.log ?? ((line: string) => console.log(line));
  const cov19Dir = join(options.out, 'cov19-ct-db');
  const ctsegDir = join(options.out, 'ct-seg');

  log('1. phantom cohorts');
  const cov19 = await ensureCohort(cov19Dir, 'cov19-ct-db', options.scans, options.seed, log);
  const ctseg = await ensureCohort(ctsegDir, 'ct-seg', 4, options.seed + 1, log);

  // Steps 2-5 are the pipeline's stages, printed from their events.
  const result = await classifyCohort({
    cohort: cov19Dir,
    run: options.out,
    grid: options.grid,
    training: {
      network: { backbone: DEMO_BACKBONE },
      inChannels: 1,
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
    '5. predictions (TTA: 3 augmented passes per scan, on onnxruntime) and the challenge submission (pnpm submit does the same from a CSV)',
  );
  const files = result.submission?.files ?? [];
  log(`   ${runFolder(options.out).predictions('test')}; ${files.join(', ')}`);

  log('6. montages');
  const first = result.cohort.scans[0];
  const montages = await writeMontages(options, ctsegDir, ctseg, first && result.preprocessed.volumes.get(first.name));
  for (const m of montages) log(`   ${m}`);
  const cam = await writeCamPicture(options, result);
  if (cam !== undefined) log(`   ${cam}`);

  log('7. label noise: published labels vs exact Table 1 grades (@covsev/eval)');
  const labelMacroF1 = labelNoise(cov19, result, options.seed, log);

  log('8. not built yet: lung/lesion segmentation (stage 1, so the infection-aware input), the ensemble');
  return {
    preprocessed: result.preprocessed.volumes.size,
    cacheHits: result.preprocessed.cacheHits,
    montages,
    ...(cam === undefined ? {} : { cam }),
    labelMacroF1,
    cmcValMacroF1: result.valMacroF1,
    submission: files,
  };
}
