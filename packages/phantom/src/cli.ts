#!/usr/bin/env node
/**
 * `pnpm phantom -- --layout cov19-ct-db --scans 12 --out data/phantom` : writes a deterministic
 * synthetic cohort. Bad arguments print one line and exit 2.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { HelpRequested, integerIn, nonNegativeInteger, oneOf, parseCliArgs, path, UsageError } from '@covsev/cli';
import { isInputError, SEVERITY_CLASSES } from '@covsev/io/core';
import { DEFAULT_COHORT } from './cohort.js';
import { type CohortProgress, LAYOUTS, type Layout, writeCohort } from './layouts.js';

export const USAGE = `covsev phantom: deterministic synthetic chest-CT cohorts with exact ground truth

Usage: pnpm phantom -- --out DIR [options]

  --layout L          cov19-ct-db (JPG slice folders + label CSVs, default) or ct-seg (NIfTI + masks)
  --out DIR           output folder (new, empty, or a previous phantom output, which is replaced)
  --scans N           number of scans (default 12), classes in Table 1 proportions 85:62:85:26
  --seed S            cohort seed, a non-negative integer (default 1); same seed, same bytes
  --slices MIN:MAX    slices per scan, drawn per scan (default ${DEFAULT_COHORT.slices.join(':')}); or one number N
  --size RxC          rows x columns of every slice (default ${DEFAULT_COHORT.rows}x${DEFAULT_COHORT.cols}), e.g. 512x512
  --label-noise P     probability that a scan within 5 points of a class border gets the
                      neighbouring grade as its label (default 0; the truth file keeps both)
  --splits A:B:C      train:val:test proportions (default ${DEFAULT_COHORT.splits.join(':')})
  --quiet             no progress lines
  -h, --help          this text

Writes <out>/phantom_truth.json with each scan's true grade, label and exact involvement.`;

/** A usage error: one line, exit status 2 (the class every covsev command line shares). */
export { UsageError };

export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Milliseconds, for the ETA (injectable for tests). */
  readonly now?: () => number;
}

const defaultIo: CliIo = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

function parseInteger(flag: string, text: string, min: number, max: number): number {
  return integerIn(min, max)(text, flag);
}

function parseSlices(text: string): [number, number] {
  const parts = text.split(':');
  if (parts.length === 1) {
    const n = parseInteger('--slices', text, 1, 4096);
    return [n, n];
  }
  if (parts.length !== 2) throw new UsageError(`--slices expects MIN:MAX or N, got "${text}"`);
  const lo = parseInteger('--slices', parts[0] as string, 1, 4096);
  const hi = parseInteger('--slices', parts[1] as string, 1, 4096);
  if (hi < lo) throw new UsageError(`--slices MIN:MAX needs MIN <= MAX, got ${text}`);
  return [lo, hi];
}

function parseSize(text: string): [number, number] {
  const m = /^(\d+)x(\d+)$/i.exec(text.trim());
  if (m === null) throw new UsageError(`--size expects ROWSxCOLS such as 512x512, got "${text}"`);
  return [parseInteger('--size', m[1] as string, 16, 4096), parseInteger('--size', m[2] as string, 16, 4096)];
}

function parseSplits(text: string): [number, number, number] {
  const parts = text.split(':');
  if (parts.length !== 3) throw new UsageError(`--splits expects TRAIN:VAL:TEST such as 70:15:15, got "${text}"`);
  const nums = parts.map((p) => Number(p));
  if (
    nums.some((n, i) => !/^\s*\d+(\.\d+)?\s*$/.test(parts[i] as string) || !Number.isFinite(n) || n < 0) ||
    !nums.some((n) => n > 0)
  ) {
    throw new UsageError(`--splits needs three non-negative numbers, not all zero, got "${text}"`);
  }
  return nums as [number, number, number];
}

function parseProbability(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1)
    throw new UsageError(`--label-noise expects a probability in [0, 1], got "${text}"`);
  return n;
}

export interface CliOptions {
  readonly layout: Layout;
  readonly out: string;
  readonly scans: number;
  readonly seed: number;
  readonly slices: [number, number];
  readonly rows: number;
  readonly cols: number;
  readonly labelNoise: number;
  readonly splits: [number, number, number];
  readonly quiet: boolean;
}

