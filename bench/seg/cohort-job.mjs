// Does stage 1 learn? (`pnpm bench:seg`, part 3.) One phantom cohort in the COVID-19-CT-Seg
// layout (HU volumes with exact lung and infection masks, `writeCohort` of @covsev/phantom), a
// CPU-sized lung model and lesion model trained with trainSegmentation on the same seeded split
// by scan, and Table 2 on the held-out scans (evaluateOnCohort): the lung model on raw slices,
// the lesion model on slices masked by the true lung (the paper's setting) and by the lung
// model's prediction (the pipeline's). Intervals: percentile bootstrap over held-out scans
// (2000 resamples, seeded) of the pooled IoU.
// Flags: --scans N (default 20), --val M (held-out scans, default 5), --size S (phantom slices
// S x S, default 128), --input N (model input N x N, default 128), --slices A:B (per scan,
// default 24:32), --arch, --encoder (default unetplusplus / resnet34), --width W (default 0.125),
// --epochs E (lung, default 14), --lesion-epochs E (default 10), --batch B (default 8),
// --lr X (default 0.1; the defaults are SEG_COHORT_SETTINGS in cohort-settings.mjs), --slices-per-epoch N (default all), --seed S (default 1), --tasks lung,lesion
// (default both).
// Prints progress to stderr and one JSON line (with the table's lines) to stdout.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../packages/engine/dist/index.js';
import { Rng } from '../../packages/io/dist/index.js';
import { writeCohort } from '../../packages/phantom/dist/index.js';
import { evaluateOnCohort, formatTable2, trainSegmentation } from '../../packages/segment/dist/index.js';
import { SEG_COHORT_SETTINGS } from './cohort-settings.mjs';

