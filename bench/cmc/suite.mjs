// The classifier benchmark (`pnpm bench:cmc`): does the CMC classifier learn, and do the variants of
// Table 3 rank as in the paper? One phantom cohort in the COV19-CT-DB sense (windowed CT on the
// classifier grid, the published noisy labels, the exact grades, lung and infection masks from
// stage 1 or the phantom's exact ones, resampled to the same grid), the five variants trained with the same seed, epochs, lr and
// workers. The validation split picks each run's best checkpoint (checkpoints/best/, the epoch
// with the best validation Macro F1 on the published labels); the held-out test split, never seen
// in training or selection, is predicted from it with TTA (predictCmcTta, onnxruntime) and scored.
// The tables (Table 3's layout: variant, Macro F1 with bootstrap 95 % CI, per-class F1, wall
// time) are printed against the published labels and against the exact grades, with the ceiling
// (the exact grades scored against the published labels), and written to bench/out/cmc.md. The
// infection-aware model's class activation maps (the paper's CAM on layer 4, Grad-CAM on layers
// 3, 2 and 1) are scored over the test scans by the share of their mass on the lesions, and those
// of one test scan of each grade go to bench/out/cam-<grade>.png and gradcam-layer<L>-<grade>.png
// (bench/cmc/cams.mjs redraws them for a kept run).
//
// Flags: --train N --val M --test T (scans; default 96, 32, 64), --epochs E (default 20: the
// five variants take about an hour on 2 cores, measured 2026-12-01), --variants a,b,c
// (default all five), --ce mean|weighted-mean|both (the weighted CE's reduction; both: the `cmc`
// variant is trained once more with the other setting), --seed S (default 1), --grid DxHxW
// (default 16x64x64), --workers W (default 2), --lr (default 1e-3), --batch (default 4),
// --masks stage1|exact (default stage1: the masks of the lung- and infection-aware rows come from
// a lung and a lesion model trained first on another phantom cohort, stage1.mjs; exact: the
// phantom's exact masks), --seg-epochs L,S (stage 1's lung and lesion epochs; default 14,10),
// --stage1-from DIR (stage 1's models from a folder holding their lung/ and lesion/ run folders,
// e.g. a kept bench run's, instead of training them), --precise-bn on|off (default off: trainCmc's
// preciseBatchNorm), --keep DIR (keep every classifier run and stage 1's models under DIR instead
// of deleting them: bench/cmc/epochs.mjs and cams.mjs read them).
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CMC_VARIANT_SPECS,
  CmcNetwork,
  classActivationVolume,
  predictCmcTta,
  releaseCmcOnnxSessions,
  trainCmc,
  writeCamMontage,
} from '../../packages/cmc/dist/index.js';
import { BEST_DIR, checkpointsDir, initBackend, loadCheckpoint, restoreCheckpoint } from '../../packages/engine/dist/index.js';
import { involvementFromMasks, involvementPrediction } from '../../packages/ensemble/dist/index.js';
import { bootstrapMacroF1, classificationReport, confusionMatrix } from '../../packages/eval/dist/index.js';
import { applyHuWindow, HU_WINDOWS, makeVolume, Rng, resampleVolume, SEVERITY_CLASSES } from '../../packages/io/dist/index.js';
import { generateScan, planCohort } from '../../packages/phantom/dist/index.js';
import { segmentVolume } from '../../packages/segment/dist/index.js';
import { openStage1, trainStage1 } from './stage1.mjs';

const ALL = ['resnest', 'mixup', 'cmc', 'lung-cmc', 'infection-cmc'];

