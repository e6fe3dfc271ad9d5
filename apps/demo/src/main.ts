/**
 * `pnpm demo [-- --out DIR --seed S --scans N --epochs E --seg-epochs E --workers W --view-workers V]`: parses the
 * command line (`@covsev/cli`: bad values are refused with the option's name) and calls runDemo.
 */
import { integerIn, nonNegativeInteger, parseCliArgs, path, positiveInteger } from '@covsev/cli';
import { DEFAULT_DEMO, type DemoOptions, type DemoSummary, runDemo } from './demo.js';

export const USAGE =
  'usage: pnpm demo [-- --out DIR] [--seed S] [--scans N (>= 4)] [--epochs E] [--seg-epochs E (each stage 1 model)] [--workers W (gradient threads, 0: main)] [--view-workers V]';

/** The demo's options from its command line. */
export function parseDemoArgs(argv: readonly string[]): DemoOptions {
  const { values } = parseCliArgs(argv, {
    usage: USAGE,
    options: {
      out: { type: 'string', parse: path, default: DEFAULT_DEMO.out },
      seed: { type: 'string', parse: nonNegativeInteger, default: DEFAULT_DEMO.seed },
      scans: { type: 'string', parse: integerIn(4, 100_000), default: DEFAULT_DEMO.scans },
      epochs: { type: 'string', parse: positiveInteger, default: DEFAULT_DEMO.epochs },
      'seg-epochs': { type: 'string', parse: positiveInteger, default: DEFAULT_DEMO.segEpochs },
      workers: { type: 'string', parse: nonNegativeInteger, default: DEFAULT_DEMO.workers ?? 0 },
      'view-workers': { type: 'string', parse: nonNegativeInteger, default: DEFAULT_DEMO.viewWorkers ?? 0 },
    },
  });
  return {
    ...DEFAULT_DEMO,
    out: values.out,
    seed: values.seed,
    scans: values.scans,
    epochs: values.epochs,
    segEpochs: values['seg-epochs'],
    workers: values.workers,
    viewWorkers: values['view-workers'],
  };
}

export async function main(
  argv: readonly string[],
  run: (options: DemoOptions) => Promise<DemoSummary> = runDemo,
  print: (line: string) => void = console.log,
): Promise<number> {
  const options = parseDemoArgs(argv);
  const t0 = performance.now();
  await run(options);
  print(`demo done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return 0;
}
