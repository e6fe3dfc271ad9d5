// The classifier benchmark (`pnpm bench:cmc`): does the CMC classifier learn, and do the variants of
// Table 3 rank as in the paper? One phantom cohort in the COV19-CT-DB sense (windowed CT on the
// classifier grid, the published noisy labels, the exact grades, the exact lung and infection
// masks resampled to the same grid), the five variants trained with the same seed, epochs, lr and
// workers, each predicted on the validation split with TTA (predictCmcTta, onnxruntime) from its
// best checkpoint (checkpoints/best/, the epoch with the best validation Macro F1 on the published
// labels). The table (Table 3's layout: variant, Macro F1 with bootstrap 95 % CI, per-class F1,
// wall time) is printed against the published labels and against the exact grades, and written
// to bench/out/cmc.md.
//
// Flags: --train N --val M (scans; default 48, 24), --epochs E (default 15; the size whose five variants fit in
// about 30 minutes on 2 cores, measured 2026-12-01), --variants a,b,c
// (default all five), --ce mean|weighted-mean|both (the weighted CE's reduction; both: the `cmc`
// variant is trained once more with the other setting), --seed S (default 1), --grid DxHxW
// (default 16x64x64), --workers W (default 2), --lr (default 1e-3), --batch (default 4).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CMC_VARIANT_SPECS, CmcNetwork, predictCmcTta, releaseCmcOnnxSessions, trainCmc } from '../../packages/cmc/dist/index.js';
import { BEST_DIR, checkpointsDir, initBackend, loadCheckpoint, restoreCheckpoint } from '../../packages/engine/dist/index.js';
import { bootstrapMacroF1, classificationReport, confusionMatrix } from '../../packages/eval/dist/index.js';
import { applyHuWindow, HU_WINDOWS, makeVolume, Rng, resampleVolume, SEVERITY_CLASSES } from '../../packages/io/dist/index.js';
import { generateScan, planCohort } from '../../packages/phantom/dist/index.js';

const ALL = ['resnest', 'mixup', 'cmc', 'lung-cmc', 'infection-cmc'];

