/**
 * `pnpm submit -- --predictions PRED.csv [--predictions MORE.csv ...] --out DIR
 * [--ensemble mean|weighted-mean|vote] [--weights w1,w2,...] [--layout one-per-line|one-row]
 * [--test-dir DIR]`: the challenge's four class files, plus `predictions.csv` (the table
 * submitted), from one prediction table or from several combined by `@covsev/ensemble`
 * (default the mean, the method's ensemble of plain and infection-aware CMC); `--predictions` may
 * be repeated or given as a comma list. `pnpm submit -- --check DIR [--test-dir DIR] [--layout
 * ...]` checks an existing submission folder and lists every problem (exit status 2).
 * Parses the command line and calls `@covsev/pipeline`'s `writeChallengeSubmission` /
 * `checkChallengeSubmission`. `pnpm submit -- merge --out PRED.csv --num-parts N [--test-dir DIR]`
 * joins the part tables of a sharded `pnpm cmc -- predict` (`mergePredictionParts`; docs/sharding.md).
 * `pnpm submit -- --scans TEST_DIR --run RUN_DIR --out DIR` grades a folder of scans with what a
 * run trained (`gradeScans`: stage 1's masks, each classifier's predictions with TTA, the
 * ensemble, as the run did for its val split) and writes the submission.
 */
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  createProgress,
  integerIn,
  oneOf,
  type ProgressReporter,
  parseCliArgs,
  path,
  positiveInteger,
  UsageError,
} from '@covsev/cli';
import { COMBINE_RULES, type CombineRule } from '@covsev/ensemble';
import type { StageEvent } from '@covsev/events';
import { CovsevInputError, type SubmissionLayout } from '@covsev/io';
import {
  checkChallengeSubmission,
  gradeScans,
  listTestScans,
  mergePredictionParts,
  partTablePath,
  writeChallengeSubmission,
} from '@covsev/pipeline';

export const USAGE = [
  'usage: pnpm submit -- --predictions PRED.csv[,PRED2.csv...] [--predictions PRED3.csv ...] --out DIR',
  '                      [--ensemble mean|weighted-mean|vote] [--weights w1,w2,...]',
  '                      [--layout one-per-line|one-row] [--test-dir DIR]',
  '       pnpm submit -- --scans TEST_DIR --run RUN_DIR --out DIR [--tta N] [--checkpoint latest|best]',
  '                      [--work DIR] [--layout one-per-line|one-row]',
  '       pnpm submit -- --check DIR [--test-dir DIR] [--layout one-per-line|one-row]',
  '       pnpm submit -- merge --out PRED.csv --num-parts N [--test-dir DIR]',
  '',
  'Writes mild.csv, moderate.csv, severe.csv, critical.csv and predictions.csv (the table',
  'submitted) into DIR, all replaced together. Several prediction tables (of the same scans) are',
  'combined: --ensemble mean (default; the method: plain CMC + infection-aware CMC), weighted-mean',
  '(needs --weights, one per table, in order) or vote. --test-dir: every scan folder of DIR is',
  'predicted exactly once. --check: validates an existing submission folder, prints every problem',
  '(exit status 2) or a count summary and "ok". --scans: grades every scan folder of TEST_DIR with',
  "what RUN_DIR trained (pnpm demo, pnpm cmc -- train): stage 1's masks where its classifiers read them,",
  "each classifier's predictions (its TTA unless --tta), its ensemble; masks and tables go to --work",
  '(default RUN_DIR/graded/<name of TEST_DIR>), cached and resumable. merge: joins PRED.part-0-of-N.csv .. PRED.part-<N-1>-of-N.csv',
  '(written by pnpm cmc -- predict --num-parts N --part-id K) into PRED.csv, in scan name order;',
  'a missing part, a scan in two parts and (with --test-dir) a missing test scan are refused.',
].join('\n');

export const MERGE_USAGE = [
  'usage: pnpm submit -- merge --out PRED.csv --num-parts N [--test-dir DIR]',
  '  --out PRED.csv    the merged prediction table; the parts are PRED.part-K-of-N.csv beside it',
  '  --num-parts N     how many parts the prediction ran in (pnpm cmc -- predict --num-parts N)',
  '  --test-dir DIR    every scan folder of DIR is predicted by exactly one part',
].join('\n');

