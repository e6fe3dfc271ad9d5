/**
 * Checkpoints in a run folder, written so that a crash at any moment (kill -9 included) leaves
 * either the previous checkpoint or the new one, never a pointer to half of one.
 *
 *     <run>/checkpoints/
 *       latest.json              {"format":"covsev-checkpoint-pointer","version":1,"epoch":3,"path":"epoch-3"}
 *       epoch-3/
 *         state.json             epoch, globalStep, seed, lr, schedule, RNG states, config, extra
 *         weights.json + .bin    tensor manifest (names, shapes, dtypes, offsets, sha256) + raw data
 *         optimizer.json + .bin  kind, step counts, hyperparameters + slot tensors (when saved)
 *
 * `epoch` is the number of completed epochs, so `epoch-3` holds the state after 0-based epochs
 * 0, 1, 2 and training resumes at epoch index 3. A mid-epoch checkpoint (a `checkpoint` or `stop`
 * command of the control channel) is `epoch-<n>-step-<k>`: n completed epochs and k steps of
 * epoch index n done; training resumes at step k of epoch n. Checkpoints are ordered by (n, k).
 * `best/` is a copy (hard links) of the best epoch's checkpoint (`saveBestCheckpoint`), which
 * pruning never removes.
 *
 * Writing: every file goes into `epoch-<n>.tmp-<pid>-<random>/` (each fsynced, io's
 * `writeFileDurable`), the folder is renamed to `epoch-<n>` and `checkpoints/` fsynced
 * (`syncDirectory`), and only then is `latest.json` replaced atomically and durably (io's
 * `writeFileAtomic`: temp file, fsync, rename, folder fsync). Old checkpoints beyond `keepLast`
 * and leftovers of crashed writes are pruned after the pointer moved. One writer per run folder.
 *
 * Reading validates everything (JSON, sizes, sha256 checksums, names and shapes against the
 * model, optimiser slots) and reports a problem as a `CovsevInputError` naming the file.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, link, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CovsevInputError, replaceDirectoryAtomic, syncDirectory, writeFileAtomic, writeFileDurable } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import type { JsonObject, JsonValue } from './json.js';
import type { OptimizerKind, OptimizerState, ParamState } from './optimizer.js';
import type { RngStates } from './seed.js';
import { decodeTensors, encodeTensors, type TensorData } from './tensorFile.js';
import { type NamedVariables, variableEntries } from './variables.js';

export const CHECKPOINTS_DIR = 'checkpoints';
export const LATEST_FILE = 'latest.json';
/** The best epoch's checkpoint, `<runDir>/checkpoints/best/` (`saveBestCheckpoint`). */
export const BEST_DIR = 'best';

/** A checkpoint's folder name: `epoch-<epoch>`, or `epoch-<epoch>-step-<step>` mid-epoch. */
export function checkpointName(epoch: number, step = 0): string {
  return step > 0 ? `epoch-${epoch}-step-${step}` : `epoch-${epoch}`;
}

const CHECKPOINT_NAME = /^epoch-(\d+)(?:-step-(\d+))?$/;

/** The position a checkpoint folder name stands for, or undefined for another name. */
export function parseCheckpointName(name: string): { epoch: number; step: number } | undefined {
  const m = CHECKPOINT_NAME.exec(name);
  if (m === null) return undefined;
  const step = m[2] === undefined ? 0 : Number(m[2]);
  return step === 0 && m[2] !== undefined ? undefined : { epoch: Number(m[1]), step };
}

/** Orders positions: negative when `a` comes before `b`. */
function comparePositions(a: { epoch: number; step: number }, b: { epoch: number; step: number }): number {
  return a.epoch - b.epoch || a.step - b.step;
}

