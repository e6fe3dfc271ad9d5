/**
 * One way in for every segmentation model a user can point at: an ONNX model's card
 * (`model.json` naming `model.onnx`, covsev's export or an imported model), a folder holding such
 * a card, or a covsev training run folder (`model.json` with an architecture, and checkpoints).
 * A run's model runs on onnxruntime by default: it is exported next to its checkpoints first
 * (`<run>/onnx/<checkpoint>/model.onnx` + `model.json`, `exportSegmentationOnnx`), so covsev's own
 * models and imported ones take the same, faster path; `engine: 'tfjs'` runs the weights in tfjs.
 */
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { disposeModule, type OnnxSessionOptions } from '@covsev/engine';
import { CovsevInputError } from '@covsev/io';
import { exportSegmentationOnnx, SEGMENTATION_CARD_FILE } from '../onnx/exportSegmentationOnnx.js';
import { readModelCard } from '../onnx/modelCardFile.js';
import { loadSegmenter } from '../onnx/onnxSegmenter.js';
import { loadTrainedSegmentation, type SegmentationCheckpointChoice } from '../train/loadTrained.js';
import { type Segmenter, TfjsSegmenter } from './segmenter.js';

/** Where a covsev model runs: onnxruntime (default) or tfjs. */
export type SegmentationEngine = 'onnx' | 'tfjs';
export const SEGMENTATION_ENGINES: readonly SegmentationEngine[] = ['onnx', 'tfjs'];

export interface OpenSegmenterOptions {
  /** A training run's model: on onnxruntime (default, exported first) or on tfjs. */
  readonly engine?: SegmentationEngine;
  /** A training run's checkpoint: `best` (default) or `latest`. */
  readonly checkpoint?: SegmentationCheckpointChoice;
  /** onnxruntime's settings (providers, threads). */
  readonly session?: OnnxSessionOptions;
}

/**
 * The segmenter of `path`: a card file, or a folder with `model.json` (see the file comment).
 * A path that is neither, a card that is neither an ONNX model's nor a run's, or a run without
 * checkpoints is a CovsevInputError naming the file.
 */
export async function openSegmenter(path: string, options: OpenSegmenterOptions = {}): Promise<Segmenter> {
  const engine = options.engine ?? 'onnx';
  if (!SEGMENTATION_ENGINES.includes(engine))
    throw new RangeError(`openSegmenter: unknown engine "${engine}"; known: ${SEGMENTATION_ENGINES.join(', ')}`);
  let isFolder: boolean;
  try {
    isFolder = (await stat(path)).isDirectory();
  } catch (error) {
    throw new CovsevInputError(path, 'does not exist (expected a model card, or a folder holding model.json)', { cause: error });
  }
  const cardPath = isFolder ? join(path, SEGMENTATION_CARD_FILE) : path;
  const card = await readModelCard(cardPath);
  if (card.onnx !== undefined) {
    if (options.engine === 'tfjs')
      throw new CovsevInputError(cardPath, "describes an ONNX model, which runs on onnxruntime only (engine 'onnx')");
    return loadSegmenter(cardPath, options.session);
  }
  // A training run: its card has an architecture, its weights are in checkpoints/.
  const runDir = isFolder ? path : join(cardPath, '..');
  const loaded = await loadTrainedSegmentation(
    runDir,
    options.checkpoint === undefined ? {} : { checkpoint: options.checkpoint },
  );
  if (engine === 'tfjs') return new TfjsSegmenter(loaded.model, loaded.card, { owner: true });
  try {
    const exported = await exportSegmentationOnnx(loaded.model, loaded.card, join(runDir, 'onnx', basename(loaded.checkpoint)));
    return await loadSegmenter(exported.cardPath, options.session);
  } finally {
    disposeModule(loaded.model);
  }
}