function flag(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}
const d = SEG_COHORT_SETTINGS;
const scans = Number(flag('scans', String(d.scans)));
const val = Number(flag('val', String(d.valScans)));
const size = Number(flag('size', String(d.size)));
const input = Number(flag('input', String(d.input[0])));
const [sMin, sMax] = flag('slices', d.slices.join(':')).split(':').map(Number);
const arch = flag('arch', d.model.arch);
const encoder = flag('encoder', d.model.encoder);
const width = Number(flag('width', String(d.model.width)));
const lungEpochs = Number(flag('epochs', String(d.epochs.lung)));
const lesionEpochs = Number(flag('lesion-epochs', String(d.epochs.lesion)));
const batchSize = Number(flag('batch', String(d.batchSize)));
const lr = Number(flag('lr', String(d.lr)));
const slicesPerEpoch = flag('slices-per-epoch', undefined);
const seed = Number(flag('seed', '1'));
const tasks = flag('tasks', 'lung,lesion').split(',');
const log = (line) => process.stderr.write(`${line}\n`);
const fmtTime = (s) => (s >= 60 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${s.toFixed(0)} s`);

/** Percentile bootstrap over scans of the pooled IoU (intersections and unions summed). */
function bootstrapIou(perScan, draws = 2000) {
  const rng = Rng.fromSeed(12345);
  const values = [];
  for (let d = 0; d < draws; d++) {
    let inter = 0;
    let union = 0;
    for (let i = 0; i < perScan.length; i++) {
      const m = perScan[rng.int(0, perScan.length - 1)].metrics;
      inter += m.intersection;
      union += m.union;
    }
    values.push(union === 0 ? 1 : inter / union);
  }
  values.sort((a, b) => a - b);
  return [values[Math.floor(0.025 * draws)], values[Math.floor(0.975 * draws) - 1]];
}

await initBackend({ log: () => {} });
const dir = await mkdtemp(join(tmpdir(), 'covsev-bench-seg-'));
try {
  const cohortDir = join(dir, 'ctseg');
  log(`  phantom cohort: ${scans} scans of ${size}x${size}, ${sMin}-${sMax} slices (seed ${seed})`);
  await writeCohort({ layout: 'ct-seg', out: cohortDir, scans, seed, rows: size, cols: size, slices: [sMin, sMax] });
  const common = {
    cohortDir,
    model: { arch, encoder, width },
    input: [input, input],
    batchSize,
    lr,
    valScans: val,
    seed,
    ...(slicesPerEpoch === undefined ? {} : { slicesPerEpoch: Number(slicesPerEpoch) }),
  };
  const runs = {};
  const times = {};
  for (const [task, epochs] of [
    ['lung', lungEpochs],
    ['lesion', lesionEpochs],
  ].filter(([task]) => tasks.includes(task))) {
    const runDir = join(dir, `${task}-run`);
    const t0 = performance.now();
    const result = await trainSegmentation({
      ...common,
      runDir,
      task,
      epochs,
      control: false,
      onEvent: (e) => {
        if (e.type === 'epoch')
          log(
            `  ${task} epoch ${e.epoch + 1}/${epochs}: loss ${e.metrics.loss?.toFixed(4)}, val IoU ${e.metrics.valIoU?.toFixed(4)} (${fmtTime((performance.now() - t0) / 1000)})`,
          );
      },
    });
    times[task] = (performance.now() - t0) / 1000;
    runs[task] = { runDir, split: result.split, best: result.best };
  }
  const evaluation = await evaluateOnCohort({
    cohortDir,
    ...(runs.lung ? { lungRunDir: runs.lung.runDir } : {}),
    ...(runs.lesion ? { lesionRunDir: runs.lesion.runDir } : {}),
  });
  const ci = (e) => (e === undefined ? undefined : bootstrapIou(e.perScan));
  const pct = (x) => (100 * x).toFixed(1);
  const intervals = { lung: ci(evaluation.lung), lesion: ci(evaluation.lesion), lesionPipeline: ci(evaluation.lesionPipeline) };
  const describe = (what, e, interval) =>
    e === undefined
      ? []
      : [`| ${what} | ${pct(e.overall.iou)} [${pct(interval[0])}, ${pct(interval[1])}] | ${pct(e.overall.miou)} |`];
  const lines = [
    `Phantom COVID-19-CT-Seg cohort: ${scans} scans (${size}x${size}, ${sMin}-${sMax} slices), ${scans - val} train / ${val} held out (${evaluation.scans.join(', ')}); ${arch} / ${encoder} width ${width}, input ${input}x${input}, batch ${batchSize}, SGD lr ${lr} (momentum 0.9, x0.1 at 30 % and 80 %), Dice loss; the best epoch by validation IoU.`,
    '',
    formatTable2(evaluation.rows),
    '',
    '| held-out scans | IoU % [95 % CI over scans] | mIoU % |',
    '|---|---|---|',
    ...describe('lung (lung model, raw slices)', evaluation.lung, intervals.lung),
    ...describe('infection (lesion model, true-lung-masked slices: Table 2)', evaluation.lesion, intervals.lesion),
    ...describe(
      'infection (lesion model on the predicted lung: the pipeline)',
      evaluation.lesionPipeline,
      intervals.lesionPipeline,
    ),
    '',
    `Training time on this machine: ${Object.entries(runs)
      .map(
        ([task, r]) =>
          `${task} ${fmtTime(times[task])} (${task === 'lung' ? lungEpochs : lesionEpochs} epochs, best ${r.best ? r.best.epoch + 1 : '-'})`,
      )
      .join(
        ', ',
      )}, together ${fmtTime(Object.values(times).reduce((a, b) => a + b, 0))}. Goal: lung IoU >= 97, infection IoU >= 65 in under 20 min.`,
  ];
  console.log(
    JSON.stringify({
      lines,
      rows: evaluation.rows,
      scans: evaluation.scans,
      lung: evaluation.lung?.overall,
      lesion: evaluation.lesion?.overall,
      lesionPipeline: evaluation.lesionPipeline?.overall,
      intervals,
      seconds: times,
      config: {
        scans,
        val,
        size,
        input,
        slices: [sMin, sMax],
        arch,
        encoder,
        width,
        lungEpochs,
        lesionEpochs,
        batchSize,
        lr,
        seed,
      },
    }),
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
