import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writePredictionCsv } from '@covsev/io';
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
    expect(await main(['--', '--predictions', predictions, '--out', join(dir, 'out'), '--test-dir', join(dir, 'test')])).toBe(0);
    expect(await readFile(join(dir, 'out', 'moderate.csv'), 'utf8')).toBe('ct_scan_0\n');
    expect(await readFile(join(dir, 'out', 'critical.csv'), 'utf8')).toBe('ct_scan_1\n');
    await mkdir(join(dir, 'test', 'ct_scan_2'));
    await expect(
      main(['--predictions', predictions, '--out', join(dir, 'out2'), '--test-dir', join(dir, 'test')]),
    ).rejects.toThrow(/have no prediction: ct_scan_2/);
    await expect(main(['--out', 'x'])).rejects.toThrow(/--predictions and --out are required/);
  });
});
