/**
 * `pnpm eval -- --labels LABELS.csv --predictions A.csv[,B.csv] [--names plain,infection]
 * [--run RUN_DIR] [--out DIR] [--subset] [--seed N] [--resamples N]`: scores prediction tables
 * against severity labels and prints the paper's Table 3 (per-class and Macro F1 in percent, the
 * Macro F1 bootstrap interval, quadratic kappa) and each model's confusion matrix; writes
 * `<out>/confusion-<name>.png` per model and, with `--run`, `<out>/training-curves.png` from the
 * run's `events.jsonl`. Parses the command line and calls `@covsev/report`.
 */
import { stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { integerIn, parseCliArgs, path, positiveInteger, UsageError } from '@covsev/cli';
import { CovsevInputError } from '@covsev/io/core';
import {
  evaluatePredictionFiles,
  formatConfusionMatrix,
  formatTable3,
  modelNameFromPath,
  percent,
  readRunEvents,
  writeConfusionMatrixPng,
  writeTrainingCurvesPng,
} from '@covsev/report';

export const USAGE = [
  'usage: pnpm eval -- --labels LABELS.csv --predictions A.csv[,B.csv...] [--names plain,infection]',
  '                    [--run RUN_DIR] [--out DIR] [--subset] [--seed N] [--resamples N]',
  '',
  'Scores each prediction table (name,category,p_mild,...) against the labels (Name;Category) and prints the',
  "paper's Table 3: F1 of Mild, Moderate, Severe, Critical and Macro F1 in percent, the Macro F1 95 % bootstrap",
  'interval and the quadratic weighted kappa, one row per table; then each confusion matrix (rows = truth).',
  'Writes DIR/confusion-<name>.png per table and, with --run, DIR/training-curves.png (loss terms per step,',
  'validation Macro F1 per epoch, ...) from RUN_DIR/events.jsonl (RUN_DIR may also be the events file).',
  '',
  '  --labels LABELS.csv     the severity labels of the scans scored (COV19-CT-DB Name;Category)',
  '  --predictions A.csv     one table or a comma list (one row of Table 3 each)',
  "  --names a,b             the models' names, one per table (default: the file names without .csv)",
  '  --run RUN_DIR           a training run folder: draw its training curves too',
  '  --out DIR               where the PNGs go (default: <folder of the first table>/eval)',
  '  --subset                score each table on its own scans: labelled scans it lacks are left out',
  '                          (default: a labelled scan missing from a table is an error)',
  '  --seed N                seed of the bootstrap resamples (default 0)',
  '  --resamples N           bootstrap resamples (default 1000)',
  '',
  'A table scan with no label is always an error (naming the table and the scan).',
].join('\n');

/** A model name that is safe in a file name. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function parseList(text: string, flag: string): string[] {
  const pieces = text.split(',').map((p) => p.trim());
  if (pieces.some((p) => p === '')) throw new UsageError(`${flag} expects a comma list without empty items, got "${text}"`);
  return pieces;
}

/**
 * The models' names: `--names` (checked) or the tables' file names, made unique with their
 * folder's name where two files share one (`runs/plain/val.csv`, `runs/infection/val.csv`).
 */
export function modelNames(paths: readonly string[], given: readonly string[] | undefined): string[] {
  if (given !== undefined) {
    if (given.length !== paths.length)
      throw new UsageError(`--names gives ${given.length} names for ${paths.length} prediction tables`);
    const bad = given.find((n) => !NAME.test(n));
    if (bad !== undefined)
      throw new UsageError(`--names: "${bad}" is not a plain name (letters, digits, "_", "-", "."; it names a PNG file)`);
    const twice = given.find((n, i) => given.indexOf(n) !== i);
    if (twice !== undefined) throw new UsageError(`--names gives "${twice}" twice`);
    return [...given];
  }
  const safe = (text: string) => text.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[-.]+/, '') || 'model';
  let names = paths.map((p) => safe(modelNameFromPath(p)));
  const clash = (list: string[]) => list.some((n, i) => list.indexOf(n) !== i);
  if (clash(names)) names = paths.map((p, i) => safe(`${basename(dirname(resolve(p)))}-${names[i]}`));
  if (clash(names)) names = names.map((n, i) => `${n}-${i + 1}`);
  return names;
}