/** `merge`: the part tables of `--out` into `--out` (bad input names the file: exit 2). */
async function merge(argv: readonly string[], print: (line: string) => void): Promise<number> {
  const { values } = parseCliArgs(argv, {
    usage: MERGE_USAGE,
    options: {
      out: { type: 'string', parse: path, required: true, valueName: 'PRED.csv' },
      'num-parts': { type: 'string', parse: positiveInteger, required: true, valueName: 'N' },
      'test-dir': { type: 'string', parse: path, valueName: 'DIR' },
    },
  });
  const testDir = values['test-dir'];
  const rows = await mergePredictionParts(values.out, {
    numParts: values['num-parts'],
    ...(testDir === undefined ? {} : { expectedScans: await listTestScans(testDir), expectedFrom: testDir }),
  });
  const n = values['num-parts'];
  print(
    `merge: ${n} part${n === 1 ? '' : 's'} (${partTablePath(values.out, 0, n)}${n > 1 ? ` .. ${partTablePath(values.out, n - 1, n)}` : ''}) -> ${values.out} (${rows.length} scans)`,
  );
  return 0;
}

/** The string options whose value follows them (kept for parseCliArgs when --predictions is taken out). */
const VALUE_FLAGS = new Set([
  '--out',
  '--layout',
  '--test-dir',
  '--ensemble',
  '--weights',
  '--check',
  '--scans',
  '--run',
  '--tta',
  '--checkpoint',
  '--work',
]);

/**
 * Takes every `--predictions X` / `--predictions=X` out of `argv` (repeatable; each may be a
 * comma list): parseCliArgs keeps only the last of a repeated option.
 */
export function takePredictions(argv: readonly string[]): { paths: string[]; rest: string[] } {
  const raw = argv[0] === '--' ? argv.slice(1) : argv.slice();
  const paths: string[] = [];
  const rest: string[] = [];
  const add = (text: string): void => {
    for (const piece of text.split(',')) paths.push(path(piece, '--predictions'));
  };
  for (let i = 0; i < raw.length; i++) {
    const arg = raw[i] as string;
    if (arg === '--') {
      rest.push(...raw.slice(i));
      break;
    }
    if (arg === '--predictions') {
      const value = raw[i + 1];
      if (value === undefined || (value.startsWith('--') && value.length > 2))
        throw new UsageError('--predictions expects a path (see --help)');
      add(value);
      i++;
    } else if (arg.startsWith('--predictions=')) {
      add(arg.slice('--predictions='.length));
    } else if (VALUE_FLAGS.has(arg) && i + 1 < raw.length) {
      rest.push(arg, raw[i + 1] as string);
      i++;
    } else {
      rest.push(arg);
    }
  }
  return { paths, rest };
}

/** `--weights w1,w2,...`: numbers >= 0, not all 0. */
function parseWeights(text: string, flag: string): number[] {
  const weights = text.split(',').map((piece) => {
    const t = piece.trim();
    const w = Number(t);
    if (!/^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/.test(t) || !Number.isFinite(w))
      throw new UsageError(`${flag} expects numbers >= 0 separated by commas, got "${piece}" in "${text}"`);
    return w;
  });
  if (weights.every((w) => w === 0)) throw new UsageError(`${flag}: every weight is 0 (at least one must be > 0)`);
  return weights;
}

/**
 * Refuses an `--out` that is a file or lies under a file (CovsevInputError naming it: exit 2,
 * not an EEXIST / ENOTDIR stack). `writeChallengeSubmission` checks the same; this names the option.
 */
export async function checkOutFolder(out: string): Promise<void> {
  const info = await stat(out).catch(() => undefined);
  if (info !== undefined) {
    if (!info.isDirectory()) throw new CovsevInputError(out, '--out is a file, not a folder');
    return;
  }
  for (let at = dirname(resolve(out)); ; at = dirname(at)) {
    const above = await stat(at).catch(() => undefined);
    if (above !== undefined) {
      if (!above.isDirectory()) throw new CovsevInputError(out, `--out lies under ${at}, which is a file, not a folder`);
      return;
    }
    if (dirname(at) === at) return;
  }
}

