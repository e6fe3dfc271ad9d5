import { runCli } from '@covsev/cli';
import { describe, expect, it } from 'vitest';
import { DEFAULT_DEMO, type DemoOptions, type DemoSummary } from './demo.js';
import { main, parseDemoArgs } from './main.js';

/** Runs the demo's command line with a stand-in for the demo; returns the exit status and what it printed. */
async function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const ran: DemoOptions[] = [];
  const fake = async (options: DemoOptions): Promise<DemoSummary> => {
    ran.push(options);
    const segmentation = {
      lungEpochsRun: 0,
      lesionEpochsRun: 0,
      lungValIoU: 0,
      lesionValIoU: 0,
      masksDir: '',
      scans: [],
      cached: 0,
      involvement: { r: 0, meanAbsDiff: 0, bias: 0 },
      lungRatio: { median: 0, min: 0, max: 0 },
    };
    return {
      preprocessed: 0,
      cacheHits: 0,
      montages: [],
      labelMacroF1: 0,
      models: [],
      ensembleValMacroF1: 0,
      report: { table: '', path: '', figures: [] },
      submission: [],
      submissionChecked: true,
      segmentation,
      classifierEpochsRun: {},
      classifierInChannels: {},
    };
  };
  const code = await runCli('demo', (args) => main(args, fake, (l) => out.push(l)), {
    argv,
    streams: { out: (t) => out.push(t), err: (t) => err.push(t) },
    exit: () => {},
  });
  return { code, out, err, ran };
}

describe('pnpm demo command line', () => {
  it('takes the documented `pnpm demo -- --workers 0` form (the leading -- skipped)', async () => {
    const { code, ran, err } = await cli(['--', '--workers', '0', '--view-workers', '1', '--epochs', '2', '--seg-epochs', '3']);
    expect(err).toEqual([]);
    expect(code).toBe(0);
    expect(ran).toEqual([{ ...DEFAULT_DEMO, workers: 0, viewWorkers: 1, epochs: 2, segEpochs: 3 }]);
  });

  it('refuses bad values with the option named and exit status 2, never a stack trace', async () => {
    for (const [argv, message] of [
      [['--workers', '-1'], /^pnpm demo: --workers must not be negative, got "-1"$/],
      [['--', '--out'], /^pnpm demo: .*'--out <value>' argument missing/],
      [['--scans', '3'], /^pnpm demo: --scans must be in 4\.\./],
      [['--epochs', 'two'], /^pnpm demo: --epochs expects an integer, got "two"/],
      [['--seg-epochs', '0'], /^pnpm demo: --seg-epochs /],
      [['--seed', '1.5'], /^pnpm demo: --seed expects an integer/],
      [['--frobnicate'], /^pnpm demo: .*frobnicate/],
    ] as const) {
      const { code, err, ran } = await cli([...argv]);
      expect(code, argv.join(' ')).toBe(2);
      expect(err).toHaveLength(1);
      expect(err[0]).toMatch(message);
      expect(err[0]).not.toMatch(/\n\s+at /);
      expect(ran).toEqual([]);
    }
  });

  it('prints its usage for --help and exits 0 without running', async () => {
    const { code, out, ran } = await cli(['--', '--help']);
    expect(code).toBe(0);
    expect(out[0]).toMatch(/^usage: pnpm demo/);
    expect(ran).toEqual([]);
    expect(parseDemoArgs([])).toEqual(DEFAULT_DEMO);
  });
});
