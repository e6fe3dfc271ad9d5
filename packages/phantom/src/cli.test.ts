import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main, parseCli } from './cli.js';
import { TRUTH_FILE } from './layouts.js';

const roots: string[] = [];
afterAll(async () => {
  for (const dir of roots) await rm(dir, { recursive: true, force: true });
});

async function run(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  let t = 0;
  const code = await main(argv, { out: (s) => out.push(s), err: (s) => err.push(s), now: () => (t += 1000) });
  return { code, out, err };
}

describe('phantom CLI', () => {
  it('prints help and exits 0', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.out.join('\n')).toMatch(/--layout L/);
    expect(r.out.join('\n')).toMatch(/--label-noise P/);
  });

  it.each([
    [['--scans', '3'], /--out DIR is required/],
    [['--out', 'x', '--layout', 'dicom'], /--layout must be one of cov19-ct-db, ct-seg, got "dicom"/],
    [['--out', 'x', '--scans', 'many'], /--scans expects an integer, got "many"/],
    [['--out', 'x', '--scans', '0'], /--scans must be in 1\.\.100000/],
    [['--out', 'x', '--size', '512'], /--size expects ROWSxCOLS/],
    [['--out', 'x', '--slices', '9:3'], /MIN <= MAX/],
    [['--out', 'x', '--slices', '1:2:3'], /--slices expects MIN:MAX or N/],
    [['--out', 'x', '--label-noise', '2'], /--label-noise expects a probability in \[0, 1\]/],
    [['--out', 'x', '--splits', '70:30'], /--splits expects TRAIN:VAL:TEST/],
    [['--out', 'x', '--seed', '-4'], /--seed must not be negative, got "-4"/],
    [['--out', 'x', '--frobnicate'], /Unknown option '--frobnicate'/],
    [['--out', 'x', 'stray'], /positional/i],
  ])('refuses %j with one line and exit 2', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(/^phantom: /);
    expect(r.err[0]).toMatch(message);
    expect(r.out).toEqual([]);
  });

  it('accepts the `--` pnpm passes through, and parses every option', () => {
    const o = parseCli([
      '--',
      '--layout',
      'ct-seg',
      '--out',
      'd',
      '--scans',
      '5',
      '--seed',
      '9',
      '--slices',
      '20',
      '--size',
      '128x96',
      '--label-noise',
      '0.2',
      '--splits',
      '8:1:1',
      '--quiet',
    ]);
    expect(o).toEqual({
      layout: 'ct-seg',
      out: 'd',
      scans: 5,
      seed: 9,
      slices: [20, 20],
      rows: 128,
      cols: 96,
      labelNoise: 0.2,
      splits: [8, 1, 1],
      quiet: true,
    });
  });

  it('writes a cohort with progress lines and an ETA', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-phantom-cli-'));
    roots.push(dir);
    const out = join(dir, 'cohort');
    const r = await run([
      '--',
      '--layout',
      'cov19-ct-db',
      '--scans',
      '4',
      '--out',
      out,
      '--seed',
      '2',
      '--slices',
      '4:6',
      '--size',
      '32x32',
    ]);
    expect(r.code).toBe(0);
    expect(r.err).toHaveLength(4);
    expect(r.err[0]).toMatch(
      /^\[1\/4\] ct_scan_0 train (Mild|Moderate|Severe|Critical) \d+ slices [\d.]+% involved, elapsed .* s, ETA .* s$/,
    );
    expect(r.out[0]).toMatch(/wrote 4 scans \(cov19-ct-db; train \d, val \d, test \d\)/);
    expect(await readdir(out)).toContain(TRUTH_FILE);
    const truth = JSON.parse(await readFile(join(out, TRUTH_FILE), 'utf8')) as { scans: unknown[] };
    expect(truth.scans).toHaveLength(4);
  });

  it('refuses a foreign non-empty output folder with exit 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-phantom-cli-'));
    roots.push(dir);
    await writeFile(join(dir, 'keep.txt'), 'x');
    const r = await run(['--out', dir, '--scans', '1', '--slices', '3', '--size', '32x32']);
    expect(r.code).toBe(2);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(/not empty/);
  });
});