/** The stages of `--scans` as lines, with a progress bar (ETA; a line per scan off a terminal) over the scans. */
function stagePrinter(print: (line: string) => void): (event: StageEvent) => void {
  let progress: ProgressReporter | undefined;
  return (event) => {
    const model = event.type === 'stage-start' && typeof event.detail?.model === 'string' ? ` ${event.detail.model}` : '';
    if (event.type === 'stage-start') {
      if (event.stage === 'segment' || event.stage === 'preprocess' || event.stage === 'predict')
        progress = createProgress(`${event.stage}${model}`, event.total ?? 0);
      else print(`submit: ${event.stage}`);
    } else if (event.type === 'stage-progress') {
      progress?.update(event.done, `${event.item ?? ''}${event.cached === true ? ' (cache)' : ''}`);
    } else {
      progress?.finish(event.outputs.join(', '));
      progress = undefined;
      for (const warning of event.warnings ?? []) print(`submit: warning: ${warning}`);
    }
  };
}

/** The first option given, of those that do not go with another one. */
function firstGiven(options: readonly (readonly [string, unknown])[]): string | undefined {
  return options.find(([, value]) => value !== undefined)?.[0];
}

function countSummary(counts: readonly number[]): string {
  return `mild ${counts[0]}, moderate ${counts[1]}, severe ${counts[2]}, critical ${counts[3]}`;
}

/**
 * The command: 0 when written or checked good, 2 when `--check` finds problems; usage mistakes
 * throw UsageError and bad input CovsevInputError (`runCli` prints them, exit 2). `print` gets
 * the summary, `warn` the warnings and the problems.
 */
