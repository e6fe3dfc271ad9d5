/**
 * Classifier inference (docs/method.md, "Inference" and "TTA"): softmax probabilities of scans in
 * eval mode, and the class they pick.
 *
 * - `predictCmc`: the plain pass, un-augmented scans, on tfjs (the trainer's per-epoch validation).
 * - `predictCmcTta`: the method's inference. Each scan is seen `passes` times, each time through a
 *   fresh draw of the training augmentation (augmentation A: crop, rotation, contrast; image and
 *   mask get the same draw), and the softmax outputs are averaged. The un-augmented pass is not
 *   one of them (the paper averages augmented passes only); `passes: 0` is the plain pass. Runs
 *   on onnxruntime by default (the eval-mode graph exported once per model, `onnxSession.ts`),
 *   on tfjs with `engine: 'tfjs'`.
 */
import type { OnnxSessionOptions } from '@covsev/engine';
import { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import type { CmcScan } from '../input/cmcScan.js';
import { scansToInput, scansToNcdhw } from '../input/modelInput.js';
import type { CmcNetwork } from '../models/cmcNetwork.js';
import { applyView, drawView, type View, type ViewJob } from '../train/views.js';
import { cmcOnnxSession } from './onnxSession.js';

/** Softmax probabilities [scans][4] of un-augmented scans, in eval mode, `batch` at a time. */
export function predictCmc(model: CmcNetwork, scans: readonly CmcScan[], inChannels: 1 | 2, batch = 2): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < scans.length; i += batch) out.push(...tfjsProbabilities(model, scans.slice(i, i + batch), inChannels));
  return out;
}

function tfjsProbabilities(model: CmcNetwork, views: readonly View[], inChannels: 1 | 2): number[][] {
  return tf.tidy(() => {
    const x = scansToInput(views, inChannels);
    return tf.softmax(model.apply(x, { training: false }) as tf.Tensor2D).arraySync() as number[][];
  });
}

/** Where the network runs: onnxruntime (the exported eval-mode graph) or tfjs. */
export type CmcEngine = 'onnx' | 'tfjs';

/** The method's inference defaults (docs/method.md, "TTA"): 3 augmented passes, onnxruntime. */
export const CMC_TTA_DEFAULTS = { passes: 3, seed: 0, engine: 'onnx' } as const satisfies {
  passes: number;
  seed: number;
  engine: CmcEngine;
};

export interface CmcPredictOptions {
  /** 1: CT only (CMC); 2: [infection mask, CT] (infection-aware CMC). */
  readonly inChannels: 1 | 2;
  /**
   * Augmented passes per scan, their softmax outputs averaged; 0: the plain un-augmented pass.
   * The plain pass is never one of the n. Default 3.
   */
  readonly passes?: number;
  /** Seed of the augmentation draws (a scan's draws depend on it and on the scan's name only). Default 0. */
  readonly seed?: number;
  /** Default 'onnx'. */
  readonly engine?: CmcEngine;
  /** Network inputs per forward pass (augmented views, or scans when `passes` is 0). Default 2. */
  readonly batch?: number;
  /** onnxruntime session options (threads, execution providers) for `engine: 'onnx'`. */
  readonly onnx?: OnnxSessionOptions;
}

/**
 * The random stream of one scan's TTA draws: a function of `seed` and the scan's name alone, so a
 * scan gets the same views whatever else is predicted with it, in any order and batch size.
 */
export function ttaRng(seed: number, name: string): Rng {
  if (!Number.isInteger(seed)) throw new RangeError(`TTA seed must be an integer, got ${seed}`);
  let h = 0x811c9dc5; // FNV-1a over the name's UTF-16 code units
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return Rng.fromSeed((h ^ Math.imul(seed | 0, 0x9e3779b1)) | 0);
}

/** The `passes` augmentation draws of one scan (`drawView` from `ttaRng(seed, scan.name)`, in order). */
export function drawTtaViews(scan: CmcScan, passes: number, seed: number): ViewJob[] {
  const rng = ttaRng(seed, scan.name);
  return Array.from({ length: passes }, () => drawView(scan, rng));
}

/**
 * Softmax probabilities [scans][4] in eval mode, with test-time augmentation: the average of the
 * softmax outputs of `passes` augmented views of each scan (docs/method.md, "TTA"); see
 * {@link CmcPredictOptions} for the defaults. Reproducible: the draws come from `seed`.
 */
export async function predictCmcTta(
  model: CmcNetwork,
  scans: readonly CmcScan[],
  options: CmcPredictOptions,
): Promise<number[][]> {
  const { inChannels } = options;
  const passes = options.passes ?? CMC_TTA_DEFAULTS.passes;
  const seed = options.seed ?? CMC_TTA_DEFAULTS.seed;
  const engine = options.engine ?? CMC_TTA_DEFAULTS.engine;
  const batch = options.batch ?? 2;
  if (!Number.isInteger(passes) || passes < 0) throw new RangeError(`passes must be an integer >= 0, got ${passes}`);
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batch must be an integer >= 1, got ${batch}`);
  const first = scans[0];
  if (first === undefined) return [];

  // The network inputs, scan by scan: the scan itself, or its drawn views (applied chunk by chunk).
  const source = (scan: CmcScan): CmcScan =>
    inChannels === 1 && scan.mask !== undefined ? { name: scan.name, image: scan.image } : scan;
  const items: { scan: number; input: () => View }[] = [];
  scans.forEach((raw, s) => {
    const scan = source(raw);
    if (passes === 0) items.push({ scan: s, input: () => scan });
    else for (const job of drawTtaViews(scan, passes, seed)) items.push({ scan: s, input: () => applyView(job) });
  });

  let run: (views: readonly View[]) => Promise<number[][]>;
  if (engine === 'onnx') {
    const [d, h, w] = first.image.shape;
    const session = await cmcOnnxSession(model, inChannels, [d, h, w], options.onnx);
    run = async (views) => {
      const { data, dims } = scansToNcdhw(views, inChannels);
      const logits = await session.runSingle(data, dims);
      return softmaxRows(logits.data, logits.dims[1] as number);
    };
  } else if (engine === 'tfjs') {
    run = async (views) => tfjsProbabilities(model, views, inChannels);
  } else {
    throw new RangeError(`engine must be 'onnx' or 'tfjs', got ${String(engine)}`);
  }

  const count = Math.max(passes, 1);
  const sums: number[][] = scans.map(() => []);
  for (let i = 0; i < items.length; i += batch) {
    const chunk = items.slice(i, i + batch);
    const probs = await run(chunk.map((item) => item.input()));
    chunk.forEach((item, j) => {
      const sum = sums[item.scan] as number[];
      (probs[j] as number[]).forEach((p, c) => {
        sum[c] = (sum[c] ?? 0) + p;
      });
    });
  }
  return sums.map((sum) => sum.map((v) => v / count));
}

/** Row-wise softmax of a [rows, classes] array (float64, max subtracted). */
function softmaxRows(logits: Float32Array, classes: number): number[][] {
  const rows: number[][] = [];
  for (let r = 0; r * classes < logits.length; r++) {
    const row = Array.from(logits.subarray(r * classes, (r + 1) * classes));
    const max = Math.max(...row);
    const e = row.map((v) => Math.exp(v - max));
    const z = e.reduce((a, b) => a + b, 0);
    rows.push(e.map((v) => v / z));
  }
  return rows;
}

/** The index of the largest probability (the first on a tie); -1 for none. */
export function argmax(probabilities: readonly number[]): number {
  return probabilities.indexOf(Math.max(...probabilities));
}
