// Stage 1 for `pnpm bench:cmc --masks stage1`: a lung model and a lesion model trained on their own
// phantom COVID-19-CT-Seg cohort (other scans than the classifier's cohort), with the settings
// `pnpm bench:seg` measures (SEG_COHORT_SETTINGS in bench/seg/cohort-settings.mjs: U-Net++ / ResNet-34 at width 1/8, input
// 128 x 128, batch 8, SGD lr 0.1, Dice, 14 lung and 10 lesion epochs, best epoch by validation
// IoU), opened on onnxruntime for segmentVolume.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeCohort } from '../../packages/phantom/dist/index.js';
import { openSegmenter, trainSegmentation } from '../../packages/segment/dist/index.js';
import { SEG_COHORT_SETTINGS } from '../seg/cohort-settings.mjs';

/**
 * Trains both models (seed `seed`, in a temp folder; `epochs` { lung, lesion } overrides the
 * defaults, for a smoke run) and returns their segmenters, a line saying
 * which models they are, and `close()` (frees the sessions and deletes the folder; with `keep`,
 * copies the lung/ and lesion/ run folders there first, for `--stage1-from`).
 */
export async function trainStage1({ seed, log, epochs, keep }) {
  const s = { ...SEG_COHORT_SETTINGS, ...(epochs === undefined ? {} : { epochs }) };
  const dir = await mkdtemp(join(tmpdir(), 'covsev-bench-cmc-stage1-'));
  const t0 = Date.now();
  try {
    const cohortDir = join(dir, 'ctseg');
    // Another seed than the classifier's cohort: stage 1 never sees the scans it will segment.
    await writeCohort({
      layout: 'ct-seg',
      out: cohortDir,
      scans: s.scans,
      seed: seed + 1000,
      rows: s.size,
      cols: s.size,
      slices: s.slices,
    });
    const best = {};
    for (const task of ['lung', 'lesion']) {
      const epochs = s.epochs[task];
      const result = await trainSegmentation({
        cohortDir,
        runDir: join(dir, task),
        task,
        model: s.model,
        input: s.input,
        batchSize: s.batchSize,
        lr: s.lr,
        valScans: s.valScans,
        seed,
        epochs,
        control: false,
        onEvent: (e) => {
          if (e.type === 'epoch')
            log(
              `  stage 1 ${task} epoch ${e.epoch + 1}/${epochs}: loss ${e.metrics.loss?.toFixed(4)}, val IoU ${e.metrics.valIoU?.toFixed(4)}`,
            );
        },
      });
      best[task] = result.best;
    }
    const lung = await openSegmenter(join(dir, 'lung'));
    const lesion = await openSegmenter(join(dir, 'lesion'));
    const iou = (b) => (b?.value === undefined ? '-' : (100 * b.value).toFixed(1));
    const describe =
      `stage 1: ${s.model.arch} / ${s.model.encoder} width 1/${1 / s.model.width}, lung and lesion models trained on a phantom ` +
      `COVID-19-CT-Seg cohort of ${s.scans} other scans (${s.scans - s.valScans} train, input ${s.input.join('x')}, SGD lr ${s.lr}, ` +
      `${s.epochs.lung} / ${s.epochs.lesion} epochs; best validation IoU lung ${iou(best.lung)} %, lesion ${iou(best.lesion)} %), ` +
      `${Math.round((Date.now() - t0) / 1000)} s`;
    return {
      lung,
      lesion,
      describe,
      seconds: (Date.now() - t0) / 1000,
      close: async () => {
        await lung.dispose();
        await lesion.dispose();
        if (keep !== undefined)
          for (const task of ['lung', 'lesion']) await cp(join(dir, task), join(keep, task), { recursive: true });
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Stage 1's models from `dir` (its lung/ and lesion/ run folders, as `keep` leaves them), not trained again. */
export async function openStage1(dir) {
  const lung = await openSegmenter(join(dir, 'lung'));
  const lesion = await openSegmenter(join(dir, 'lesion'));
  return {
    lung,
    lesion,
    describe: `stage 1: the lung and lesion models in ${dir} (trained by an earlier run, not in this one)`,
    seconds: 0,
    close: async () => {
      await lung.dispose();
      await lesion.dispose();
    },
  };
}