/** The value after `--name` on the command line, else `fallback`. */
export function flag(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

const fmtTime = (s) =>
  s >= 3600 ? `${(s / 3600).toFixed(1)} h` : s >= 60 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${s.toFixed(0)} s`;

/**
 * The phantom cohort on the classifier grid: CT (windowed as COV19-CT-DB, resampled), masks
 * (nearest), labels. The masks the lung- and infection-aware variants see are the phantom's exact
 * ones, or with `stage1` ({ lung, lesion } segmenters) stage 1's prediction on the scan in HU;
 * `exactInfection` is kept for the CAM outline. Returns the splits and, with stage 1, its pooled
 * IoU against the exact masks over the whole cohort.
 */
export async function makeCohort({ train, val, test, seed, grid, stage1, splits = ['train', 'val', 'test'] }) {
  const plan = planCohort({
    scans: train + val + test,
    seed,
    slices: [2 * grid[0], 3 * grid[0]],
    rows: 2 * grid[1],
    cols: 2 * grid[2],
    splits: [train, val, test],
    // As pnpm demo: a scan within 8 points of a class border gets the neighbouring grade with p 0.5.
    labelNoise: 0.5,
    labelNoiseMargin: 0.08,
  });
  const out = { train: [], val: [], test: [] };
  const overlap = { lung: [0, 0], infection: [0, 0] };
  const count = (key, predicted, exact) => {
    for (let i = 0; i < exact.data.length; i++) {
      const p = predicted.data[i] > 0;
      const e = exact.data[i] > 0;
      if (p && e) overlap[key][0]++;
      if (p || e) overlap[key][1]++;
    }
  };
  const t0 = Date.now();
  // Only the wanted splits are generated (the plan, and so every scan's seed, is the whole cohort's).
  const wanted = plan.filter((p) => splits.includes(p.split));
  const total = wanted.length;
  for (const [k, p] of wanted.entries()) {
    const scan = generateScan(p.spec, p.seed);
    const image = resampleVolume(applyHuWindow(scan.ct, HU_WINDOWS.cov19ctdb), grid, { mode: 'linear', output: 'same' });
    const binary = (m) => {
      const r = resampleVolume(m, grid, { mode: 'nearest' });
      return makeVolume({ data: Uint8Array.from(r.data, (v) => (v > 0 ? 1 : 0)), shape: grid, intensity: 'label' });
    };
    let masks = { lung: scan.lungMask, infection: scan.infectionMask };
    if (stage1 !== undefined) {
      const predicted = await segmentVolume(scan.ct, { lung: stage1.lung, lesion: stage1.lesion });
      count('lung', predicted.lung, scan.lungMask);
      count('infection', predicted.lesion, scan.infectionMask);
      masks = { lung: predicted.lung, infection: predicted.lesion };
    }
    // The involvement baseline's estimate (infected / lung voxels of the masks the models see, at the scan's resolution).
    let estimatedInvolvement;
    try {
      estimatedInvolvement = involvementFromMasks(masks.lung, masks.infection, { name: p.name });
    } catch {
      estimatedInvolvement = Number.NaN; // no lung found
    }
    const entry = {
      name: p.name,
      image: makeVolume({ data: Uint8Array.from(image.data), shape: grid, intensity: 'uint8-windowed' }),
      lung: binary(masks.lung),
      infection: binary(masks.infection),
      exactInfection: binary(scan.infectionMask),
      published: scan.label - 1,
      exact: scan.category - 1,
      involvement: scan.involvement,
      estimatedInvolvement,
    };
    out[p.split].push(entry);
    if ((k + 1) % 16 === 0 || k + 1 === total) {
      const s = (Date.now() - t0) / 1000;
      console.log(
        `  phantom${stage1 === undefined ? '' : ' + stage 1 masks'}: ${k + 1}/${total} scans (${fmtTime(s)}, ETA ${fmtTime((s / (k + 1)) * (total - k - 1))})`,
      );
    }
  }
  const iou = ([inter, union]) => (union === 0 ? 1 : inter / union);
  return stage1 === undefined ? out : { ...out, stage1Iou: { lung: iou(overlap.lung), infection: iou(overlap.infection) } };
}

/** The bench's resnest-tiny-3d CMC network with a checkpoint's weights and statistics. */
export function cmcFromCheckpoint(checkpoint, inChannels) {
  const model = new CmcNetwork({ backbone: 'resnest-tiny-3d', inChannels }, Rng.fromSeed(0));
  const variables = new Map(model.parameters().map(({ name, variable }) => [name, variable]));
  for (const { name, variable } of model.buffers()) variables.set(name, variable);
  restoreCheckpoint(checkpoint, { variables });
  return model;
}

/**
 * The held-out test split of a bench cohort, for the scripts that read kept runs (epochs.mjs,
 * cams.mjs): the cohort flags (--train, --val, --test, --seed, --grid) as the bench run's, the
 * masks from stage 1's models kept in `stage1Dir` (its lung/ and lesion/), else the exact ones.
 */
export async function keptTestSplit(stage1Dir) {
  const stage1 = stage1Dir === undefined ? undefined : await openStage1(stage1Dir);
  try {
    const cohort = await makeCohort({
      train: Number(flag('train', '96')),
      val: Number(flag('val', '32')),
      test: Number(flag('test', '64')),
      seed: Number(flag('seed', '1')),
      grid: flag('grid', '16x64x64').split('x').map(Number),
      stage1,
      splits: ['test'],
    });
    return cohort.test;
  } finally {
    await stage1?.close();
  }
}

/** The scans a variant trains on: published labels, and its mask where it takes one. */
export function asCmcScans(entries, variant) {
  const mask = CMC_VARIANT_SPECS[variant].mask;
  return entries.map((e) => ({
    name: e.name,
    image: e.image,
    label: e.published,
    ...(mask === 'lung' ? { mask: e.lung } : mask === 'infection' ? { mask: e.infection } : {}),
  }));
}

function score(truth, pred, seed) {
  const confusion = confusionMatrix(truth, pred, 4);
  const report = classificationReport(confusion, { classNames: SEVERITY_CLASSES });
  const ci = bootstrapMacroF1(truth, pred, { numClasses: 4, seed, resamples: 2000 });
  return { macroF1: ci.estimate, low: ci.low, high: ci.high, perClassF1: report.perClass.map((c) => c.f1), confusion };
}

const pct = (v) => (100 * v).toFixed(2);

function table(rows, key, title) {
  const lines = [
    `${title}`,
    '',
    `| ID  | variant | masks | Macro F1 (%) [95 % CI] | ${SEVERITY_CLASSES.map((c) => `F1 ${c}`).join(' | ')} | best epoch (val Macro F1) | wall time |`,
    `| --- | ------- | ----- | ---------------------- | ${SEVERITY_CLASSES.map(() => '---').join(' | ')} | --- | --- |`,
  ];
  for (const r of rows) {
    const s = r[key];
    if (s === undefined) continue;
    const best = r.bestEpoch === undefined ? '-' : `${r.bestEpoch} (${pct(r.bestValMacroF1)})`;
    lines.push(
      `| ${r.id} | ${r.label} | ${r.masks} | ${pct(s.macroF1)} [${pct(s.low)}, ${pct(s.high)}] | ${s.perClassF1.map(pct).join(' | ')} | ${best} | ${r.wallS === undefined ? '-' : fmtTime(r.wallS)} |`,
    );
  }
  return lines.join('\n');
}

/** Share of the CAM's mass on the infection mask, and that share over the mask's share of the volume (1: no better than uniform). */
function camOnLesions(cam, mask) {
  let total = 0;
  let inside = 0;
  let lesion = 0;
  for (let i = 0; i < cam.data.length; i++) {
    const v = cam.data[i];
    total += v;
    if (mask.data[i] > 0) {
      inside += v;
      lesion++;
    }
  }
  const share = total > 0 ? inside / total : 0;
  return { share, lift: lesion > 0 ? share / (lesion / cam.data.length) : 0 };
}

/** A volume scaled in-plane by `f` for a legible montage (linear for CT and CAM, nearest for masks). */
function enlarge(volume, f, mode, output) {
  const [d, h, w] = volume.shape;
  return resampleVolume(volume, [d, h * f, w * f], { mode, output });
}

/** The layers whose maps the bench scores: 4 is the paper's CAM, 3, 2 and 1 Grad-CAM on finer grids. */
export const CAM_LAYERS = [4, 3, 2, 1];

/** The montage file of a grade at a layer: cam-<grade>.png (layer 4), gradcam-layer<L>-<grade>.png. */
const camFile = (layer, grade) =>
  layer === 4 ? `cam-${grade.toLowerCase()}.png` : `gradcam-layer${layer}-${grade.toLowerCase()}.png`;

/**
 * The infection-aware model's class activation maps at each of CAM_LAYERS: the share of the map's
 * mass on the lesions over every test scan, and a montage (bench/out/cam-<grade>.png,
 * gradcam-layer<L>-<grade>.png) of the first test scan of each exact grade.
 */
export async function writeCams(model, entries, inChannels, outDir) {
  const layers = [];
  for (const layer of CAM_LAYERS) {
    const lifts = [];
    const shares = [];
    const pictures = [];
    let grid;
    for (const e of entries) {
      const scan = { image: e.image, mask: e.infection };
      const activation = classActivationVolume(model, scan, { inChannels, layer });
      grid = activation.lowRes.shape;
      const { share, lift } = camOnLesions(activation.cam, e.exactInfection);
      shares.push(share);
      lifts.push(lift);
      const grade = SEVERITY_CLASSES[e.exact];
      if (!pictures.some((p) => p.grade === grade)) {
        const path = join(outDir, camFile(layer, grade));
        const f = 4;
        const cam = enlarge(activation.cam, f, 'linear', 'float32');
        const method = layer === 4 ? 'CAM' : `Grad-CAM L${layer}`;
        await writeCamMontage(
          path,
          enlarge(e.image, f, 'linear', 'same'),
          makeVolume({ data: cam.data, shape: cam.shape, intensity: 'unknown' }),
          {
            mask: enlarge(e.exactInfection, f, 'nearest', 'same'),
            slices: 8,
            columns: 4,
            caption: `${method} ${grid.join('x')}: ${e.name} ${grade} (${(100 * e.involvement).toFixed(0)} % involved), predicted ${SEVERITY_CLASSES[activation.predicted]} ${activation.probability.toFixed(2)}; ${(100 * share).toFixed(0)} % on lesions`,
          },
        );
        pictures.push({ grade, path, scan: e.name, share, lift, predicted: SEVERITY_CLASSES[activation.predicted] });
      }
    }
    const mean = (a) => a.reduce((x, y) => x + y, 0) / Math.max(a.length, 1);
    layers.push({ layer, grid, meanShare: mean(shares), meanLift: mean(lifts), pictures });
  }
  return { scans: entries.length, layers };
}

/** The CAM section of bench/out/cmc.md. */
export function camSection(cams) {
  const lines = [
    '## Class activation maps (infection-aware CMC, predicted class)',
    '',
    `Over the ${cams.scans} test scans: the mean share of the map's mass on the lesions, and that share over the lesions' share of the volume (lift; 1: no better than a uniform map). Layer 4 is the paper's CAM; layers 3, 2 and 1 are Grad-CAM on finer grids.`,
    '',
    '| layer | map | grid | mass on the lesions | lift |',
    '| --- | --- | --- | --- | --- |',
    ...cams.layers.map(
      (l) =>
        `| ${l.layer} | ${l.layer === 4 ? 'CAM' : 'Grad-CAM'} | ${l.grid.join('x')} | ${(100 * l.meanShare).toFixed(1)} % | ${l.meanLift.toFixed(2)} |`,
    ),
    '',
  ];
  for (const l of cams.layers) {
    lines.push(`Layer ${l.layer}:`);
    for (const p of l.pictures)
      lines.push(
        `- ${p.grade}: \`bench/out/${p.path.split('/').pop()}\` (${p.scan}, predicted ${p.predicted}; ${(100 * p.share).toFixed(0)} % on the lesions, lift ${p.lift.toFixed(2)})`,
      );
  }
  return lines.join('\n');
}