/** What a checkpoint holds. */
export interface CheckpointData {
  /** Completed epochs: training resumes at this 0-based epoch index. */
  epoch: number;
  /**
   * Steps of epoch index `epoch` already done (a mid-epoch checkpoint, `epoch-<n>-step-<k>`);
   * 0 or absent at an epoch's end. Training resumes at this step.
   */
  step?: number;
  /** Optimiser steps taken so far over the whole run. */
  globalStep: number;
  seed: number;
  /** The run's configuration, as given by the trainer (JSON). */
  config: JsonValue;
  weights: Map<string, TensorData>;
  optimizer?: OptimizerState;
  /** RNG stream states (`rngStates`). */
  rng: RngStates;
  /** The learning rate of the last completed epoch. */
  lr?: number;
  /** The schedule's description (`LrSchedule.description`). */
  schedule?: JsonValue;
  /** Anything else the trainer wants back (best metric so far, ...). */
  extra?: JsonObject;
  /** The trainer's own state at this point (`RunTrainingOptions.trainerState`), e.g. an epoch's data order. */
  trainerState?: JsonValue;
}

/** A checkpoint read back, with the folder it came from. */
export interface LoadedCheckpoint extends CheckpointData {
  /** Steps done of epoch index `epoch` (0 at an epoch's end). */
  step: number;
  path: string;
  createdAt: string;
}

export interface SaveCheckpointOptions {
  /** Checkpoints to keep, the new one included; default 3. `Infinity` keeps all. */
  keepLast?: number;
}

export interface LoadCheckpointOptions {
  /** When given, the weights' names, shapes and dtypes must match these variables. */
  variables?: NamedVariables;
}

interface StateFile {
  format: 'covsev-checkpoint';
  version: 1;
  epoch: number;
  /** Steps done of epoch index `epoch` (absent in checkpoints written before mid-epoch ones existed). */
  step?: number;
  globalStep: number;
  seed: number;
  lr: number | null;
  schedule: JsonValue;
  rng: RngStates;
  config: JsonValue;
  extra: JsonObject;
  trainerState?: JsonValue;
  createdAt: string;
  files: { weights: string; optimizer: string | null };
}

interface OptimizerFile {
  format: 'covsev-optimizer';
  version: 1;
  kind: OptimizerKind;
  step: number;
  hyper: Record<string, number | boolean>;
  /** Per parameter: its own update count and its slot names (tensors `<slot>/<param>` in the manifest). */
  params: Record<string, { step: number; slots: string[] }>;
  tensors: unknown;
}

interface Pointer {
  format: 'covsev-checkpoint-pointer';
  version: 1;
  epoch: number;
  step?: number;
  path: string;
  savedAt: string;
}

/** The folder that holds a run's checkpoints. */
export function checkpointsDir(runDir: string): string {
  return join(runDir, CHECKPOINTS_DIR);
}

/** Copies of the variables' current values, by name. */
export function snapshotWeights(variables: NamedVariables): Map<string, TensorData> {
  const out = new Map<string, TensorData>();
  for (const [name, v] of variableEntries(variables)) {
    if (v.dtype !== 'float32' && v.dtype !== 'int32')
      throw new TypeError(`variable ${name} is ${v.dtype}; checkpoints store float32 and int32`);
    const values = v.dataSync();
    const data = v.dtype === 'float32' ? Float32Array.from(values as Float32Array) : Int32Array.from(values as Int32Array);
    out.set(name, { shape: [...v.shape], dtype: v.dtype, data });
  }
  return out;
}

/**
 * Writes checkpoint `epoch-<data.epoch>` (`epoch-<epoch>-step-<step>` mid-epoch) into
 * `<runDir>/checkpoints/`, moves `latest.json` to it (last, atomically) and prunes old ones.
 * Returns the checkpoint folder.
 */
