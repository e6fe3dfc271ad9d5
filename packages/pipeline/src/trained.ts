/**
 * A trained classifier read back from a run folder (docs/formats.md, "Run folders"), for
 * predicting or drawing class activation maps after the run that trained it has ended:
 *
 * - the network: `CmcNetwork` built from the config the trainer stored in the checkpoint
 *   (`cmcRunConfigSchema`: backbone, input channels, variant) and the checkpoint's weights and
 *   batch-norm statistics restored into it (the engine's `restoreCheckpoint`, which checks
 *   names and shapes first);
 * - the grid: the classifier grid the run's `preprocess` stage used before training (its
 *   `stage-start` event in `<run>/events.jsonl`), so new scans go onto the same grid.
 */
import { join } from 'node:path';
import { CmcNetwork, type CmcRunConfig, type CmcVariant, cmcRunConfigSchema, resolveCmcVariant } from '@covsev/cmc';
import { type CheckpointChoice, initBackend, loadChosenCheckpoint, restoreCheckpoint } from '@covsev/engine';
import { type CovsevEvent, readEvents } from '@covsev/events';
import { CovsevInputError, Rng, type Shape3 } from '@covsev/io';
import { runFolder } from './runFolder.js';

/** Which checkpoint of a training run: the best validation epoch's (`best/`) or the newest (`latest.json`). */
export type { CheckpointChoice };

export interface LoadTrainedClassifierOptions {
  /** Default 'latest'. */
  readonly checkpoint?: CheckpointChoice;
  /** A named classifier of a `gradeCohort` run (`<run>/runs/<model>`); default `<run>/runs/cmc`. */
  readonly model?: string;
}

export interface LoadedClassifier {
  readonly model: CmcNetwork;
  readonly inChannels: 1 | 2;
  readonly variant: CmcVariant;
  /** The classifier grid [slices, rows, cols] the run trained on. */
  readonly grid: Shape3;
  /** The config the trainer stored in the checkpoint. */
  readonly config: CmcRunConfig;
  /** The checkpoint folder the weights came from. */
  readonly checkpoint: string;
  /** Completed epochs at that checkpoint. */
  readonly epoch: number;
}

/** A pipeline run's events (`<run>/events.jsonl`); unreadable: a CovsevInputError naming the file. */
export async function readPipelineEvents(run: string): Promise<{ path: string; events: CovsevEvent[] }> {
  const path = runFolder(run).events;
  try {
    return { path, events: await readEvents(path) };
  } catch (error) {
    throw new CovsevInputError(
      path,
      `cannot read the run's events (is ${run} a pipeline run folder?): ${(error as Error).message}`,
    );
  }
}

/**
 * The classifier grid of a pipeline run: the `grid` of the `preprocess` stage that ran before
 * the run's last `train-classifier` stage (`<run>/events.jsonl`). A run without one is refused,
 * naming the file.
 */
export async function readClassifierGrid(run: string): Promise<Shape3> {
  const { path, events } = await readPipelineEvents(run);
  const lastTrain = events.findLastIndex((e) => e.type === 'stage-start' && e.stage === 'train-classifier');
  const before = lastTrain < 0 ? events : events.slice(0, lastTrain);
  const preprocess = before.findLast((e) => e.type === 'stage-start' && e.stage === 'preprocess');
  const text = preprocess?.type === 'stage-start' ? preprocess.detail?.grid : undefined;
  const grid = typeof text === 'string' ? text.split('x').map(Number) : [];
  if (grid.length !== 3 || !grid.every((n) => Number.isInteger(n) && n > 0))
    throw new CovsevInputError(path, 'holds no preprocess stage with its classifier grid: the run never trained a classifier');
  return grid as unknown as Shape3;
}

/**
 * The classifier a pipeline run trained (`<run>/runs/cmc`, or `<run>/runs/<model>`), ready to predict: its network built
 * from the stored config with the checkpoint's weights, and the run's grid. Anything missing or
 * unreadable is a `CovsevInputError` naming the file.
 */
export async function loadTrainedClassifier(run: string, options: LoadTrainedClassifierOptions = {}): Promise<LoadedClassifier> {
  const classifierRun = options.model === undefined ? runFolder(run).classifierRun : runFolder(run).model(options.model).run;
  const checkpoint = await loadChosenCheckpoint(classifierRun, options.checkpoint ?? 'latest', 'the classifier run');
  const parsed = cmcRunConfigSchema.safeParse(checkpoint.config);
  if (!parsed.success)
    throw new CovsevInputError(
      join(checkpoint.path, 'state.json'),
      `holds no CMC classifier config: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`).join('; ')}`,
    );
  const config = parsed.data;
  const { variant, inChannels } = resolveCmcVariant(config);
  const grid = await readClassifierGrid(run);
  // The fastest backend present, as the trainer chose it (a fresh process has none yet).
  await initBackend({ log: () => {} });
  // The initial weights are overwritten: the seed only has to give a model of the right shapes.
  const model = new CmcNetwork({ ...config.network, inChannels }, Rng.fromSeed(0));
  const variables = new Map(model.parameters().map(({ name, variable }) => [name, variable]));
  for (const { name, variable } of model.buffers()) variables.set(name, variable);
  restoreCheckpoint(checkpoint, { variables });
  return { model, inChannels, variant, grid, config, checkpoint: checkpoint.path, epoch: checkpoint.epoch };
}
