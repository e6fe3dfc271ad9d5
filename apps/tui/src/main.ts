/**
 * `pnpm tui [-- SUBCOMMAND ...]`: parses the command line (`@covsev/cli`) and runs one of
 *
 *   (none)            the runs under the runs folder, newest first; pick one to follow
 *   follow RUN_DIR    follow a run folder's events (a pipeline run folder: its stages and its training)
 *   train cmc ...     start a classifier run in a child process and follow it
 *   train seg         refused: stage 1 (packages/segment) is not built yet
 *
 * On a terminal the dashboard is Ink; otherwise (or with --plain) it prints plain lines.
 */
import { join } from 'node:path';
import { nonNegativeInteger, numberIn, parseCliArgs, path, positiveInteger, UsageError, type ValueCheck } from '@covsev/cli';
import { parseClassifierRun } from '@covsev/pipeline';
import { render } from 'ink';
import { createElement } from 'react';
import { App } from './components/App.js';
import { RunList } from './components/RunList.js';
import { followPlain } from './plain.js';
import { pipelineRunPaths, type RunPaths, resolveRunPaths } from './run-folder.js';
import { defaultRunRoots, listRuns, type RunSummary, runLine } from './runs.js';
import { startTraining, type TrainChild, type TrainOptions, trainRequest } from './train/start.js';

export const USAGE = `usage: pnpm tui [-- --plain]                       list the runs (runs/ or $COVSEV_RUNS, and demo-out/), pick one to follow
       pnpm tui -- follow RUN_DIR [--plain] [--every N]   follow a run (live, or a finished run's history)
       pnpm tui -- train cmc [--cohort DIR | --phantom N] [--run DIR] [--grid DxHxW] [--backbone NAME]
                             [--epochs E] [--batch B] [--lr X] [--seed S] [--workers W] [--plain] [--every N]
keys: q stop (then quit) · c checkpoint · tab / 1-5 panels · ? help. --plain (or no terminal): plain lines, a step line every N steps (--every, default 10).`;

/** `DxHxW`, e.g. 16x64x64. */
export const grid: ValueCheck<[number, number, number]> = (text, flag) => {
  const parts = text.split('x').map((p) => p.trim());
  if (parts.length !== 3 || parts.some((p) => !/^\d+$/.test(p) || Number(p) < 1))
    throw new UsageError(`${flag} expects DxHxW with positive integers (e.g. 16x64x64), got "${text}"`);
  return parts.map(Number) as [number, number, number];
};

const TRAIN_ONLY = ['cohort', 'phantom', 'run', 'grid', 'backbone', 'epochs', 'batch', 'lr', 'seed', 'workers'] as const;

export function parseTuiArgs(argv: readonly string[]) {
  return parseCliArgs(argv, {
    usage: USAGE,
    positionals: true,
    options: {
      plain: { type: 'boolean' },
      every: { type: 'string', parse: positiveInteger, default: 10 },
      cohort: { type: 'string', parse: path },
      phantom: { type: 'string', parse: positiveInteger },
      run: { type: 'string', parse: path },
      grid: { type: 'string', parse: grid },
      backbone: { type: 'string' },
      epochs: { type: 'string', parse: positiveInteger },
      batch: { type: 'string', parse: positiveInteger },
      lr: { type: 'string', parse: numberIn(Number.MIN_VALUE, 10) },
      seed: { type: 'string', parse: nonNegativeInteger },
      workers: { type: 'string', parse: nonNegativeInteger },
    },
  });
}

export interface MainDeps {
  readonly print?: (line: string) => void;
  readonly printError?: (line: string) => void;
  /** Whether stdin and stdout are a terminal (default: both `isTTY`). */
  readonly interactive?: boolean;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly start?: typeof startTraining;
}

