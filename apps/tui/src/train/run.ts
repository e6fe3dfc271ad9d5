/**
 * What the training child does with its request (`child.ts` is only the IPC around it): writes a
 * phantom cohort first when asked (`@covsev/phantom`, the layout the model reads), then runs
 *
 * - `train cmc`: the classifier's pipeline (`@covsev/pipeline`'s `classifyCohort`, config checked
 *   by `parseClassifierRun`), events in `<run>/events.jsonl` and `<run>/runs/cmc/`;
 * - `train seg`: one stage-1 model (`@covsev/segment`'s `trainSegmentation`, lung or lesion) on a
 *   COVID-19-CT-Seg folder, events in `<run>/events.jsonl`, the card in `<run>/model.json`.
 *
 * Both trainers obey the run folder's control channel (`control.jsonl`: stop, checkpoint).
 * Progress the logs do not carry goes to `send` as notes.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatBackendInfo, initBackend } from '@covsev/engine';
import { type Layout, TRUTH_FILE, type TruthManifest, writeCohort } from '@covsev/phantom';
import { classifyCohort, parseClassifierRun } from '@covsev/pipeline';
import { describeSegmentationModel, trainSegmentation } from '@covsev/segment';
import type { ChildMessage, ClassifierTrainRequest, SegmentationTrainRequest, TrainRequest } from './protocol.js';

export type Send = (message: ChildMessage) => void;

/** Slices per phantom scan for `train seg --phantom` (few: a CPU-sized cohort). */
export const SEG_PHANTOM_SLICES: readonly [number, number] = [8, 12];

interface PhantomSpec {
  readonly layout: Layout;
  readonly out: string;
  readonly scans: number;
  readonly seed: number;
  readonly slices: readonly [number, number];
  readonly size: number;
}

/** Writes the phantom cohort, or reuses one already there with the same layout, seed, scans and slice size. */
async function phantomCohort(spec: PhantomSpec, send: Send): Promise<void> {
  const { out, scans, seed, size } = spec;
  try {
    const truth = JSON.parse(await readFile(join(out, TRUTH_FILE), 'utf8')) as TruthManifest;
    if (
      truth.layout === spec.layout &&
      truth.seed === seed &&
      truth.scans.length === scans &&
      truth.scans.every((s) => s.rows === size && s.cols === size)
    ) {
      send({ type: 'note', note: `phantom cohort: ${scans} scans already in ${out}, reused` });
      return;
    }
  } catch {
    // none yet
  }
  await writeCohort({
    layout: spec.layout,
    out,
    scans,
    seed,
    slices: spec.slices,
    rows: size,
    cols: size,
    onProgress: (p) => send({ type: 'note', note: `phantom cohort: scan ${p.done}/${p.total} written to ${out}` }),
  });
}

async function runClassifier(request: ClassifierTrainRequest, send: Send): Promise<void> {
  const config = parseClassifierRun(request.config, 'the command line');
  if (request.phantom !== undefined)
    await phantomCohort(
      {
        layout: 'cov19-ct-db',
        out: config.cohort,
        scans: request.phantom,
        seed: config.training.seed,
        slices: [24, 40],
        size: 128,
      },
      send,
    );
  send({ type: 'started' });
  const result = await classifyCohort(config);
  send({
    type: 'note',
    note: result.stopped
      ? 'stopped with a checkpoint: the same command resumes it'
      : `done: val Macro F1 ${result.valMacroF1.toFixed(3)}`,
  });
}

/** The phantom's slice size for a model input of `size`: the input itself, at least 32 pixels. */
export function segPhantomSize(size: number): number {
  return Math.max(32, size);
}

async function runSegmentation(request: SegmentationTrainRequest, send: Send): Promise<void> {
  const c = request.seg;
  if (request.phantom !== undefined)
    await phantomCohort(
      {
        layout: 'ct-seg',
        out: c.cohort,
        scans: request.phantom,
        seed: c.seed,
        slices: SEG_PHANTOM_SLICES,
        size: segPhantomSize(c.size),
      },
      send,
    );
  const backend = await initBackend({ log: () => {} });
  send({ type: 'note', note: formatBackendInfo(backend) });
  send({ type: 'started' });
  const result = await trainSegmentation({
    runDir: c.run,
    cohortDir: c.cohort,
    task: c.task,
    model: { arch: c.arch, encoder: c.encoder, width: c.width },
    input: [c.size, c.size],
    epochs: c.epochs,
    batchSize: c.batch,
    lr: c.lr,
    seed: c.seed,
    onWarning: (message) => send({ type: 'note', note: `warning: ${message}` }),
  });
  const model = describeSegmentationModel(result.card);
  const best =
    result.best === undefined
      ? 'no validation scans'
      : `best val IoU ${result.best.value.toFixed(3)} (epoch ${result.best.epoch + 1})`;
  send({
    type: 'note',
    note: result.stopped
      ? `stopped with a checkpoint (${model}): the same command resumes it`
      : `done: ${model}, ${best}; pnpm seg -- predict --${c.task} ${c.run} uses it`,
  });
}

/** Runs the request to its end (a stop through the control channel ends it early, with a checkpoint). */
export async function runTrainRequest(request: TrainRequest, send: Send): Promise<void> {
  if (request.model === 'seg') await runSegmentation(request, send);
  else await runClassifier(request, send);
}
