/**
 * The covsev demo on phantom data: everything of the pipeline that is built, end to end.
 *
 *   phantom cohorts (COV19-CT-DB JPGs + COVID-19-CT-Seg NIfTIs)
 *   -> read every scan back through @covsev/io, check labels against scan folders
 *   -> preprocess to the classifier grid through the cache (second run: all hits)
 *   -> montages: masks over CT, the classifier grid, two augmented views of one scan
 *   -> @covsev/eval: how far the published (noisy) labels stand from the exact Table 1 grades
 *   -> the CMC classifier trained on the train split (two views, contrastive + mixup + weighted
 *      CE, Adam), validated with Macro F1, predictions for the test split, the submission files
 *
 * Stages not built yet (segmentation, CAM, TTA + ensemble) are listed, not faked.
 */

import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createProgress } from '@covsev/cli';
import { type CmcScan, predictCmc, trainCmc } from '@covsev/cmc';
import { formatBackendInfo, initBackend } from '@covsev/engine';
import { bootstrapMacroF1, classificationReport, confusionMatrix, macroF1 } from '@covsev/eval';
import {
  applyHuWindow,
  augmentImageAndMask,
  findScanFolder,
  type Intensity,
  makeVolume,
  type PredictionRow,
  PreprocessCache,
  preprocessScan,
  Rng,
  readLabelCsv,
  readVolume,
  SEVERITY_CLASSES,
  type SeverityCategory,
  type Shape3,
  sliceView,
  type Volume,
  writeMontagePng,
  writePredictionCsv,
  writeSubmission,
} from '@covsev/io';
import { CTSEG_FOLDERS, LABEL_FILES, TRUTH_FILE, type TruthManifest, writeCohort } from '@covsev/phantom';

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
  readonly labelMacroF1: number;
  readonly cmcValMacroF1: number;
  readonly submission: readonly string[];
}

/** The backbone the demo trains on two CPU cores. */
const DEMO_BACKBONE = 'resnest-tiny-3d';