function flag(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

const fmtTime = (s) =>
  s >= 3600 ? `${(s / 3600).toFixed(1)} h` : s >= 60 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${s.toFixed(0)} s`;

/** The phantom cohort on the classifier grid: CT (windowed as COV19-CT-DB, resampled), masks (nearest), labels. */
function makeCohort({ train, val, seed, grid }) {
  const total = train + val;
  const plan = planCohort({
    scans: total,
    seed,
    slices: [2 * grid[0], 3 * grid[0]],
    rows: 2 * grid[1],
    cols: 2 * grid[2],
    splits: [train, val, 0],
    // As pnpm demo: a scan within 8 points of a class border gets the neighbouring grade with p 0.5.
    labelNoise: 0.5,
    labelNoiseMargin: 0.08,
  });
  const out = { train: [], val: [] };
  const t0 = Date.now();
  plan.forEach((p, k) => {
    const scan = generateScan(p.spec, p.seed);
    const image = resampleVolume(applyHuWindow(scan.ct, HU_WINDOWS.cov19ctdb), grid, { mode: 'linear', output: 'same' });
    const binary = (m) => {
      const r = resampleVolume(m, grid, { mode: 'nearest' });
      return makeVolume({ data: Uint8Array.from(r.data, (v) => (v > 0 ? 1 : 0)), shape: grid, intensity: 'label' });
    };
    const entry = {
      name: p.name,
      image: makeVolume({ data: Uint8Array.from(image.data), shape: grid, intensity: 'uint8-windowed' }),
      lung: binary(scan.lungMask),
      infection: binary(scan.infectionMask),
      published: scan.label - 1,
      exact: scan.category - 1,
    };
    (p.split === 'val' ? out.val : out.train).push(entry);
    if ((k + 1) % 16 === 0 || k + 1 === total) {
      const s = (Date.now() - t0) / 1000;
      console.log(`  phantom: ${k + 1}/${total} scans (${fmtTime(s)}, ETA ${fmtTime((s / (k + 1)) * (total - k - 1))})`);
    }
  });
  return out;
}

/** The scans a variant trains on: published labels, and its mask where it takes one. */
function asCmcScans(entries, variant) {
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
    `| ID  | variant | Macro F1 (%) [95 % CI] | ${SEVERITY_CLASSES.map((c) => `F1 ${c}`).join(' | ')} | best epoch | wall time |`,
    `| --- | ------- | ---------------------- | ${SEVERITY_CLASSES.map(() => '---').join(' | ')} | --- | --- |`,
  ];
  for (const r of rows) {
    const s = r[key];
    lines.push(
      `| ${r.id} | ${r.label} | ${pct(s.macroF1)} [${pct(s.low)}, ${pct(s.high)}] | ${s.perClassF1.map(pct).join(' | ')} | ${r.bestEpoch} | ${fmtTime(r.wallS)} |`,
    );
  }
  return lines.join('\n');
}

export async function run() {
  const trainN = Number(flag('train', '48'));
  const valN = Number(flag('val', '24'));
  const epochs = Number(flag('epochs', '15'));
  const seed = Number(flag('seed', '1'));
  const workers = Number(flag('workers', '2'));
  const lr = Number(flag('lr', '1e-3'));
  const batchSize = Number(flag('batch', '4'));
  const grid = flag('grid', '16x64x64').split('x').map(Number);
  const variants = flag('variants', ALL.join(',')).split(',');
  const ce = flag('ce', 'mean');
  for (const v of variants) if (!ALL.includes(v)) throw new Error(`unknown variant ${v} (${ALL.join(', ')})`);
  const backend = await initBackend({ prefer: 'wasm' });
  const started = Date.now();
  console.log(
    `pnpm bench:cmc: ${trainN} training + ${valN} validation phantom scans at ${grid.join('x')}, resnest-tiny-3d, ` +
      `${epochs} epochs, batch ${batchSize}, lr ${lr}, ${workers} gradient workers, seed ${seed}, CE ${ce}`,
  );
  const cohort = makeCohort({ train: trainN, val: valN, seed, grid });
  const counts = (list, key) => [0, 1, 2, 3].map((c) => list.filter((e) => e[key] === c).length);
  const flipped = (list) => list.filter((e) => e.published !== e.exact).length;
  const cohortLine =
    `cohort: train ${cohort.train.length} (published ${counts(cohort.train, 'published').join('/')}, ${flipped(cohort.train)} noisy), ` +
    `val ${cohort.val.length} (published ${counts(cohort.val, 'published').join('/')}, exact ${counts(cohort.val, 'exact').join('/')}, ${flipped(cohort.val)} noisy)`;
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
  const rows = [];
  // The tables so far (written after every variant, so a run cut short keeps what it measured).
  async function writeTable() {
    const date = new Date().toISOString().slice(0, 10);
    const header =
      `# pnpm bench:cmc (${date})\n\n` +
      `${trainN} training + ${valN} validation phantom scans (seed ${seed}) at ${grid.join('x')}, resnest-tiny-3d from random weights, ` +
      `${epochs} epochs, batch ${batchSize}, lr ${lr} (step schedule), ${workers} gradient workers, ${backend?.name ?? 'wasm'}; ` +
      `prediction: best checkpoint (validation Macro F1 on the published labels), TTA 3 passes on onnxruntime. ` +
      `Macro F1 with percentile bootstrap 95 % CI (2000 resamples). Total wall time ${fmtTime((Date.now() - started) / 1000)}.\n\n${cohortLine}`;
    const md = [
      header,
      table(rows, 'published', '## Validation, against the published (noisy) labels'),
      table(rows, 'exact', '## Validation, against the exact grades'),
    ].join('\n\n');
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
                `${fmtTime(s)} so far; ETA ${fmtTime(rate * (plannedWork - doneWork) + 20 * (jobs.length - j))}`,
            );
          }
        },
      });
      const trainS = (Date.now() - t0) / 1000;
      trainSeconds += trainS;
      // The best epoch's weights (checkpoints/best/), into a fresh network of the same shape.
      const checkpoint = await loadCheckpoint(join(checkpointsDir(runDir), BEST_DIR));
      const model = new CmcNetwork({ backbone: 'resnest-tiny-3d', inChannels: spec.inChannels }, Rng.fromSeed(0));
      const variables = new Map(model.parameters().map(({ name, variable }) => [name, variable]));
      for (const { name, variable } of model.buffers()) variables.set(name, variable);
      restoreCheckpoint(checkpoint, { variables });
      const valScans = asCmcScans(cohort.val, variant);
      const probs = await predictCmcTta(model, valScans, { inChannels: spec.inChannels });
      const pred = probs.map((p) => p.indexOf(Math.max(...p)));
      await releaseCmcOnnxSessions(model);
      const wallS = (Date.now() - t0) / 1000;
      const row = {
        id: { resnest: 2, mixup: 3, cmc: 4, 'lung-cmc': 5, 'infection-cmc': 6 }[variant],
        label,
        variant,
        ceReduction,
        bestEpoch: checkpoint.epoch,
        wallS,
        trainS,
        published: score(
          cohort.val.map((e) => e.published),
          pred,
          seed,
        ),
        exact: score(
          cohort.val.map((e) => e.exact),
          pred,
          seed,
        ),
        epochs: epochsSeen.map((e) => ({ epoch: e.epoch, valMacroF1: e.metrics.valMacroF1, valLoss: e.metrics.valLoss })),
      };
      rows.push(row);
      await writeTable();
      console.log(
        `  [${j + 1}/${jobs.length}] ${label}: best epoch ${row.bestEpoch}, TTA Macro F1 ${pct(row.published.macroF1)} % (published), ` +
          `${pct(row.exact.macroF1)} % (exact), ${fmtTime(wallS)}${lastEpoch ? '' : ' (no epoch event)'}`,
      );
    } finally {
      await rm(runDir, { recursive: true, force: true });
    }
  }
  const md = await writeTable();
  console.log(`\n${md}\n\n(table in bench/out/cmc.md)`);
  return {
    date: new Date().toISOString().slice(0, 10),
    trainN,
    valN,
    epochs,
    seed,
    lr,
    batchSize,
    workers,
    grid,
    cohort: cohortLine,
    rows,
  };
}