export async function saveCheckpoint(runDir: string, data: CheckpointData, options: SaveCheckpointOptions = {}): Promise<string> {
  const keepLast = options.keepLast ?? 3;
  if (!(keepLast >= 1)) throw new RangeError(`keepLast must be >= 1, got ${keepLast}`);
  if (!(Number.isInteger(data.epoch) && data.epoch >= 0))
    throw new RangeError(`epoch must be an integer >= 0, got ${data.epoch}`);
  const step = data.step ?? 0;
  if (!(Number.isInteger(step) && step >= 0)) throw new RangeError(`step must be an integer >= 0, got ${data.step}`);
  const dir = checkpointsDir(runDir);
  const name = checkpointName(data.epoch, step);
  const final = join(dir, name);
  const tmp = join(dir, `${name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp, { recursive: true });
  try {
    const weights = encodeTensors(data.weights, 'weights.bin');
    await writeFileDurable(join(tmp, 'weights.bin'), weights.bytes);
    await writeFileDurable(join(tmp, 'weights.json'), `${JSON.stringify(weights.manifest, null, 1)}\n`);
    if (data.optimizer !== undefined) {
      const { file, bytes } = encodeOptimizer(data.optimizer, data.weights);
      await writeFileDurable(join(tmp, 'optimizer.bin'), bytes);
      await writeFileDurable(join(tmp, 'optimizer.json'), `${JSON.stringify(file, null, 1)}\n`);
    }
    const state: StateFile = {
      format: 'covsev-checkpoint',
      version: 1,
      epoch: data.epoch,
      ...(step > 0 ? { step } : {}),
      globalStep: data.globalStep,
      seed: data.seed,
      lr: data.lr ?? null,
      schedule: data.schedule ?? null,
      rng: data.rng,
      config: data.config,
      extra: data.extra ?? {},
      ...(data.trainerState === undefined ? {} : { trainerState: data.trainerState }),
      createdAt: new Date().toISOString(),
      files: { weights: 'weights.json', optimizer: data.optimizer === undefined ? null : 'optimizer.json' },
    };
    await writeFileDurable(join(tmp, 'state.json'), `${JSON.stringify(state, null, 1)}\n`);
    await syncDirectory(tmp);
    // A folder of this epoch from an earlier attempt is replaced as a whole.
    await replaceDirectoryAtomic(tmp, final);
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw error;
  }
  await writeLatestPointer(runDir, data.epoch, step);
  await pruneCheckpoints(runDir, keepLast, { epoch: data.epoch, step });
  return final;
}

/**
 * Makes `<runDir>/checkpoints/best/` a copy of the checkpoint folder `from` (hard links where
 * the file system allows, else copies; checkpoint files are never changed in place), replacing
 * the previous one as a whole: written into `best.tmp-*`, the old one moved to `best.old-*` and
 * dropped (crash leftovers `cleanCrashLeftovers` removes). Pruning never touches it. Returns
 * its path.
 */
export async function saveBestCheckpoint(runDir: string, from: string): Promise<string> {
  const dir = checkpointsDir(runDir);
  const final = join(dir, BEST_DIR);
  const tmp = join(dir, `${BEST_DIR}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp, { recursive: true });
  try {
    for (const name of await readdir(from)) {
      if (LEFTOVER.test(name)) continue;
      try {
        await link(join(from, name), join(tmp, name));
      } catch {
        await copyFile(join(from, name), join(tmp, name));
      }
    }
    await syncDirectory(tmp);
    await replaceDirectoryAtomic(tmp, final);
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw error;
  }
  return final;
}

/** The run's checkpoint folders (`epoch-<n>` and `epoch-<n>-step-<k>`), oldest first. */
export async function listCheckpoints(runDir: string): Promise<{ epoch: number; step: number; path: string }[]> {
  const dir = checkpointsDir(runDir);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const out: { epoch: number; step: number; path: string }[] = [];
  for (const n of names) {
    const at = parseCheckpointName(n);
    if (at !== undefined) out.push({ ...at, path: join(dir, n) });
  }
  return out.sort(comparePositions);
}