export async function runDemo(options: DemoOptions = DEFAULT_DEMO): Promise<DemoSummary> {
  const log = options.log ?? ((line: string) => console.log(line));
  const cov19Dir = join(options.out, 'cov19-ct-db');
  const ctsegDir = join(options.out, 'ct-seg');

  log('1. phantom cohorts');
  const cov19 = await ensureCohort(cov19Dir, 'cov19-ct-db', options.scans, options.seed, log);
  const ctseg = await ensureCohort(ctsegDir, 'ct-seg', 4, options.seed + 1, log);

  log('2. labels, checked against the scan folders');
  const labelled = new Map<string, number>();
  for (const [split, file] of Object.entries(LABEL_FILES)) {
    const rows = await readLabelCsv(join(cov19Dir, file), { scanRoots: [join(cov19Dir, split)] });
    for (const r of rows) labelled.set(r.name, r.category);
    log(`   ${file}: ${rows.length} scans`);
  }

  log(`3. read + resample every scan to ${options.grid.join('x')} through the cache`);
  const cache = new PreprocessCache(join(options.out, 'cache'));
  const progress = createProgress('preprocess', cov19.scans.length);
  let hits = 0;
  let firstVolume: Awaited<ReturnType<typeof preprocessScan>>['volume'] | undefined;
  const grid = new Map<string, Volume<Uint8Array>>();
  for (const [i, scan] of cov19.scans.entries()) {
    const folder = await findScanFolder(scan.name, [join(cov19Dir, scan.split)]);
    if (folder === undefined) throw new Error(`demo: scan ${scan.name} listed in ${TRUTH_FILE} has no folder`);
    const { volume, cached } = await preprocessScan(folder, { shape: options.grid, mode: 'linear', output: 'same' }, { cache });
    if (cached) hits++;
    firstVolume ??= volume;
    grid.set(scan.name, volume as Volume<Uint8Array>);
    progress.update(i + 1, `${scan.name} ${cached ? '(cache)' : ''}`);
  }
  progress.finish(`${hits} cache hits of ${cov19.scans.length}`);

  log('4. montages');
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
  if (firstVolume !== undefined) {
    const path = join(options.out, 'montage-classifier-grid.png');
    await writeMontagePng(path, firstVolume, { slices: Math.min(16, firstVolume.shape[0]), columns: 8 });
    montages.push(path);
  }
  for (const m of montages) log(`   ${m}`);

  log('5. label noise: published labels vs exact Table 1 grades (@covsev/eval)');
  const truth = cov19.scans.filter((s) => labelled.has(s.name)).map((s) => s.trueCategory - 1);
  const published = cov19.scans.filter((s) => labelled.has(s.name)).map((s) => (labelled.get(s.name) as number) - 1);
  const report = classificationReport(confusionMatrix(truth, published, 4), { classNames: [...SEVERITY_CLASSES] });
  const ci = bootstrapMacroF1(truth, published, { numClasses: 4, seed: options.seed });
  log(`   ${truth.length} labelled scans, ${truth.filter((t, i) => t !== published[i]).length} labels differ from the truth`);
  log(
    `   Macro F1 ${report.macroF1.toFixed(3)} (95 % CI ${ci.low.toFixed(3)}-${ci.high.toFixed(3)}), quadratic kappa ${report.quadraticKappa.toFixed(3)}`,
  );

  log(
    `6. CMC (${DEMO_BACKBONE}, CT channel) trained ${options.epochs} epoch(s) on the phantom train split, checkpoints and events in ${join(options.out, 'runs', 'cmc')}`,
  );
  log(`   ${formatBackendInfo(await initBackend({ log: () => {} }))}`);
  const workers = options.workers ?? 0;
  const viewWorkers = options.viewWorkers ?? 0;
  log(
    `   gradients: ${workers > 0 ? `${workers} worker threads (data-parallel)` : 'the main thread'}; augmented views: ${viewWorkers > 0 ? `${viewWorkers} worker thread(s), one step ahead` : 'the main thread'}`,
  );
  const asScan = (s: (typeof cov19.scans)[number]): CmcScan => ({
    name: s.name,
    image: grid.get(s.name) as Volume<Uint8Array>,
    ...(labelled.has(s.name) ? { label: (labelled.get(s.name) as number) - 1 } : {}),
  });
  const train = cov19.scans.filter((s) => s.split === 'train').map(asScan);
  const val = cov19.scans.filter((s) => s.split === 'val').map(asScan);
  const test = cov19.scans.filter((s) => s.split === 'test').map(asScan);
  const { model, epochsRun } = await trainCmc({
    runDir: join(options.out, 'runs', 'cmc'),
    train,
    val,
    network: { backbone: DEMO_BACKBONE },
    inChannels: 1,
    epochs: options.epochs,
    batchSize: 2,
    seed: options.seed,
    workers,
    viewWorkers,
    onEvent: (e) => {
      if (e.type === 'epoch')
        log(
          `   epoch ${e.epoch + 1}: loss ${e.metrics.loss?.toFixed(3)}, val Macro F1 ${e.metrics.valMacroF1?.toFixed(3) ?? '-'}, ${(e.ms / 1000).toFixed(1)} s`,
        );
    },
  });
  if (epochsRun === 0) log('   the run was already complete: weights restored from its last checkpoint');
  const valProbs = predictCmc(model, val, 1);
  const valPred = valProbs.map((p) => p.indexOf(Math.max(...p)));
  const valTruth = val.map((s) => s.label as number);
  const cmcF1 = val.length > 0 ? macroF1(confusionMatrix(valTruth, valPred, 4)) : Number.NaN;
  log(
    `   validation Macro F1 ${cmcF1.toFixed(3)} on ${val.length} scans (a ${DEMO_BACKBONE} after ${options.epochs} epochs: a smoke test of the method, not a result)`,
  );

  log('7. predictions and the challenge submission (pnpm submit does the same from a CSV)');
  const testProbs = predictCmc(model, test, 1);
  const rows: PredictionRow[] = test.map((s, i) => {
    const p = testProbs[i] as number[];
    return {
      name: s.name,
      category: (p.indexOf(Math.max(...p)) + 1) as SeverityCategory,
      probabilities: p as [number, number, number, number],
    };
  });
  const predictions = join(options.out, 'predictions', 'test.csv');
  await writePredictionCsv(predictions, rows);
  const files = await writeSubmission({
    outDir: join(options.out, 'submission'),
    entries: rows,
    expectedScans: test.map((s) => s.name),
  });
  log(`   ${predictions}; ${files.join(', ')}`);

  log('8. not built yet: lung/lesion segmentation (stage 1, so the infection-aware input), CAM, TTA + ensemble, the dashboard');
  return {
    preprocessed: cov19.scans.length,
    cacheHits: hits,
    montages,
    labelMacroF1: report.macroF1,
    cmcValMacroF1: cmcF1,
    submission: files,
  };
}
