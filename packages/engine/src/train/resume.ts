/**
 * Resuming a run from its checkpoints: restore weights, optimiser and RNG streams in place, or
 * report a fresh start. The format itself lives in `checkpoint.ts`.
 */
import { join } from 'node:path';
import { CovsevInputError } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { checkWeightsMatch, type LoadedCheckpoint, loadLatestCheckpoint } from './checkpoint.js';
import { differingKeys, type JsonValue } from './json.js';
import type { Optimizer } from './optimizer.js';
import { missingRngStreams, type RngStreams, restoreRngs } from './seed.js';
import type { TensorData } from './tensorFile.js';
import { type NamedVariables, variableEntries } from './variables.js';

/**
 * Writes a checkpoint's weights into `variables`, and its state into `optimizer` and `rngs`
 * (in place) when given. Validates first, so nothing changes when something does not match.
 */
export function restoreCheckpoint(
  checkpoint: LoadedCheckpoint,
  target: { variables: NamedVariables; optimizer?: Optimizer | undefined; rngs?: RngStreams | undefined },
): void {
  const weightsPath = join(checkpoint.path, 'weights.json');
  checkWeightsMatch(checkpoint.weights, target.variables, weightsPath);
  const missing = missingRngStreams(checkpoint.rng);
  if (target.rngs !== undefined && missing.length > 0) {
    throw new CovsevInputError(join(checkpoint.path, 'state.json'), `has no state for RNG streams ${missing.join(', ')}`);
  }
  if (target.optimizer !== undefined) {
    const optPath = join(checkpoint.path, 'optimizer.json');
    if (checkpoint.optimizer === undefined)
      throw new CovsevInputError(join(checkpoint.path, 'state.json'), 'has no optimiser state to resume from');
    try {
      target.optimizer.loadState(checkpoint.optimizer);
    } catch (error) {
      throw new CovsevInputError(optPath, (error as Error).message, { cause: error });
    }
  }
  for (const [name, v] of variableEntries(target.variables)) {
    const t = checkpoint.weights.get(name) as TensorData;
    tf.tidy(() => v.assign(tf.tensor(t.data, t.shape, t.dtype)));
  }
  if (target.rngs !== undefined) restoreRngs(target.rngs, checkpoint.rng);
}

export interface ResumeOrStartOptions {
  runDir: string;
  variables: NamedVariables;
  optimizer?: Optimizer;
  /** The run's streams (`seedEverything(seed)`); restored in place on resume. */
  rngs: RngStreams;
  seed: number;
  config?: JsonValue;
  /** Resume even when the saved seed or config differ from these. Default false. */
  allowConfigChange?: boolean;
}

export interface ResumeInfo {
  /** The 0-based epoch to run next (0 on a fresh start). */
  epoch: number;
  globalStep: number;
  /** The checkpoint folder resumed from; absent on a fresh start. */
  resumedFrom?: string;
  checkpoint?: LoadedCheckpoint;
}

/**
 * Resumes from the run's latest checkpoint (restoring weights, optimiser and RNG streams in
 * place) or reports a fresh start. A checkpoint written with another seed or config is refused
 * (CovsevInputError naming its state.json) unless `allowConfigChange`.
 */
export async function resumeOrStart(options: ResumeOrStartOptions): Promise<ResumeInfo> {
  const checkpoint = await loadLatestCheckpoint(options.runDir, { variables: options.variables });
  if (checkpoint === undefined) return { epoch: 0, globalStep: 0 };
  if (options.allowConfigChange !== true) {
    const statePath = join(checkpoint.path, 'state.json');
    if (checkpoint.seed !== options.seed) {
      throw new CovsevInputError(
        statePath,
        `was written with seed ${checkpoint.seed}, this run has seed ${options.seed}; use a new run folder or allow the change`,
      );
    }
    const keys = differingKeys(checkpoint.config, options.config ?? null);
    if (keys.length > 0) {
      throw new CovsevInputError(
        statePath,
        `was written with a different config (${keys.join(', ')} differ); use a new run folder or allow the change`,
      );
    }
  }
  restoreCheckpoint(checkpoint, { variables: options.variables, optimizer: options.optimizer, rngs: options.rngs });
  return { epoch: checkpoint.epoch, globalStep: checkpoint.globalStep, resumedFrom: checkpoint.path, checkpoint };
}
