#!/usr/bin/env node
// `pnpm demo [-- --out DIR --seed S --scans N --epochs E --workers W --view-workers V]`: parses the
// command line and calls runDemo; exit statuses from `runCli`.
import { integerIn, nonNegativeInteger, parseCliArgs, path, positiveInteger, runCli } from '@covsev/cli';
import { DEFAULT_DEMO, runDemo } from './demo.js';

const USAGE =
  'usage: pnpm demo [-- --out DIR] [--seed S] [--scans N (>= 4)] [--epochs E] [--workers W (gradient threads, 0: main)] [--view-workers V]';

async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseCliArgs(argv, {
    usage: USAGE,
    options: {
      out: { type: 'string', parse: path, default: DEFAULT_DEMO.out },
      seed: { type: 'string', parse: nonNegativeInteger, default: DEFAULT_DEMO.seed },
      scans: { type: 'string', parse: integerIn(4, 100_000), default: DEFAULT_DEMO.scans },
      epochs: { type: 'string', parse: positiveInteger, default: DEFAULT_DEMO.epochs },
      workers: { type: 'string', parse: nonNegativeInteger, default: DEFAULT_DEMO.workers ?? 0 },
      'view-workers': { type: 'string', parse: nonNegativeInteger, default: DEFAULT_DEMO.viewWorkers ?? 0 },
    },
  });
  const t0 = performance.now();
  await runDemo({
    ...DEFAULT_DEMO,
    out: values.out,
    seed: values.seed,
    scans: values.scans,
    epochs: values.epochs,
    workers: values.workers,
    viewWorkers: values['view-workers'],
  });
  console.log(`demo done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return 0;
}

await runCli('demo', main);