/** A leftover of a write that crashed: `<name>.tmp-<pid>-<random>` (file or folder) or `epoch-<n>.old-...`. */
const LEFTOVER = /\.(tmp|old)-\d+-[0-9a-f]+$/;

/**
 * Deletes what crashed writes left in `<runDir>/checkpoints/`: temporary files and folders
 * (`latest.json.tmp-*`, `epoch-<n>.tmp-*`, temp files inside `epoch-<n>/`) and the
 * `epoch-<n>.old-*` folders of an interrupted replacement. Returns the paths removed. Only the
 * run's one writer may call it (a save in progress has such files); readers never do.
 * Checkpoints moved aside as corrupt (`epoch-<n>.corrupt-<time>`) are kept.
 */
export async function cleanCrashLeftovers(runDir: string): Promise<string[]> {
  const dir = checkpointsDir(runDir);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const n of names) {
    if (LEFTOVER.test(n)) {
      await rm(join(dir, n), { recursive: true, force: true });
      removed.push(join(dir, n));
    } else if (parseCheckpointName(n) !== undefined || n === BEST_DIR) {
      let inner: string[] = [];
      try {
        inner = await readdir(join(dir, n));
      } catch {
        continue; // not a folder
      }
      for (const f of inner.filter((x) => LEFTOVER.test(x))) {
        await rm(join(dir, n, f), { recursive: true, force: true });
        removed.push(join(dir, n, f));
      }
    }
  }
  return removed;
}

/**
 * Deletes leftovers of interrupted writes (`cleanCrashLeftovers`) and all but the newest
 * `keepLast` checkpoints at or before `current` (which is always kept): a number is an
 * end-of-epoch checkpoint, `{epoch, step}` any. Mid-epoch checkpoints count like the others.
 * Checkpoints after `current` are left alone, and so is `best/`.
 */
export async function pruneCheckpoints(
  runDir: string,
  keepLast: number,
  current: number | { epoch: number; step: number },
): Promise<void> {
  await cleanCrashLeftovers(runDir);
  const at = typeof current === 'number' ? { epoch: current, step: 0 } : current;
  const older = (await listCheckpoints(runDir)).filter((c) => comparePositions(c, at) < 0);
  const drop = older.slice(0, Math.max(0, older.length - (keepLast - 1)));
  for (const c of drop) await rm(c.path, { recursive: true, force: true });
}

/**
 * The checkpoint `latest.json` points to, or undefined when the run has none yet.
 * Throws `CovsevInputError` naming the file at fault when any part is unreadable or does not
 * match `options.variables`.
 */
