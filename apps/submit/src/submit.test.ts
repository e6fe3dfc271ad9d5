import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CovsevInputError, writePredictionCsv } from '@covsev/io';
import { describe, expect, it } from 'vitest';
import { main } from './submit.js';

describe('pnpm submit', () => {
  it('turns a prediction table into the four class files, checked against the test folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-submit-'));
    const predictions = join(dir, 'pred.csv');
    await writePredictionCsv(predictions, [
      { name: 'ct_scan_0', category: 2, probabilities: [0.1, 0.7, 0.1, 0.1] },
      { name: 'ct_scan_1', category: 4, probabilities: [0.1, 0.1, 0.1, 0.7] },
    ]);
    for (const n of ['ct_scan_0', 'ct_scan_1']) await mkdir(join(dir, 'test', n), { recursive: true });
    const quiet = () => undefined;
    expect(
      await main(['--', '--predictions', predictions, '--out', join(dir, 'out'), '--test-dir', join(dir, 'test')], quiet, quiet),
    ).toBe(0);
    expect(await readFile(join(dir, 'out', 'moderate.csv'), 'utf8')).toBe('ct_scan_0\n');
    expect(await readFile(join(dir, 'out', 'critical.csv'), 'utf8')).toBe('ct_scan_1\n');
    await mkdir(join(dir, 'test', 'ct_scan_2'));
    await expect(
      main(['--predictions', predictions, '--out', join(dir, 'out2'), '--test-dir', join(dir, 'test')]),
    ).rejects.toThrow(/have no prediction: ct_scan_2/);
    await expect(main(['--out', 'x'])).rejects.toThrow(/--predictions and --out are required/);
  });
});

describe('pnpm submit: --out', () => {
  it('refuses --out pointing at a file, or at a path under a file, as bad input naming the path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-submit-'));
    const predictions = join(dir, 'pred.csv');
    await writePredictionCsv(predictions, [{ name: 'ct_scan_0', category: 2, probabilities: [0.1, 0.7, 0.1, 0.1] }]);
    const file = join(dir, 'taken.txt');
    await writeFile(file, 'x');
    const run = (out: string) => main(['--predictions', predictions, '--out', out], () => undefined);
    await expect(run(file)).rejects.toThrow(CovsevInputError);
    await expect(run(file)).rejects.toThrow(`${file}: --out is a file, not a folder`);
    await expect(run(join(file, 'sub'))).rejects.toThrow(CovsevInputError);
    await expect(run(join(file, 'sub'))).rejects.toThrow(
      `${join(file, 'sub')}: --out lies under ${file}, which is a file, not a folder`,
    );
    expect(await readFile(file, 'utf8')).toBe('x');
  });
});

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const distCli = join(repoRoot, 'apps', 'submit', 'dist', 'cli.js');

describe('pnpm submit: the built command line', () => {
  // The old cli.ts ran main() only when `import.meta.url === file://${process.argv[1]}`, which is
  // false when the path holds a space (%20 in the URL) or goes through a symlink (Node runs the
  // real path): it then exited 0 having done nothing.
  it.skipIf(!existsSync(distCli))(
    'runs through a symlink in a folder whose name has a space, and exits 2 on bad input',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'covsev submit '));
      await symlink(repoRoot, join(dir, 'the repo'), 'dir');
      const cli = join(dir, 'the repo', 'apps', 'submit', 'dist', 'cli.js');
      const predictions = join(dir, 'pred.csv');
      await writePredictionCsv(predictions, [
        { name: 'ct_scan_0', category: 2, probabilities: [0.1, 0.7, 0.1, 0.1] },
        { name: 'ct_scan_1', category: 4, probabilities: [0.1, 0.1, 0.1, 0.7] },
      ]);
      const out = join(dir, 'out folder');
      const ok = spawnSync(process.execPath, [cli, '--predictions', predictions, '--out', out], { encoding: 'utf8' });
      expect({ status: ok.status, stderr: ok.stderr }).toEqual({
        status: 0,
        stderr: 'submit: warning: no scan is graded mild, severe (mild.csv, severe.csv are empty)\n',
      });
      expect(ok.stdout).toMatch(/submit: 2 scans/);
      expect((await readdir(out)).sort()).toEqual(['critical.csv', 'mild.csv', 'moderate.csv', 'predictions.csv', 'severe.csv']);
      expect(await readFile(join(out, 'critical.csv'), 'utf8')).toBe('ct_scan_1\n');
      const bad = spawnSync(process.execPath, [cli, '--predictions', predictions, '--out', predictions], { encoding: 'utf8' });
      expect(bad.status).toBe(2);
      expect(bad.stderr).toBe(`pnpm submit: ${predictions}: --out is a file, not a folder\n`);
    },
  );
  if (!existsSync(distCli)) {
    it.skip(`needs ${distCli}: run \`pnpm --filter @covsev/submit... build\` first`, () => undefined);
  }
});
