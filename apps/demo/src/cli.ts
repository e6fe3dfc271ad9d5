#!/usr/bin/env node
// `pnpm demo [-- --out DIR --seed S --scans N --epochs E --workers W --view-workers V]`: a thin shell over runDemo.
import { parseArgs } from 'node:util';
import { isInputError } from '@covsev/io';
import { DEFAULT_DEMO, runDemo } from './demo.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: DEFAULT_DEMO.out },
      seed: { type: 'string', default: String(DEFAULT_DEMO.seed) },
      scans: { type: 'string', default: String(DEFAULT_DEMO.scans) },
      epochs: { type: 'string', default: String(DEFAULT_DEMO.epochs) },
      workers: { type: 'string', default: String(DEFAULT_DEMO.workers ?? 0) },
      'view-workers': { type: 'string', default: String(DEFAULT_DEMO.viewWorkers ?? 0) },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(
      'usage: pnpm demo [-- --out DIR] [--seed S] [--scans N] [--epochs E] [--workers W (gradient threads, 0: main)] [--view-workers V]',
    );
    return;
  }
  const seed = Number(values.seed);
  const scans = Number(values.scans);
  if (!Number.isInteger(seed) || seed < 0) throw new UsageError(`--seed must be a non-negative integer, got "${values.seed}"`);
  if (!Number.isInteger(scans) || scans < 4) throw new UsageError(`--scans must be an integer >= 4, got "${values.scans}"`);
  const epochs = Number(values.epochs);
  if (!Number.isInteger(epochs) || epochs < 1)
    throw new UsageError(`--epochs must be a positive integer, got "${values.epochs}"`);
  const [workers, viewWorkers] = [values.workers, values['view-workers']].map(Number) as [number, number];
  if (!Number.isInteger(workers) || workers < 0)
    throw new UsageError(`--workers must be an integer >= 0, got "${values.workers}"`);
  if (!Number.isInteger(viewWorkers) || viewWorkers < 0)
    throw new UsageError(`--view-workers must be an integer >= 0, got "${values['view-workers']}"`);
  const t0 = performance.now();
  await runDemo({ ...DEFAULT_DEMO, out: values.out, seed, scans, epochs, workers, viewWorkers });
  console.log(`demo done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

class UsageError extends Error {}

main().catch((error: unknown) => {
  if (
    error instanceof UsageError ||
    isInputError(error) ||
    (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
  ) {
    console.error(`pnpm demo: ${(error as Error).message}`);
    process.exit(2);
  }
  throw error;
});
