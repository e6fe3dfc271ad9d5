/**
 * The runs under the runs folders: every folder holding an `events.jsonl` (a pipeline run folder
 * counts once, with its `runs/cmc/` training run), newest first, with its state, epochs done and
 * best metric.
 */
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EVENTS_FILE, readEventLog } from '@covsev/events';
import { fmt } from './format.js';
import { processAlive, type RunPaths, resolveRunPaths } from './run-folder.js';
import { epochsDone, initialRunState, phaseLabel, type RunState, reduceEvents } from './state/run-state.js';

export interface RunSummary {
  readonly paths: RunPaths;
  /** Last change of its logs (ms since the epoch). */
  readonly modified: number;
  readonly state: RunState;
  /** running / finished / stopped / failed (or waiting). */
  readonly label: string;
}

/** The runs folders: `$COVSEV_RUNS` or `runs/`, and `demo-out/` when it exists (relative to `cwd`). */
export function defaultRunRoots(cwd = process.cwd(), env: NodeJS.ProcessEnv = process.env): string[] {
  const roots = [env.COVSEV_RUNS !== undefined && env.COVSEV_RUNS !== '' ? env.COVSEV_RUNS : join(cwd, 'runs')];
  const demo = join(cwd, 'demo-out');
  if (existsSync(demo)) roots.push(demo);
  return roots;
}

async function mtime(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Folders holding an events.jsonl, `depth` levels down at most; a run folder's insides are not searched. */
async function findRunFolders(dir: string, depth: number, out: string[]): Promise<void> {
  if ((await mtime(join(dir, EVENTS_FILE))) !== undefined) {
    out.push(dir);
    return;
  }
  if (depth <= 0) return;
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name)))
    if (entry.isDirectory() && !entry.name.startsWith('.')) await findRunFolders(join(dir, entry.name), depth - 1, out);
}

/** Reads one run folder's logs into a summary. */
export async function summarizeRun(dir: string, alive: (pid: number | undefined) => boolean = processAlive): Promise<RunSummary> {
  const paths = await resolveRunPaths(dir);
  let state = initialRunState;
  let modified = 0;
  for (const log of [paths.stageLog, paths.trainLog]) {
    if (log === undefined) continue;
    const m = await mtime(log);
    if (m === undefined) continue;
    modified = Math.max(modified, m);
    try {
      state = reduceEvents(state, (await readEventLog(log)).events);
    } catch {
      // unreadable: listed with what was read
    }
  }
  return { paths, modified, state, label: phaseLabel(state, alive(state.pid)) };
}

/** Every run under `roots`, newest first. */
export async function listRuns(roots: readonly string[], alive?: (pid: number | undefined) => boolean): Promise<RunSummary[]> {
  const dirs: string[] = [];
  for (const root of roots) await findRunFolders(root, 3, dirs);
  const runs = await Promise.all([...new Set(dirs)].map((d) => summarizeRun(d, alive)));
  return runs.sort((a, b) => b.modified - a.modified);
}

/** One line of the list: folder, state, epochs done, best metric, age. */
export function runLine(run: RunSummary, now = Date.now()): string {
  const s = run.state;
  const epochs = `${epochsDone(s)}/${s.epochs ?? '?'} epochs`;
  const best = s.best === undefined ? '' : `, best ${s.best.metric} ${fmt(s.best.value, 3)} (epoch ${s.best.epoch + 1})`;
  const ago = Math.max(0, Math.round((now - run.modified) / 60000));
  return `${run.paths.dir}  ${run.label}, ${epochs}${best}, ${ago < 60 ? `${ago} min` : `${Math.round(ago / 60)} h`} ago`;
}
