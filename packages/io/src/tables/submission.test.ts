import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSubmission, writeSubmission } from './submission.js';

const entries = [
  { name: 'ct_scan_10', category: 1 },
  { name: 'ct_scan_2', category: 1 },
  { name: 'ct_scan_3', category: 4 },
  { name: 'ct_scan_7', category: 3 },
] as const;

describe('challenge submission files', () => {
  it('writes one name per line, in natural order, and reads it back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-sub-'));
    await writeSubmission({ outDir: dir, entries, expectedScans: ['ct_scan_2', 'ct_scan_3', 'ct_scan_7', 'ct_scan_10'] });
    expect(await readFile(join(dir, 'mild.csv'), 'utf8')).toBe('ct_scan_2\nct_scan_10\n');
    expect(await readFile(join(dir, 'moderate.csv'), 'utf8')).toBe('');
    expect(await readFile(join(dir, 'critical.csv'), 'utf8')).toBe('ct_scan_3\n');
    const back = await readSubmission(dir);
    expect(back.map((e) => `${e.name}:${e.category}`).sort()).toEqual([
      'ct_scan_10:1',
      'ct_scan_2:1',
      'ct_scan_3:4',
      'ct_scan_7:3',
    ]);
  });

  it('writes and reads the one-row layout', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-sub-'));
    await writeSubmission({ outDir: dir, entries, layout: 'one-row' });
    expect(await readFile(join(dir, 'mild.csv'), 'utf8')).toBe('ct_scan_2,ct_scan_10\n');
    expect(await readSubmission(dir)).toHaveLength(4);
  });

  it('refuses missing, extra and doubled scans, naming them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-sub-'));
    await expect(
      writeSubmission({
        outDir: dir,
        entries,
        expectedScans: ['ct_scan_2', 'ct_scan_3', 'ct_scan_7', 'ct_scan_10', 'ct_scan_11'],
      }),
    ).rejects.toThrow(/1 test scan\(s\) have no prediction: ct_scan_11/);
    await expect(
      writeSubmission({ outDir: dir, entries, expectedScans: ['ct_scan_2', 'ct_scan_3', 'ct_scan_7'] }),
    ).rejects.toThrow(/1 prediction\(s\) name no test scan: ct_scan_10/);
    await expect(writeSubmission({ outDir: dir, entries: [...entries, { name: 'ct_scan_2', category: 2 }] })).rejects.toThrow(
      /"ct_scan_2" is predicted twice/,
    );
    await writeSubmission({ outDir: dir, entries });
    await writeFile(join(dir, 'severe.csv'), 'ct_scan_7\nct_scan_3\n');
    await expect(readSubmission(dir)).rejects.toThrow(/critical\.csv: scan "ct_scan_3" is also listed in severe\.csv/);
  });
});