export async function run() {
  const trainN = Number(flag('train', '96'));
  const valN = Number(flag('val', '32'));
  const testN = Number(flag('test', '64'));
  const epochs = Number(flag('epochs', '20'));
  const seed = Number(flag('seed', '1'));
  const workers = Number(flag('workers', '2'));
  const lr = Number(flag('lr', '1e-3'));
  const batchSize = Number(flag('batch', '4'));
  const grid = flag('grid', '16x64x64').split('x').map(Number);
  const variants = flag('variants', ALL.join(',')).split(',');
  const ce = flag('ce', 'mean');
  const maskSource = flag('masks', 'stage1');
  if (maskSource !== 'stage1' && maskSource !== 'exact') throw new Error(`--masks must be stage1 or exact, got ${maskSource}`);
  for (const v of variants) if (!ALL.includes(v)) throw new Error(`unknown variant ${v} (${ALL.join(', ')})`);
  if (!(testN > 0)) throw new Error(`--test must be at least 1 scan, got ${testN}`);
  const preciseBn = flag('precise-bn', 'off');
  if (preciseBn !== 'on' && preciseBn !== 'off') throw new Error(`--precise-bn must be on or off, got ${preciseBn}`);
  const keepDir = flag('keep', undefined);
  const backend = await initBackend({ prefer: 'wasm' });
  const started = Date.now();
  console.log(
    `pnpm bench:cmc: ${trainN} training + ${valN} validation + ${testN} test phantom scans at ${grid.join('x')}, resnest-tiny-3d, ` +
      `${epochs} epochs, batch ${batchSize}, lr ${lr}, ${workers} gradient workers, seed ${seed}, CE ${ce}, precise BN ${preciseBn}`,
  );
  const needsMasks = variants.some((v) => CMC_VARIANT_SPECS[v].mask !== undefined);
  const segEpochs = flag('seg-epochs', undefined)?.split(',').map(Number);
  const stage1From = flag('stage1-from', undefined);
  const stage1 =
    maskSource !== 'stage1' || !needsMasks
      ? undefined
      : stage1From !== undefined
        ? await openStage1(stage1From)
        : await trainStage1({
            seed,
            log: (line) => console.log(line),
            ...(segEpochs === undefined ? {} : { epochs: { lung: segEpochs[0], lesion: segEpochs[1] ?? segEpochs[0] } }),
            ...(keepDir === undefined ? {} : { keep: join(keepDir, 'stage1') }),
          });
  let cohort;
  try {
    cohort = await makeCohort({ train: trainN, val: valN, test: testN, seed, grid, stage1 });
  } finally {
    await stage1?.close();
  }
  const maskLine =
    stage1 === undefined
      ? "Masks of the lung- and infection-aware rows: the phantom's exact masks resampled to the grid (nearest), not stage 1 predictions."
      : `Masks of the lung- and infection-aware rows: ${stage1.describe}; each scan segmented in HU (segmentVolume, onnxruntime), the masks resampled to the grid (nearest). ` +
        `Against the phantom's exact masks over the whole cohort (pooled): lung IoU ${(100 * cohort.stage1Iou.lung).toFixed(1)} %, infection IoU ${(100 * cohort.stage1Iou.infection).toFixed(1)} %.`;
  console.log(`  ${maskLine}`);
  const counts = (list, key) => [0, 1, 2, 3].map((c) => list.filter((e) => e[key] === c).length);
  const flipped = (list) => list.filter((e) => e.published !== e.exact).length;
  const describe = (name, list) =>
    `${name} ${list.length} (published ${counts(list, 'published').join('/')}, exact ${counts(list, 'exact').join('/')}, ${flipped(list)} noisy)`;
  const cohortLine = `cohort (Mild/Moderate/Severe/Critical): ${describe('train', cohort.train)}, ${describe('val', cohort.val)}, ${describe('test', cohort.test)}`;
  console.log(`  ${cohortLine}`);

  const jobs = variants.map((variant) => ({ variant, ceReduction: ce === 'weighted-mean' ? 'weighted-mean' : 'mean' }));
  if (ce === 'both' && variants.includes('cmc')) jobs.push({ variant: 'cmc', ceReduction: 'weighted-mean' });
  const stepsPerEpoch = Math.floor(cohort.train.length / batchSize);
  // Volumes through the backbone per step: 2N for resnest, 4N (the views and two mixed batches) for the others.
  const passes = (v) => (v === 'resnest' ? 1 : 2);
  // ETA: measured seconds per unit of backbone work so far, times the work left.
  const plannedWork = jobs.reduce((s, j) => s + passes(j.variant) * stepsPerEpoch * epochs, 0);
  let doneWork = 0;
  let trainSeconds = 0;
  const testExact = cohort.test.map((e) => e.exact);
  const testPublished = cohort.test.map((e) => e.published);
  // The ceiling: a grader that knows each scan's exact involvement, scored against the noisy labels.
  const rows = [
    { id: '-', label: 'exact grade (ceiling under label noise)', masks: '-', published: score(testPublished, testExact, seed) },
  ];
  // The involvement baseline (beyond the paper): Table 1's thresholds on infected / lung voxels of stage 1's masks.
  if (stage1 !== undefined) {
    const noLung = cohort.test.filter((e) => Number.isNaN(e.estimatedInvolvement)).length;
    const pred = cohort.test.map(
      (e) => involvementPrediction(e.name, Number.isNaN(e.estimatedInvolvement) ? 0 : e.estimatedInvolvement).category - 1,
    );
    rows.push({
      id: '-',
      label: `involvement baseline (Table 1 thresholds${noLung > 0 ? `; ${noLung} scans without a lung graded Mild` : ''})`,
      masks: 'lung + infection (stage 1)',
      published: score(testPublished, pred, seed),
      exact: score(testExact, pred, seed),
    });
  }
  let cams;
  const outDir = fileURLToPath(new URL('../out/', import.meta.url));
  // The tables so far (written after every variant, so a run cut short keeps what it measured).
  async function writeTable() {
    const date = new Date().toISOString().slice(0, 10);
    const header =
      `# pnpm bench:cmc (${date})\n\n` +
      `${trainN} training + ${valN} validation + ${testN} test phantom scans (seed ${seed}) at ${grid.join('x')}, resnest-tiny-3d from random weights, ` +
      `${epochs} epochs, batch ${batchSize}, lr ${lr} (step schedule, x0.1 at 30 % and 80 % of the epochs), ${workers} gradient workers, ${backend?.name ?? 'wasm'}, ` +
      `batch-norm statistics ${preciseBn === 'on' ? 'recomputed over the training scans after each epoch (preciseBatchNorm)' : "training's running averages (preciseBatchNorm off)"}. ` +
      'Labels: the published ones (a scan within 8 points of involvement of a class border carries the neighbouring grade with probability 0.5). ' +
      `${maskLine} ` +
      'Best checkpoint by validation Macro F1 (published labels); the table scores the held-out test split, predicted with TTA (3 passes) on onnxruntime. ' +
      `Macro F1 with percentile bootstrap 95 % CI over the test scans (2000 resamples). Total wall time ${fmtTime((Date.now() - started) / 1000)}.\n\n${cohortLine}`;
    const parts = [
      header,
      table(rows, 'published', '## Test split, against the published (noisy) labels'),
      table(rows, 'exact', '## Test split, against the exact grades'),
    ];
    const inf = rows.find((r) => r.variant === 'infection-cmc' && r.ceReduction === 'mean');
    const plain = rows.find((r) => r.variant === 'cmc' && r.ceReduction === 'mean');
    if (inf !== undefined && plain !== undefined) {
      const lines = ['## Infection-aware CMC against CMC (goal: ahead by more than the interval half-width)', ''];
      for (const key of ['published', 'exact']) {
        const d = inf[key].macroF1 - plain[key].macroF1;
        const half = (inf[key].high - inf[key].low) / 2;
        lines.push(
          `- ${key}: ${d >= 0 ? '+' : ''}${pct(d)} points; half-width of the infection-aware interval ${pct(half)} points: ${d > half ? 'ahead' : 'not ahead'} by that measure`,
        );
      }
      parts.push(lines.join('\n'));
    }
    if (cams !== undefined) parts.push(camSection(cams));
    const md = parts.join('\n\n');
    await writeFile(new URL('../out/cmc.md', import.meta.url), `${md}\n`);
    return md;
  }
  for (const [j, job] of jobs.entries()) {
    const { variant, ceReduction } = job;
    const spec = CMC_VARIANT_SPECS[variant];
    const label = `${variant}${ce === 'both' || ceReduction !== 'mean' ? ` (CE ${ceReduction})` : ''}`;
    const runDir = await mkdtemp(join(tmpdir(), `covsev-bench-cmc-${variant}-`));
    const t0 = Date.now();
    let lastEpoch;
    const epochsSeen = [];
    try {
      await trainCmc({
        runDir,
        train: asCmcScans(cohort.train, variant),
        val: asCmcScans(cohort.val, variant),
        network: { backbone: 'resnest-tiny-3d' },
        variant,
        ceReduction,
        epochs,
        batchSize,
        seed,
        lr,
        workers,
        preciseBatchNorm: preciseBn === 'on',
        control: false,
        // Tiny smoke cohorts (--train 8) may lack a class; at the default size every class has scans.
        emptyClasses: 'weight-one',
        onEvent: (e) => {
          if (e.type === 'step') doneWork += passes(variant);
          if (e.type === 'epoch') {
            lastEpoch = e;
            epochsSeen.push(e);
            const s = (Date.now() - t0) / 1000;
            const rate = (trainSeconds + s) / Math.max(doneWork, 1);
            const loss = e.metrics?.loss;
            console.log(
              `  [${j + 1}/${jobs.length}] ${label} epoch ${e.epoch + 1}/${epochs}: ` +
                `${loss === undefined ? '' : `loss ${Number(loss).toFixed(3)}, `}val Macro F1 ${pct(e.metrics.valMacroF1)} %, ` +
                `${fmtTime(s)} so far; ETA ${fmtTime(rate * (plannedWork - doneWork) + 30 * (jobs.length - j))}`,
            );
          }
        },
      });
      const trainS = (Date.now() - t0) / 1000;
      trainSeconds += trainS;
      // The best epoch's weights (checkpoints/best/), into a fresh network of the same shape.
      const checkpoint = await loadCheckpoint(join(checkpointsDir(runDir), BEST_DIR));
      const model = cmcFromCheckpoint(checkpoint, spec.inChannels);
      const probs = await predictCmcTta(model, asCmcScans(cohort.test, variant), { inChannels: spec.inChannels });
      const pred = probs.map((p) => p.indexOf(Math.max(...p)));
      await releaseCmcOnnxSessions(model);
      if (variant === 'infection-cmc' && ceReduction === 'mean')
        cams = await writeCams(model, cohort.test, spec.inChannels, outDir);
      const wallS = (Date.now() - t0) / 1000;
      // A checkpoint's epoch counts the epochs done; an epoch event's is 0-based.
      const best = epochsSeen.find((e) => e.epoch + 1 === checkpoint.epoch);
      const row = {
        id: { resnest: 2, mixup: 3, cmc: 4, 'lung-cmc': 5, 'infection-cmc': 6 }[variant],
        label,
        masks: spec.mask === undefined ? '-' : `${spec.mask} (${stage1 === undefined ? 'exact' : 'stage 1'})`,
        variant,
        ceReduction,
        bestEpoch: checkpoint.epoch,
        bestValMacroF1: best?.metrics.valMacroF1 ?? Number.NaN,
        wallS,
        trainS,
        published: score(testPublished, pred, seed),
        exact: score(testExact, pred, seed),
        epochs: epochsSeen.map((e) => ({
          epoch: e.epoch,
          loss: e.metrics.loss,
          valMacroF1: e.metrics.valMacroF1,
          valLoss: e.metrics.valLoss,
        })),
      };
      rows.push(row);
      await writeTable();
      console.log(
        `  [${j + 1}/${jobs.length}] ${label}: best epoch ${row.bestEpoch}, test Macro F1 (TTA) ${pct(row.published.macroF1)} % (published), ` +
          `${pct(row.exact.macroF1)} % (exact), ${fmtTime(wallS)}${lastEpoch ? '' : ' (no epoch event)'}`,
      );
    } finally {
      if (keepDir === undefined) await rm(runDir, { recursive: true, force: true });
      else {
        await cp(runDir, join(keepDir, label.replace(/[^a-z0-9-]+/gi, '-')), { recursive: true });
        await rm(runDir, { recursive: true, force: true });
      }
    }
  }
  const md = await writeTable();
  console.log(`\n${md}\n\n(table in bench/out/cmc.md)`);
  return {
    date: new Date().toISOString().slice(0, 10),
    masks: maskLine,
    trainN,
    valN,
    testN,
    epochs,
    seed,
    lr,
    batchSize,
    workers,
    grid,
    cohort: cohortLine,
    rows,
    cams,
  };
}
