/**
 * `pnpm tui [-- SUBCOMMAND ...]`: parses the command line (`@covsev/cli`) and runs one of
 *
 *   (none)            the runs under the runs folder, newest first; pick one to follow
 *   follow RUN_DIR    follow a run folder's events (a pipeline run folder: its stages and its training)
 *   train cmc ...     start a classifier run (the pipeline, `classifyCohort`) in a child process and follow it
 *   train seg ...     start a segmentation run (stage 1, lung or lesion, `trainSegmentation`) in a child process and follow it
 *
 * On a terminal the dashboard is Ink; otherwise (or with --plain) it prints plain lines. A bad
 * option is a usage error (exit 2) before anything starts; a failed training exits 1.
 */
import { join } from 'node:path';
import {
  integerIn,
  nonNegativeInteger,
  numberIn,
  oneOf,
  parseCliArgs,
  path,
  positiveInteger,
  UsageError,
  type ValueCheck,
} from '@covsev/cli';
import { parseClassifierRun } from '@covsev/pipeline';
import {
  ARCH_NAMES,
  type ArchName,
  ENCODER_NAMES,
  type EncoderName,
  parseSegmentationModelConfig,
  SEGMENTATION_TASKS,
  type SegmentationTask,
} from '@covsev/segment';
import { render } from 'ink';
import { createElement } from 'react';
import { App } from './components/App.js';
import { RunList } from './components/RunList.js';
import { followPlain, type TimedLine } from './plain.js';
import { pipelineRunPaths, type RunPaths, resolveRunPaths, trainingRunPaths } from './run-folder.js';
import { defaultRunRoots, listRuns, type RunSummary, runLine } from './runs.js';
import type { TrainRequest } from './train/protocol.js';
import {
  type SegTrainOptions,
  segTrainRequest,
  startTraining,
  type TrainChild,
  type TrainOptions,
  trainRequest,
} from './train/start.js';

export const USAGE = `usage: pnpm tui [-- --plain]                       list the runs (runs/ or $COVSEV_RUNS, and demo-out/), pick one to follow
       pnpm tui -- follow RUN_DIR [--plain] [--every N]   follow a run (live, or a finished run's history)
       pnpm tui -- train cmc [--cohort DIR | --phantom N] [--run DIR] [--grid DxHxW] [--backbone NAME]
                             [--epochs E] [--batch B] [--lr X] [--seed S] [--workers W] [--plain] [--every N]
       pnpm tui -- train seg --task lung|lesion [--cohort DIR | --phantom N] [--run DIR] [--arch A] [--encoder E]
                             [--width W] [--size N] [--epochs E] [--batch B] [--lr X] [--seed S] [--plain] [--every N]
train seg: --task lung (M1, raw slices) or lesion (M2, lung-masked slices); --cohort DIR (COVID-19-CT-Seg: ct_scans/,
  lung_mask/, infection_mask/) or --phantom N (N phantom scans into <run>/cohort); --run (runs/seg-<task>-<date>-<time>);
  --arch ${ARCH_NAMES.join('|')} (unet), --encoder ${ENCODER_NAMES.join('|')} (resnet34), --width in (0, 1] (0.0625),
  --size N: N x N slices (64), --epochs 3, --batch 8, --lr 0.1 (SGD, x0.1 at 30 % and 80 % of the epochs; the paper's
  1e-3 barely moves randomly initialised weights in a few epochs), --seed 0.
keys: q stop (then quit) · c checkpoint · tab / 1-5 panels · ? help. --plain (or no terminal): plain lines, a step line every N steps (--every, default 10).`;

/** `DxHxW`, e.g. 16x64x64. */
export const grid: ValueCheck<[number, number, number]> = (text, flag) => {
  const parts = text.split('x').map((p) => p.trim());
  if (parts.length !== 3 || parts.some((p) => !/^\d+$/.test(p) || Number(p) < 1))
    throw new UsageError(`${flag} expects DxHxW with positive integers (e.g. 16x64x64), got "${text}"`);
  return parts.map(Number) as [number, number, number];
};

/** A finite number in (0, 1]. */
export const widthValue: ValueCheck<number> = (text, flag) => {
  const n = numberIn(0, 1)(text, flag);
  if (n <= 0) throw new UsageError(`${flag} must be in (0, 1], got ${text}`);
  return n;
};

/** Options of both train commands. */
const TRAIN_SHARED = ['cohort', 'phantom', 'run', 'epochs', 'batch', 'lr', 'seed'] as const;
/** Options of one train command only. */
const CMC_ONLY = ['grid', 'backbone', 'workers'] as const;
const SEG_ONLY = ['task', 'arch', 'encoder', 'width', 'size'] as const;

/** What `size` must divide by (the models' `sizeDivisor`: DeepLabV3 keeps output stride 8, the others 32). */
export function segSizeDivisor(arch: ArchName): number {
  return arch === 'deeplabv3' ? 8 : 32;
}

/** `train seg`'s defaults: a CPU-sized model and run. */
export const SEG_DEFAULTS = {
  arch: 'unet' as ArchName,
  encoder: 'resnet34' as EncoderName,
  width: 1 / 16,
  size: 64,
  epochs: 3,
  batch: 8,
  lr: 0.1,
  seed: 0,
} as const;

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
      task: { type: 'string', parse: oneOf<SegmentationTask>(SEGMENTATION_TASKS) },
      arch: { type: 'string', parse: oneOf<ArchName>(ARCH_NAMES) },
      encoder: { type: 'string', parse: oneOf<EncoderName>(ENCODER_NAMES) },
      width: { type: 'string', parse: widthValue },
      size: { type: 'string', parse: integerIn(8, 4096) },
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