export async function loadLatestCheckpoint(
  runDir: string,
  options: LoadCheckpointOptions = {},
): Promise<LoadedCheckpoint | undefined> {
  const pointerPath = join(checkpointsDir(runDir), LATEST_FILE);
  try {
    await stat(pointerPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  }
  const target = await latestTarget(runDir);
  return loadCheckpoint(target, options);
}

/** Which checkpoint of a finished or running run to read: the best validation epoch's, or the newest. */
export type CheckpointChoice = 'best' | 'latest';

/**
 * The chosen checkpoint of a run folder: `checkpoints/best/` (kept by the loop's `monitor`) or
 * the one `latest.json` names. A missing one is a `CovsevInputError` naming the path and saying
 * why (`what` names the run for the message, e.g. "the classifier run").
 */
export async function loadChosenCheckpoint(
  runDir: string,
  choice: CheckpointChoice,
  what = 'the run',
): Promise<LoadedCheckpoint> {
  if (choice !== 'best' && choice !== 'latest')
    throw new RangeError(`checkpoint must be 'best' or 'latest', got ${JSON.stringify(choice)}`);
  const dir = checkpointsDir(runDir);
  if (choice === 'best') {
    const best = join(dir, BEST_DIR);
    try {
      await stat(best);
    } catch {
      throw new CovsevInputError(
        best,
        `does not exist: ${what} kept no best checkpoint (no validation scans, or no epoch done yet); use the latest one`,
      );
    }
    return loadCheckpoint(best);
  }
  const latest = await loadLatestCheckpoint(runDir);
  if (latest === undefined) throw new CovsevInputError(join(dir, LATEST_FILE), `does not exist: ${what} has no checkpoint yet`);
  return latest;
}

/** A checkpoint (or `latest.json`) that could not be read, and why. */
export interface SkippedCheckpoint {
  /** The checkpoint folder, or `latest.json` itself. */
  path: string;
  /** The error's message (it starts with the file at fault). */
  reason: string;
}

export interface IntactCheckpoint {
  /** The newest readable checkpoint, or undefined when the run has no pointer yet. */
  checkpoint?: LoadedCheckpoint;
  /** What was tried before it and found unreadable, newest first. */
  skipped: SkippedCheckpoint[];
}

/**
 * The newest checkpoint that reads back intact: the one `latest.json` points to, else (when it,
 * or the pointer itself, is truncated or corrupt) the newest older `epoch-<n>/` that is whole.
 * Checkpoints newer than the pointer (written, but the pointer never moved: a crash) are not
 * considered. A run without `latest.json` has no checkpoint (a fresh start), whatever folders
 * lie there. Reads only: nothing is moved or deleted (`resumeOrStart` does that). The returned
 * checkpoint is undefined with `skipped` non-empty when nothing is intact.
 */
export async function findIntactCheckpoint(runDir: string): Promise<IntactCheckpoint> {
  const dir = checkpointsDir(runDir);
  const pointerPath = join(dir, LATEST_FILE);
  const skipped: SkippedCheckpoint[] = [];
  let candidates: { epoch: number; step: number; path: string }[];
  try {
    await stat(pointerPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { skipped };
  }
  const all = await listCheckpoints(runDir);
  try {
    const target = await latestTarget(runDir);
    const at = parseCheckpointName(target.slice(dir.length + 1)) as { epoch: number; step: number };
    candidates = [{ ...at, path: target }, ...all.filter((c) => comparePositions(c, at) < 0).reverse()];
  } catch (error) {
    if (!(error instanceof CovsevInputError)) throw error;
    skipped.push({ path: pointerPath, reason: error.message });
    candidates = [...all].reverse();
  }
  for (const c of candidates) {
    try {
      return { checkpoint: await loadCheckpoint(c.path), skipped };
    } catch (error) {
      if (!(error instanceof CovsevInputError)) throw error;
      skipped.push({ path: c.path, reason: error.message });
    }
  }
  return { skipped };
}

/** Makes `latest.json` point to checkpoint `epoch-<epoch>` (`epoch-<epoch>-step-<step>`), atomically. */
export async function writeLatestPointer(runDir: string, epoch: number, step = 0): Promise<void> {
  const pointer: Pointer = {
    format: 'covsev-checkpoint-pointer',
    version: 1,
    epoch,
    ...(step > 0 ? { step } : {}),
    path: checkpointName(epoch, step),
    savedAt: new Date().toISOString(),
  };
  await writeFileAtomic(join(checkpointsDir(runDir), LATEST_FILE), `${JSON.stringify(pointer)}\n`);
}

/** The checkpoint folder `latest.json` points to; a CovsevInputError naming it when it is unreadable or dangling. */
async function latestTarget(runDir: string): Promise<string> {
  const pointerPath = join(checkpointsDir(runDir), LATEST_FILE);
  const text = await readText(pointerPath);
  const pointer = parseJson(pointerPath, text) as Partial<Pointer>;
  if (
    pointer?.format !== 'covsev-checkpoint-pointer' ||
    typeof pointer.path !== 'string' ||
    parseCheckpointName(pointer.path) === undefined
  ) {
    throw new CovsevInputError(
      pointerPath,
      'is not a covsev checkpoint pointer (expected {"format":"covsev-checkpoint-pointer","path":"epoch-<n>"})',
    );
  }
  const target = join(checkpointsDir(runDir), pointer.path);
  if (!(await exists(target))) throw new CovsevInputError(pointerPath, `points to ${pointer.path}, which does not exist`);
  return target;
}

/** Reads and validates one checkpoint folder. */
export async function loadCheckpoint(path: string, options: LoadCheckpointOptions = {}): Promise<LoadedCheckpoint> {
  const statePath = join(path, 'state.json');
  const state = parseJson(statePath, await readText(statePath)) as Partial<StateFile>;
  const bad = (why: string): never => {
    throw new CovsevInputError(statePath, `is not a valid covsev checkpoint state: ${why}`);
  };
  if (state?.format !== 'covsev-checkpoint') bad('wrong or missing format');
  if (state.version !== 1) bad(`version ${JSON.stringify(state.version)} is not supported (expected 1)`);
  if (!isCount(state.epoch)) bad('no epoch');
  if (!isCount(state.globalStep)) bad('no globalStep');
  if (state.step !== undefined && !isCount(state.step)) bad('step is not a count');
  if (typeof state.seed !== 'number') bad('no seed');
  if (!isRngStates(state.rng)) bad('no valid RNG states');
  if (state.files === undefined || typeof state.files.weights !== 'string') bad('no weights file');
  const files = state.files as StateFile['files'];

  const weightsPath = join(path, files.weights);
  const weights = await readTensorFiles(weightsPath, path);
  if (options.variables !== undefined) checkWeightsMatch(weights, options.variables, weightsPath);

  let optimizer: OptimizerState | undefined;
  if (files.optimizer !== null) {
    const optPath = join(path, files.optimizer);
    optimizer = await readOptimizer(optPath, path);
  }
  const out: LoadedCheckpoint = {
    path,
    createdAt: typeof state.createdAt === 'string' ? state.createdAt : '',
    epoch: state.epoch as number,
    step: state.step ?? 0,
    globalStep: state.globalStep as number,
    seed: state.seed as number,
    config: state.config ?? null,
    weights,
    rng: state.rng as RngStates,
    extra: state.extra ?? {},
    schedule: state.schedule ?? null,
  };
  if (optimizer !== undefined) out.optimizer = optimizer;
  if (typeof state.lr === 'number') out.lr = state.lr;
  if (state.trainerState !== undefined) out.trainerState = state.trainerState;
  return out;
}

// ---- private helpers -------------------------------------------------------------------------

/** Throws a CovsevInputError naming `path` unless the weights have exactly the variables' names, shapes and dtypes. */
export function checkWeightsMatch(weights: Map<string, TensorData>, variables: NamedVariables, path: string): void {
  const entries = variableEntries(variables);
  const problems: string[] = [];
  const missing = entries.filter(([n]) => !weights.has(n)).map(([n]) => n);
  if (missing.length > 0) problems.push(`missing ${missing.join(', ')}`);
  const known = new Set(entries.map(([n]) => n));
  const extra = [...weights.keys()].filter((n) => !known.has(n));
  if (extra.length > 0) problems.push(`unexpected ${extra.join(', ')}`);
  for (const [name, v] of entries) {
    const t = weights.get(name);
    if (t === undefined) continue;
    if (!tf.util.arraysEqual(t.shape, v.shape)) problems.push(`${name} has shape [${t.shape}], the model [${v.shape}]`);
    else if (t.dtype !== v.dtype) problems.push(`${name} is ${t.dtype}, the model ${v.dtype}`);
  }
  if (problems.length > 0) throw new CovsevInputError(path, `does not match the model: ${problems.join('; ')}`);
}

function encodeOptimizer(state: OptimizerState, weights: Map<string, TensorData>): { file: OptimizerFile; bytes: Uint8Array } {
  const tensors: [string, TensorData][] = [];
  const params: OptimizerFile['params'] = {};
  for (const [name, p] of Object.entries(state.params)) {
    params[name] = { step: p.step, slots: Object.keys(p.slots) };
    const shape = weights.get(name)?.shape;
    for (const [slot, data] of Object.entries(p.slots)) {
      tensors.push([`${slot}/${name}`, { shape: shape ?? [data.length], dtype: 'float32', data }]);
    }
  }
  const { manifest, bytes } = encodeTensors(tensors, 'optimizer.bin');
  return {
    file: {
      format: 'covsev-optimizer',
      version: 1,
      kind: state.kind,
      step: state.step,
      hyper: state.hyper,
      params,
      tensors: manifest,
    },
    bytes,
  };
}

async function readOptimizer(path: string, dir: string): Promise<OptimizerState> {
  const file = parseJson(path, await readText(path)) as Partial<OptimizerFile>;
  const bad = (why: string): never => {
    throw new CovsevInputError(path, `is not a valid covsev optimiser state: ${why}`);
  };
  if (file?.format !== 'covsev-optimizer' || file.version !== 1) bad('wrong format or version');
  if (file.kind !== 'adam' && file.kind !== 'sgd') bad(`unknown kind ${JSON.stringify(file.kind)}`);
  if (!isCount(file.step)) bad('no step count');
  if (file.hyper === null || typeof file.hyper !== 'object') bad('no hyperparameters');
  if (file.params === null || typeof file.params !== 'object') return bad('no parameters');
  const slotTensors = await readTensorFiles(path, dir, file.tensors);
  const params: Record<string, ParamState> = {};
  for (const [name, p] of Object.entries(file.params)) {
    if (!isCount(p?.step) || !Array.isArray(p.slots)) bad(`bad entry for ${name}`);
    const slots: Record<string, Float32Array> = {};
    for (const slot of p.slots) {
      const t = slotTensors.get(`${slot}/${name}`);
      if (t === undefined || !(t.data instanceof Float32Array)) return bad(`no float32 ${slot} tensor for ${name}`);
      slots[slot] = t.data;
    }
    params[name] = { step: p.step, slots };
  }
  return {
    kind: file.kind as OptimizerKind,
    step: file.step as number,
    hyper: file.hyper as Record<string, number | boolean>,
    params,
  };
}

/**
 * Reads a tensor manifest (from `manifestPath`, or given inline) and its binary file; problems
 * name the file at fault.
 */
async function readTensorFiles(manifestPath: string, dir: string, inline?: unknown): Promise<Map<string, TensorData>> {
  const manifest = inline ?? parseJson(manifestPath, await readText(manifestPath));
  const file = (manifest as { file?: unknown } | null)?.file;
  if (typeof file !== 'string' || file.includes('/') || file.includes('\\')) {
    throw new CovsevInputError(manifestPath, 'names no binary file (or one outside the checkpoint folder)');
  }
  const binPath = join(dir, file);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(binPath);
  } catch (error) {
    throw new CovsevInputError(
      binPath,
      `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); the checkpoint is incomplete`,
      { cause: error },
    );
  }
  try {
    return decodeTensors(manifest, bytes).tensors;
  } catch (error) {
    const message = (error as Error).message;
    const at = message.startsWith('is not a valid tensor manifest') ? manifestPath : binPath;
    throw new CovsevInputError(at, message, { cause: error });
  }
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new CovsevInputError(
      path,
      `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); the checkpoint is incomplete`,
      { cause: error },
    );
  }
}

function parseJson(path: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new CovsevInputError(path, `is not valid JSON (${(error as Error).message}); the checkpoint is corrupt`, {
      cause: error,
    });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0;
}

function isRngStates(x: unknown): x is RngStates {
  if (x === null || typeof x !== 'object') return false;
  return Object.values(x).every((s) => Array.isArray(s) && s.every((n) => Number.isInteger(n)));
}