function stamp(date = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}-${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}`;
}

async function dashboard(paths: RunPaths, child?: TrainChild): Promise<void> {
  const instance = render(createElement(App, child === undefined ? { paths } : { paths, child }));
  await instance.waitUntilExit();
}

export async function main(argv: readonly string[], deps: MainDeps = {}): Promise<number> {
  const print = deps.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const printError = deps.printError ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { values, positionals } = parseTuiArgs(argv);
  const interactive = !values.plain && (deps.interactive ?? (process.stdout.isTTY === true && process.stdin.isTTY === true));
  const [command, target, ...rest] = positionals;
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}" (see --help)`);
  if (command !== 'train') {
    const misplaced = TRAIN_ONLY.find((name) => values[name] !== undefined);
    if (misplaced !== undefined) throw new UsageError(`--${misplaced} belongs to "train cmc" (see --help)`);
  }

  if (command === undefined) {
    const roots = defaultRunRoots(deps.cwd, deps.env);
    const runs = await listRuns(roots);
    if (!interactive) {
      if (runs.length === 0) print(`no runs under ${roots.join(', ')} (a run folder holds an events.jsonl)`);
      for (const run of runs) print(runLine(run));
      return 0;
    }
    let chosen: RunSummary | undefined;
    const picker = render(
      createElement(RunList, {
        runs,
        roots,
        onSelect: (run: RunSummary) => {
          chosen = run;
        },
        columns: process.stdout.columns || 80,
        rows: process.stdout.rows || 24,
      }),
    );
    await picker.waitUntilExit();
    if (chosen !== undefined) await dashboard(chosen.paths);
    return 0;
  }

  if (command === 'follow') {
    if (target === undefined) throw new UsageError('follow needs a run folder: pnpm tui -- follow RUN_DIR');
    const paths = await resolveRunPaths(target);
    if (interactive) await dashboard(paths);
    else await followPlain(paths, { every: values.every, print });
    return 0;
  }

  if (command === 'train') {
    if (target === 'seg' || target === 'segmentation')
      throw new UsageError(
        'train seg: stage 1 (segmentation, packages/segment) is not built yet; train cmc trains the classifier',
      );
    if (target !== 'cmc')
      throw new UsageError(`train needs a model: train cmc (got ${target === undefined ? 'nothing' : `"${target}"`})`);
    if ((values.cohort === undefined) === (values.phantom === undefined))
      throw new UsageError(
        'train cmc needs one of --cohort DIR (a COV19-CT-DB folder) or --phantom N (a phantom cohort of N scans)',
      );
    const roots = defaultRunRoots(deps.cwd, deps.env);
    const options: TrainOptions = {
      ...(values.cohort === undefined ? {} : { cohort: values.cohort }),
      ...(values.phantom === undefined ? {} : { phantom: values.phantom }),
      run: values.run ?? join(roots[0] as string, `cmc-${stamp()}`),
      grid: values.grid ?? [16, 64, 64],
      backbone: values.backbone ?? 'resnest-tiny-3d',
      epochs: values.epochs ?? 3,
      batch: values.batch ?? 2,
      ...(values.lr === undefined ? {} : { lr: values.lr }),
      seed: values.seed ?? 2022,
      workers: values.workers ?? 0,
    };
    const request = trainRequest(options);
    parseClassifierRun(request.config, 'the command line'); // refuse a bad config before forking
    const child = (deps.start ?? startTraining)(request);
    const paths = pipelineRunPaths(options.run);
    if (interactive) await dashboard(paths, child);
    else {
      print(`training in ${options.run} (a child process); events: ${paths.stageLog}, ${paths.trainLog}`);
      child.subscribe((m) => {
        if (m.type === 'note') print(m.note);
      });
      await followPlain(paths, { every: values.every, print, until: child.exited });
    }
    const result = await child.exited;
    if (result.error !== undefined) {
      printError(`pnpm tui: training failed: ${result.error}`);
      return 1;
    }
    return result.code === 0 ? 0 : 1;
  }

  throw new UsageError(`unknown command "${command}": use follow RUN_DIR, train cmc, or nothing (see --help)`);
}