type TuiValues = ReturnType<typeof parseTuiArgs>['values'];

/** `train seg`'s request, checked here so a bad option is a usage error before anything is forked. */
function segRequest(values: TuiValues, runsRoot: string): ReturnType<typeof segTrainRequest> {
  if (values.task === undefined)
    throw new UsageError('train seg needs --task lung (M1, raw slices) or --task lesion (M2, lung-masked slices)');
  const arch = values.arch ?? SEG_DEFAULTS.arch;
  const encoder = values.encoder ?? SEG_DEFAULTS.encoder;
  const width = values.width ?? SEG_DEFAULTS.width;
  const size = values.size ?? SEG_DEFAULTS.size;
  const batch = values.batch ?? SEG_DEFAULTS.batch;
  const divisor = segSizeDivisor(arch);
  if (size % divisor !== 0)
    throw new UsageError(
      `--size ${size}: ${arch} needs a slice size that divides by ${divisor} (e.g. ${Math.max(divisor, Math.round(size / divisor) * divisor)})`,
    );
  if (batch < 2) throw new UsageError(`--batch must be at least 2 for train seg (batch norm needs two slices), got ${batch}`);
  try {
    parseSegmentationModelConfig({ arch, encoder, width });
  } catch (error) {
    throw new UsageError(`train seg: ${error instanceof Error ? error.message : String(error)}`);
  }
  const options: SegTrainOptions = {
    ...(values.cohort === undefined ? {} : { cohort: values.cohort }),
    ...(values.phantom === undefined ? {} : { phantom: values.phantom }),
    run: values.run ?? join(runsRoot, `seg-${values.task}-${stamp()}`),
    task: values.task,
    arch,
    encoder,
    width,
    size,
    epochs: values.epochs ?? SEG_DEFAULTS.epochs,
    batch,
    lr: values.lr ?? SEG_DEFAULTS.lr,
    seed: values.seed ?? SEG_DEFAULTS.seed,
  };
  return segTrainRequest(options);
}

export async function main(argv: readonly string[], deps: MainDeps = {}): Promise<number> {
  const print = deps.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const printError = deps.printError ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { values, positionals } = parseTuiArgs(argv);
  const interactive = !values.plain && (deps.interactive ?? (process.stdout.isTTY === true && process.stdin.isTTY === true));
  const [command, target, ...rest] = positionals;
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}" (see --help)`);
  if (command !== 'train') {
    const misplaced = [...TRAIN_SHARED, ...CMC_ONLY, ...SEG_ONLY].find((name) => values[name] !== undefined);
    if (misplaced !== undefined)
      throw new UsageError(
        `--${misplaced} belongs to ${(CMC_ONLY as readonly string[]).includes(misplaced) ? '"train cmc"' : (SEG_ONLY as readonly string[]).includes(misplaced) ? '"train seg"' : '"train cmc" and "train seg"'} (see --help)`,
      );
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
    const model = target === 'segmentation' ? 'seg' : target;
    if (model !== 'cmc' && model !== 'seg')
      throw new UsageError(
        `train needs a model: train cmc (the classifier) or train seg (segmentation) (got ${target === undefined ? 'nothing' : `"${target}"`})`,
      );
    const other = model === 'cmc' ? SEG_ONLY : CMC_ONLY;
    const misplaced = other.find((name) => values[name] !== undefined);
    if (misplaced !== undefined)
      throw new UsageError(
        `--${misplaced} belongs to "train ${model === 'cmc' ? 'seg' : 'cmc'}", not "train ${model}" (see --help)`,
      );
    if ((values.cohort === undefined) === (values.phantom === undefined))
      throw new UsageError(
        model === 'cmc'
          ? 'train cmc needs one of --cohort DIR (a COV19-CT-DB folder) or --phantom N (a phantom cohort of N scans)'
          : 'train seg needs one of --cohort DIR (a COVID-19-CT-Seg folder) or --phantom N (a phantom cohort of N scans)',
      );
    const roots = defaultRunRoots(deps.cwd, deps.env);
    let request: TrainRequest;
    let run: string;
    let paths: RunPaths;
    if (model === 'cmc') {
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
      const cmc = trainRequest(options);
      parseClassifierRun(cmc.config, 'the command line'); // refuse a bad config before forking
      request = cmc;
      run = options.run;
      paths = pipelineRunPaths(run);
    } else {
      const seg = segRequest(values, roots[0] as string);
      request = seg;
      run = seg.seg.run;
      paths = trainingRunPaths(run);
    }
    const child = (deps.start ?? startTraining)(request);
    if (interactive) await dashboard(paths, child);
    else {
      const logs = [paths.stageLog, paths.trainLog].filter((p): p is string => p !== undefined).join(', ');
      print(`training in ${run} (a child process); events: ${logs}`);
      // The child's notes are printed among the log's lines, in the order they came.
      const notes: TimedLine[] = [];
      child.subscribe((m) => {
        if (m.type === 'note') notes.push({ time: Date.now(), line: m.note });
      });
      await followPlain(paths, { every: values.every, print, until: child.exited, notes: () => notes.splice(0) });
      for (const note of notes.splice(0)) print(note.line);
    }
    const result = await child.exited;
    if (result.error !== undefined) {
      printError(`pnpm tui: training failed: ${result.error}`);
      return 1;
    }
    return result.code === 0 ? 0 : 1;
  }

  throw new UsageError(`unknown command "${command}": use follow RUN_DIR, train cmc, train seg, or nothing (see --help)`);
}
