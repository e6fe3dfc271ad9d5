/**
 * Where a run folder keeps its event logs. A training run folder holds `events.jsonl` (and takes
 * commands in `control.jsonl`); a pipeline run folder holds the stages' `events.jsonl` and its
 * classifier's training run in `runs/cmc/` (docs/formats.md, "Run folders").
 */
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EVENTS_FILE } from '@covsev/events';

export interface RunPaths {
  /** The folder given. */
  readonly dir: string;
  /** The pipeline stages' log (a pipeline run folder only). */
  readonly stageLog?: string;
  /** The training run folder: its events and its control channel. */
  readonly trainDir: string;
  readonly trainLog: string;
}

/** The classifier's training run inside a pipeline run folder. */
export const CLASSIFIER_RUN = join('runs', 'cmc');

/** The logs of a pipeline run folder (the layout `classifyCohort` writes). */
export function pipelineRunPaths(dir: string): RunPaths {
  const trainDir = join(dir, CLASSIFIER_RUN);
  return { dir, stageLog: join(dir, EVENTS_FILE), trainDir, trainLog: join(trainDir, EVENTS_FILE) };
}

/** The logs of a training run folder. */
export function trainingRunPaths(dir: string): RunPaths {
  return { dir, trainDir: dir, trainLog: join(dir, EVENTS_FILE) };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The first line of a file (up to 64 KiB), or ''. */
async function firstLine(path: string): Promise<string> {
  try {
    const handle = await open(path, 'r');
    try {
      const buf = Buffer.alloc(1 << 16);
      const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
      return buf.subarray(0, bytesRead).toString('utf8').split('\n')[0] ?? '';
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}

/** A pipeline run folder (it has `runs/cmc/`, or its log starts with a stage event) or a training one. */
export async function resolveRunPaths(dir: string): Promise<RunPaths> {
  if (await exists(join(dir, CLASSIFIER_RUN))) return pipelineRunPaths(dir);
  if ((await firstLine(join(dir, EVENTS_FILE))).includes('"type":"stage-')) return pipelineRunPaths(dir);
  return trainingRunPaths(dir);
}

/** Whether a process with this id is alive here (a run's writer, from its `run-start`). */
export function processAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