/** Parses the command line (`@covsev/cli`, as every covsev command); `undefined` means help was asked for. */
export function parseCli(argv: readonly string[]): CliOptions | undefined {
  let values: ReturnType<typeof parsePhantomArgs>;
  try {
    values = parsePhantomArgs(argv);
  } catch (error) {
    if (error instanceof HelpRequested) return undefined;
    throw error;
  }
  const [rows, cols] = values.size;
  return {
    layout: values.layout,
    out: values.out,
    scans: values.scans,
    seed: values.seed,
    slices: values.slices,
    rows,
    cols,
    labelNoise: values['label-noise'],
    splits: values.splits,
    quiet: values.quiet,
  };
}

function parsePhantomArgs(argv: readonly string[]) {
  return parseCliArgs(argv, {
    usage: USAGE,
    options: {
      layout: { type: 'string', parse: oneOf<Layout>(LAYOUTS), default: 'cov19-ct-db' },
      out: { type: 'string', parse: path, required: true, valueName: 'DIR' },
      scans: { type: 'string', parse: integerIn(1, 100000), default: 12 },
      seed: { type: 'string', parse: nonNegativeInteger, default: 1 },
      slices: {
        type: 'string',
        parse: parseSlices,
        default: [DEFAULT_COHORT.slices[0], DEFAULT_COHORT.slices[1]] as [number, number],
      },
      size: { type: 'string', parse: parseSize, default: [DEFAULT_COHORT.rows, DEFAULT_COHORT.cols] as [number, number] },
      'label-noise': { type: 'string', parse: parseProbability, default: 0 },
      splits: { type: 'string', parse: parseSplits, default: [...DEFAULT_COHORT.splits] as [number, number, number] },
      quiet: { type: 'boolean' },
    },
  }).values;
}

function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - 60 * m)} s`;
}

/** Runs the CLI; resolves to the exit status. */
export async function main(argv: readonly string[], io: CliIo = defaultIo): Promise<number> {
  let options: CliOptions | undefined;
  try {
    options = parseCli(argv);
  } catch (error) {
    io.err(`phantom: ${(error as Error).message}`);
    return 2;
  }
  if (options === undefined) {
    io.out(USAGE);
    return 0;
  }
  const now = io.now ?? (() => performance.now());
  const start = now();
  const names = SEVERITY_CLASSES;
  const onProgress = (p: CohortProgress): void => {
    if (options.quiet) return;
    const elapsed = (now() - start) / 1000;
    const eta = (elapsed / p.done) * (p.total - p.done);
    const s = p.scan;
    io.err(
      `[${p.done}/${p.total}] ${s.name} ${s.split} ${names[s.trueCategory - 1]}${s.labelFlipped ? ` (labelled ${names[s.category - 1]})` : ''} ` +
        `${s.slices} slices ${(100 * s.involvement).toFixed(1)}% involved, elapsed ${formatSeconds(elapsed)}, ETA ${formatSeconds(eta)}`,
    );
  };
  try {
    const manifest = await writeCohort({
      layout: options.layout,
      out: options.out,
      scans: options.scans,
      seed: options.seed,
      slices: options.slices,
      rows: options.rows,
      cols: options.cols,
      labelNoise: options.labelNoise,
      splits: options.splits,
      onProgress,
    });
    const count = (split: string): number => manifest.scans.filter((s) => s.split === split).length;
    io.out(
      `phantom: wrote ${manifest.scans.length} scans (${options.layout}; train ${count('train')}, val ${count('val')}, test ${count('test')}) to ${options.out} in ${formatSeconds((now() - start) / 1000)}`,
    );
    return 0;
  } catch (error) {
    if (isInputError(error) || error instanceof RangeError || error instanceof UsageError) {
      io.err(`phantom: ${(error as Error).message}`);
      return 2;
    }
    io.err(`phantom: failed: ${(error as Error).stack ?? String(error)}`);
    return 1;
  }
}

function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`phantom: ${String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