export async function main(
  argv: readonly string[],
  print: (line: string) => void = console.log,
  warn: (line: string) => void = console.error,
): Promise<number> {
  const args = argv[0] === '--' ? argv.slice(1) : argv;
  if (args[0] === 'merge') return merge(args.slice(1), print);
  const { paths, rest } = takePredictions(argv);
  const { values } = parseCliArgs(rest, {
    usage: USAGE,
    options: {
      out: { type: 'string', parse: path, valueName: 'DIR' },
      layout: { type: 'string', parse: oneOf<SubmissionLayout>(['one-per-line', 'one-row']) },
      'test-dir': { type: 'string', parse: path, valueName: 'DIR' },
      ensemble: { type: 'string', parse: oneOf<CombineRule>(COMBINE_RULES) },
      weights: { type: 'string', parse: parseWeights },
      check: { type: 'string', parse: path, valueName: 'DIR' },
      scans: { type: 'string', parse: path, valueName: 'TEST_DIR' },
      run: { type: 'string', parse: path, valueName: 'RUN_DIR' },
      tta: { type: 'string', parse: integerIn(0, 1000), valueName: 'N' },
      checkpoint: { type: 'string', parse: oneOf<'latest' | 'best'>(['latest', 'best']) },
      work: { type: 'string', parse: path, valueName: 'DIR' },
    },
  });
  const testDir = values['test-dir'];
  const fromScans = ['scans', 'run', 'tta', 'checkpoint', 'work'] as const;
  const given = fromScans.filter((k) => values[k] !== undefined);
  if (given.length > 0) {
    if (values.scans === undefined || values.run === undefined || values.out === undefined)
      throw new UsageError(`--${given[0]} grades scans with a trained run: give --scans, --run and --out (see --help)`);
    const clash = firstGiven([
      ['--predictions', paths.length > 0 ? paths : undefined],
      ['--check', values.check],
      ['--ensemble', values.ensemble],
      ['--weights', values.weights],
      ['--test-dir', values['test-dir']],
    ]);
    if (clash !== undefined)
      throw new UsageError(
        `--scans grades the scans with the run's own models and ensemble: ${clash} does not go with it (see --help)`,
      );
    await checkOutFolder(values.out);
    const graded = await gradeScans({
      scans: values.scans,
      run: values.run,
      out: values.out,
      ...(values.work === undefined ? {} : { work: values.work }),
      ...(values.checkpoint === undefined ? {} : { checkpoint: values.checkpoint }),
      ...(values.tta === undefined ? {} : { tta: { passes: values.tta, seed: 0 } }),
      ...(values.layout === undefined ? {} : { layout: values.layout }),
      onEvent: stagePrinter(print),
    });
    const { submission } = graded;
    for (const line of submission.warnings) warn(`submit: ${line}`);
    for (const table of graded.tables) print(`submit: ${table.name}: ${table.path}`);
    print(
      `submit: ${submission.scans} scans of ${values.scans} graded with ${values.run} -> ${[...submission.files, submission.table].join(', ')} (${countSummary(submission.counts)})`,
    );
    return 0;
  }
  if (values.check !== undefined) {
    const clash = firstGiven([
      ['--predictions', paths.length > 0 ? paths : undefined],
      ['--out', values.out],
      ['--ensemble', values.ensemble],
      ['--weights', values.weights],
    ]);
    if (clash !== undefined)
      throw new UsageError(`--check reads an existing submission: ${clash} does not go with it (see --help)`);
    return check(values.check, values.layout, testDir, print, warn);
  }
  if (paths.length === 0 || values.out === undefined) throw new UsageError(`--predictions and --out are required\n${USAGE}`);
  const twice = paths.find((p, i) => paths.indexOf(p) !== i);
  if (twice !== undefined) throw new UsageError(`--predictions names ${twice} twice (weight it with --weights instead)`);
  const { ensemble, weights } = values;
  if (paths.length === 1 && (ensemble !== undefined || weights !== undefined)) {
    throw new UsageError(
      `${ensemble !== undefined ? '--ensemble' : '--weights'} combines several prediction tables, but --predictions gives one`,
    );
  }
  const rule = paths.length > 1 ? (ensemble ?? 'mean') : undefined;
  if (weights !== undefined && rule !== 'weighted-mean')
    throw new UsageError(`--weights goes with --ensemble weighted-mean only (the rule is ${rule})`);
  if (rule === 'weighted-mean' && weights === undefined)
    throw new UsageError(`--ensemble weighted-mean needs --weights (one per prediction table, ${paths.length})`);
  if (weights !== undefined && weights.length !== paths.length)
    throw new UsageError(`--weights gives ${weights.length} weights for ${paths.length} prediction tables`);
  await checkOutFolder(values.out);
  const submission = await writeChallengeSubmission({
    predictions: paths.length === 1 ? (paths[0] as string) : paths,
    outDir: values.out,
    ...(rule === undefined ? {} : { rule }),
    ...(weights === undefined ? {} : { weights }),
    ...(values.layout === undefined ? {} : { layout: values.layout }),
    ...(testDir === undefined ? {} : { testDir }),
  });
  for (const line of submission.warnings) warn(`submit: ${line}`);
  const from = submission.members > 1 ? ` from ${submission.members} tables (${submission.rule})` : '';
  print(
    `submit: ${submission.scans} scans${from} -> ${[...submission.files, submission.table].join(', ')} (${countSummary(submission.counts)})`,
  );
  return 0;
}

/** `--check DIR`: every problem to `warn` and 2, or the counts and "ok" to `print` and 0. */
async function check(
  dir: string,
  layout: SubmissionLayout | undefined,
  testDir: string | undefined,
  print: (line: string) => void,
  warn: (line: string) => void,
): Promise<number> {
  const result = await checkChallengeSubmission(dir, {
    ...(layout === undefined ? {} : { layout }),
    ...(testDir === undefined ? {} : { testDir }),
  });
  if (result.problems.length > 0) {
    for (const problem of result.problems) warn(problem);
    warn(`check: ${dir}: ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}`);
    return 2;
  }
  for (const line of result.warnings) warn(`check: ${line}`);
  const against = testDir === undefined ? '' : `; every scan folder of ${testDir} (${result.expected}) listed once`;
  print(`check: ${dir}: ${result.scans} scans (${countSummary(result.counts)})${against}`);
  print('ok');
  return 0;
}