/** Refuses an `--out` that is a file or lies under a file (CovsevInputError naming it). */
async function checkOutFolder(out: string): Promise<void> {
  for (let at = resolve(out); ; at = dirname(at)) {
    const info = await stat(at).catch(() => undefined);
    if (info !== undefined) {
      if (info.isDirectory()) return;
      throw new CovsevInputError(
        out,
        at === resolve(out) ? '--out is a file, not a folder' : `--out lies under ${at}, which is a file`,
      );
    }
    if (dirname(at) === at) return;
  }
}

/**
 * The command: prints Table 3, the confusion matrices and the PNG paths to `print`, notes to
 * `warn`, and resolves to 0. Usage mistakes throw UsageError and bad input CovsevInputError
 * naming the file (`runCli` prints them, exit 2).
 */
export async function main(
  argv: readonly string[],
  print: (line: string) => void = console.log,
  warn: (line: string) => void = console.error,
): Promise<number> {
  const { values } = parseCliArgs(argv, {
    usage: USAGE,
    options: {
      labels: { type: 'string', parse: path, required: true, valueName: 'LABELS.csv' },
      predictions: { type: 'string', parse: parseList, required: true, valueName: 'A.csv[,B.csv]' },
      names: { type: 'string', parse: parseList },
      run: { type: 'string', parse: path, valueName: 'RUN_DIR' },
      out: { type: 'string', parse: path, valueName: 'DIR' },
      subset: { type: 'boolean' },
      seed: { type: 'string', parse: integerIn(0, 0xffffffff), valueName: 'N' },
      resamples: { type: 'string', parse: positiveInteger, valueName: 'N' },
    },
  });
  const paths = values.predictions.map((p) => path(p, '--predictions'));
  const twice = paths.find((p, i) => paths.indexOf(p) !== i);
  if (twice !== undefined) throw new UsageError(`--predictions names ${twice} twice`);
  const names = modelNames(paths, values.names);
  const out = values.out ?? join(dirname(paths[0] as string), 'eval');
  await checkOutFolder(out);
  // Read the run first: a wrong --run fails before anything is written.
  const run = values.run === undefined ? undefined : await readRunEvents(values.run);

  const models = await evaluatePredictionFiles(paths, values.labels, {
    names,
    subset: values.subset,
    ...(values.seed === undefined ? {} : { seed: values.seed }),
    ...(values.resamples === undefined ? {} : { resamples: values.resamples }),
  });
  for (const m of models) {
    if (m.unscoredLabels > 0)
      warn(`eval: ${m.name}: ${m.unscoredLabels} labelled scans of ${values.labels} are not in ${m.path} (--subset: left out)`);
  }
  const resamples = models[0]?.macroF1.resamples ?? 0;
  print(
    `eval: ${models.length} model${models.length === 1 ? '' : 's'} against ${values.labels} (Macro F1 interval: ${resamples} bootstrap resamples, seed ${values.seed ?? 0})`,
  );
  print('');
  print(formatTable3(models));
  const written: string[] = [];
  for (const m of models) {
    print('');
    print(`${m.name} (${m.path}, ${m.scans} scans): confusion matrix, rows = truth, columns = prediction`);
    print(formatConfusionMatrix(m.confusion));
    const file = join(out, `confusion-${m.name}.png`);
    const kappa = Number.isFinite(m.quadraticKappa) ? m.quadraticKappa.toFixed(4) : 'n/a';
    await writeConfusionMatrixPng(file, m.confusion, {
      title: `Confusion matrix: ${m.name}`,
      subtitle: `Macro F1 ${percent(m.macroF1.estimate)} % [${percent(m.macroF1.low)}, ${percent(m.macroF1.high)}], QW kappa ${kappa}, ${m.scans} scans`,
    });
    written.push(file);
  }
  if (run !== undefined) {
    if (run.skipped > 0) warn(`eval: ${run.path}: ${run.skipped} lines that are not events skipped`);
    const file = join(out, 'training-curves.png');
    await writeTrainingCurvesPng(file, run.events, { title: `Training curves: ${values.run}`, source: run.path });
    written.push(file);
  }
  print('');
  for (const file of written) print(`wrote ${file}`);
  return 0;
}
