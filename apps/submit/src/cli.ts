#!/usr/bin/env node
// `pnpm submit -- --predictions PRED.csv --out DIR [--layout one-per-line|one-row] [--test-dir DIR]`
// A thin shell over @covsev/io's readPredictionCsv + writeSubmission.
import { readdir } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { CovsevInputError, isInputError, readPredictionCsv, type SubmissionLayout, writeSubmission } from '@covsev/io';

const USAGE = 'usage: pnpm submit -- --predictions PRED.csv --out DIR [--layout one-per-line|one-row] [--test-dir DIR]';

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv.filter((a, i) => !(i === 0 && a === '--')),
    options: {
      predictions: { type: 'string' },
      out: { type: 'string' },
      layout: { type: 'string', default: 'one-per-line' },
      'test-dir': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.predictions === undefined || values.out === undefined)
    throw new UsageError(`--predictions and --out are required\n${USAGE}`);
  if (values.layout !== 'one-per-line' && values.layout !== 'one-row')
    throw new UsageError(`--layout must be one-per-line or one-row, got "${values.layout}"`);
  const rows = await readPredictionCsv(values.predictions);
  let expectedScans: string[] | undefined;
  const testDir = values['test-dir'];
  if (testDir !== undefined) {
    try {
      expectedScans = (await readdir(testDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch (error) {
      throw new CovsevInputError(testDir, `cannot list the test folder: ${(error as Error).message}`);
    }
  }
  const paths = await writeSubmission({
    outDir: values.out,
    entries: rows.map((r) => ({ name: r.name, category: r.category })),
    layout: values.layout as SubmissionLayout,
    ...(expectedScans === undefined ? {} : { expectedScans }),
  });
  const counts = [1, 2, 3, 4].map((c) => rows.filter((r) => r.category === c).length);
  console.log(
    `submit: ${rows.length} scans -> ${paths.join(', ')} (mild ${counts[0]}, moderate ${counts[1]}, severe ${counts[2]}, critical ${counts[3]})`,
  );
  return 0;
}

class UsageError extends Error {}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      if (error instanceof UsageError || isInputError(error) || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
        console.error(`pnpm submit: ${(error as Error).message}`);
        process.exit(2);
      }
      throw error;
    },
  );
}
