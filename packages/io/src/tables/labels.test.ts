import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CovsevInputError } from '../errors.js';
import { parseLabelCsv, readLabelCsv, writeLabelCsv } from './labels.js';

describe('label CSVs (Name;Category)', () => {
  it('parses the challenge layout, with a BOM and blank lines', () => {
    const rows = parseLabelCsv('\uFEFFName;Category\nct_scan_1;1\n\nct_scan_10;4\nct_scan_2;3\n', 'x.csv');
    expect(rows).toEqual([
      { name: 'ct_scan_1', category: 1 },
      { name: 'ct_scan_10', category: 4 },
      { name: 'ct_scan_2', category: 3 },
    ]);
  });

  it.each([
    ['Name;Category\nct_scan_1;5\n', /x\.csv:2: .*unknown category/],
    ['Name;Category\nct_scan_1;1\nct_scan_2;mild\n', /x\.csv:3: .*category/],
    ['Name;Category\nct_scan_1;1\nct_scan_1;2\n', /x\.csv:3: duplicate scan name "ct_scan_1" \(first on line 2\)/],
    ['Scan,Label\nct_scan_1,1\n', /x\.csv:1: label file needs the header "Name;Category"/],
    ['Name;Category\n;2\n', /x\.csv:2: .*empty scan name/],
    ['Name;Category\nct_scan_1;2.5\n', /x\.csv:2: .*integer/],
  ])('refuses bad rows with file and line: %j', (text, message) => {
    expect(() => parseLabelCsv(text, 'x.csv')).toThrow(CovsevInputError);
    expect(() => parseLabelCsv(text, 'x.csv')).toThrow(message);
  });

  it('round-trips through writeLabelCsv, and checks scan folders exist', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-labels-'));
    await mkdir(join(dir, 'train', 'mild', 'ct_scan_0'), { recursive: true });
    await mkdir(join(dir, 'train', 'critical', 'ct_scan_7'), { recursive: true });
    const path = join(dir, 'train_partition_covid_categories.csv');
    await writeLabelCsv(path, [
      { name: 'ct_scan_0', category: 1 },
      { name: 'ct_scan_7', category: 4 },
    ]);
    expect(await readFile(path, 'utf8')).toBe('Name;Category\nct_scan_0;1\nct_scan_7;4\n');
    expect(await readLabelCsv(path, { scanRoots: [join(dir, 'train')] })).toHaveLength(2);
    await writeFile(path, 'Name;Category\nct_scan_0;1\nct_scan_9;2\n');
    await expect(readLabelCsv(path, { scanRoots: [join(dir, 'train')] })).rejects.toThrow(/:3: scan "ct_scan_9" has no folder/);
    await expect(readLabelCsv(join(dir, 'missing.csv'))).rejects.toThrow(/missing\.csv: cannot read label file/);
  });
});
