/**
 * Resuming a run from its checkpoints: restore weights, optimiser and RNG streams in place, or
 * report a fresh start. The format itself lives in `checkpoint.ts`.
 */
import { rename, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { CovsevInputError } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import {
  checkpointsDir,
  checkWeightsMatch,
  cleanCrashLeftovers,
  findIntactCheckpoint,
  LATEST_FILE,
  type LoadedCheckpoint,
  type SkippedCheckpoint,
  writeLatestPointer,
} from './checkpoint.js';
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
  /** Told, in a sentence, about each corrupt checkpoint skipped on the way to an intact one. */
  onWarning?: (message: string) => void;
}

/** A corrupt checkpoint (or pointer) skipped on resume, and where it was moved. */
export interface SkippedCheckpointInfo extends SkippedCheckpoint {
  /** `epoch-<n>.corrupt-<time>` (or `latest.json.corrupt-<time>`) beside it: kept, never deleted. */
  movedTo: string;
}

export interface ResumeInfo {
  /** The 0-based epoch to run next (0 on a fresh start). */
  epoch: number;
  /** The step of that epoch to run next, after a mid-epoch checkpoint (absent when 0). */
  step?: number;
  globalStep: number;
  /** The checkpoint folder resumed from; absent on a fresh start. */
  resumedFrom?: string;
  checkpoint?: LoadedCheckpoint;
  /** Corrupt checkpoints passed over (newest first), when the latest was not intact. */
  skippedCheckpoints?: SkippedCheckpointInfo[];
}

/**
 * Resumes from the run's latest checkpoint (restoring weights, optimiser and RNG streams in
 * place) or reports a fresh start. A checkpoint written with another seed or config is refused
 * (CovsevInputError naming its state.json) unless `allowConfigChange`; so are weights that do
 * not match the model (a different model, not a corrupt file).
 *
 * Recovery (the run's writer only): leftovers of crashed writes are deleted first
 * (`cleanCrashLeftovers`). When the latest checkpoint (or `latest.json`) is truncated or
 * corrupt, the run resumes from the newest intact older one: each bad one is renamed to
 * `<name>.corrupt-<time>` (kept for inspection, never deleted), `latest.json` is pointed at the
 * intact one, and `onWarning` and `skippedCheckpoints` say so. When no checkpoint is intact, it
 * refuses (a CovsevInputError naming the checkpoints folder and what is wrong with each) rather
 * than silently start afresh over a run that had progress: the user decides (repair, or move
 * the folder away).
 */
export async function resumeOrStart(options: ResumeOrStartOptions): Promise<ResumeInfo> {
  await cleanCrashLeftovers(options.runDir);
  const { checkpoint, skipped } = await findIntactCheckpoint(options.runDir);
  if (checkpoint === undefined) {
    if (skipped.length === 0) return { epoch: 0, globalStep: 0 };
    throw new CovsevInputError(
      checkpointsDir(options.runDir),
      `has no intact checkpoint to resume from (${skipped.length} tried, newest first): ${skipped.map((s) => s.reason).join('; ')}. Nothing was changed; repair them, or move the run's checkpoints folder away to start afresh`,
    );
  }
  checkWeightsMatch(checkpoint.weights, options.variables, join(checkpoint.path, 'weights.json'));
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
  const info: ResumeInfo = {
    epoch: checkpoint.epoch,
    ...(checkpoint.step > 0 ? { step: checkpoint.step } : {}),
    globalStep: checkpoint.globalStep,
    resumedFrom: checkpoint.path,
    checkpoint,
  };
  if (skipped.length > 0) {
    info.skippedCheckpoints = await moveAside(skipped);
    await writeLatestPointer(options.runDir, checkpoint.epoch, checkpoint.step);
    for (const s of info.skippedCheckpoints) {
      const what = basename(s.path) === LATEST_FILE ? 'the checkpoint pointer' : `checkpoint ${s.path}`;
      options.onWarning?.(
        `${what} is corrupt (${s.reason}); moved to ${s.movedTo}; resuming from ${checkpoint.path} (epoch ${checkpoint.epoch}${checkpoint.step > 0 ? `, step ${checkpoint.step}` : ''})`,
      );
    }
  }
  return info;
}

/** Renames each skipped checkpoint (or pointer) to a fresh `<name>.corrupt-<time>` beside it. */
async function moveAside(skipped: SkippedCheckpoint[]): Promise<SkippedCheckpointInfo[]> {
  const out: SkippedCheckpointInfo[] = [];
  let stamp = Date.now();
  for (const s of skipped) {
    while (await exists(`${s.path}.corrupt-${stamp}`)) stamp++;
    const movedTo = `${s.path}.corrupt-${stamp}`;
    await rename(s.path, movedTo);
    out.push({ ...s, movedTo });
  }
  return out;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
