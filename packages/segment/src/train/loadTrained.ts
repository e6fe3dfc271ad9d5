/**
 * A trained segmentation model read back from its run folder (`trainer.ts` documents the layout):
 * the network built from `<runDir>/model.json`'s architecture, with the weights and batch-norm
 * statistics of the chosen checkpoint (`checkpoints/best/` or the one `latest.json` names)
 * restored into it (the engine's `restoreCheckpoint`, which checks names and shapes first).
 */
import { join } from 'node:path';
import { type CheckpointChoice, loadChosenCheckpoint, restoreCheckpoint } from '@covsev/engine';
import { CovsevInputError, Rng } from '@covsev/io';
import type { ModelCard } from '../modelCard.js';
import type { SegmentationModel } from '../models/contract.js';
import { createSegmentationModel } from '../models/factory.js';
import { SEGMENTATION_CARD_FILE } from '../onnx/exportSegmentationOnnx.js';
import { readModelCard } from '../onnx/modelCardFile.js';

/** The best validation epoch's checkpoint (`best/`) or the newest (`latest.json`). */
export type SegmentationCheckpointChoice = CheckpointChoice;

export interface LoadedSegmentation {
  readonly model: SegmentationModel;
  readonly card: ModelCard;
  /** The checkpoint folder the weights came from. */
  readonly checkpoint: string;
  /** Completed epochs at that checkpoint. */
  readonly epoch: number;
  /** The scans the run trained and validated on (its stored config), when it says. */
  readonly split?: { readonly train: string[]; readonly val: string[] };
}

/** The train and validation scan names of a run's stored config (`trainSegmentation`'s), or undefined. */
function storedSplit(config: unknown): { train: string[]; val: string[] } | undefined {
  const c = config as { train?: unknown; val?: unknown } | null;
  const names = (v: unknown): v is string[] => Array.isArray(v) && v.every((n) => typeof n === 'string');
  return c !== null && typeof c === 'object' && names(c.train) && names(c.val) ? { train: c.train, val: c.val } : undefined;
}

/**
 * The model a segmentation run trained, with its card. Default checkpoint: `best`. A missing or
 * invalid card, a card without an architecture, or a missing checkpoint is a `CovsevInputError`
 * naming the file.
 */
export async function loadTrainedSegmentation(
  runDir: string,
  options: { readonly checkpoint?: SegmentationCheckpointChoice } = {},
): Promise<LoadedSegmentation> {
  const cardPath = join(runDir, SEGMENTATION_CARD_FILE);
  const card = await readModelCard(cardPath);
  if (card.architecture === undefined)
    throw new CovsevInputError(cardPath, 'names no architecture: it describes an imported ONNX model, not a covsev training run');
  const choice = options.checkpoint ?? 'best';
  if (choice !== 'best' && choice !== 'latest')
    throw new RangeError(`loadTrainedSegmentation: checkpoint must be 'best' or 'latest', got ${JSON.stringify(choice)}`);
  const checkpoint = await loadChosenCheckpoint(runDir, choice, 'the segmentation run');
  // The initial weights are overwritten: the seed only has to give a model of the right shapes.
  const model = createSegmentationModel(card.architecture, { rng: Rng.fromSeed(0) });
  const variables = new Map(model.parameters().map(({ name, variable }) => [name, variable]));
  for (const { name, variable } of model.buffers()) variables.set(name, variable);
  restoreCheckpoint(checkpoint, { variables });
  const split = storedSplit(checkpoint.config);
  return { model, card, checkpoint: checkpoint.path, epoch: checkpoint.epoch, ...(split === undefined ? {} : { split }) };
}
