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

describe('label CSVs: hardening', () => {
  it.each([
    ['ct_scan,1', 'Name;Category\nct_scan,1;2\n'],
    ['ct scan 1', 'Name;Category\nct scan 1;2\n'],
    ['ct_scan_"1', 'Name;Category\nct_scan_"1;2\n'],
    ['ct_scan\t1', 'Name;Category\nct_scan\t1;2\n'],
    ['..', 'Name;Category\n..;2\n'],
    ['-ct_scan_1', 'Name;Category\n-ct_scan_1;2\n'],
    ['a;b', 'Name;Category\n"a;b";2\n'],
  ])('refuses the scan name %j with file, line and the name', (name, text) => {
    expect(() => parseLabelCsv(text, 'x.csv')).toThrow(CovsevInputError);
    expect(() => parseLabelCsv(text, 'x.csv')).toThrow(`x.csv:2: bad scan name ${JSON.stringify(name)}`);
  });

  it('accepts names with letters, digits, "_", "-" and "."', () => {
    expect(parseLabelCsv('Name;Category\nct_scan_1;1\nCT-scan.2;2\n_x;3\n', 'x.csv').map((r) => r.name)).toEqual([
      'ct_scan_1',
      'CT-scan.2',
      '_x',
    ]);
  });

  it('writeLabelCsv refuses a name the challenge does not accept, writing nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-labels-'));
    const path = join(dir, 'labels.csv');
    await expect(
      writeLabelCsv(path, [
        { name: 'ct_scan_1', category: 1 },
        { name: 'ct_scan;2', category: 2 },
      ]),
    ).rejects.toThrow(/labels\.csv:3: bad scan name "ct_scan;2"/);
    await expect(readFile(path)).rejects.toThrow(/ENOENT/);
  });

  it.each([
    ['Name;Category\nct_scan_1;1\n\nct_scan_2;9\n', 4],
    ['Name;Category\n\n\nct_scan_1;9\n', 4],
    ['Name;Category\r\nct_scan_1;1\r\n\r\n  \r\nct_scan_2;x\r\n', 5],
    ['Name;Category\n"ct_scan_1";1\n\nct_scan_2;1\nct_scan_2;1\n', 5],
  ])('reports the true file line after blank lines: %j', (text, line) => {
    expect(() => parseLabelCsv(text, 'x.csv')).toThrow(new RegExp(`^x\\.csv:${line}: `));
  });

  it('refuses a label file with only its header, or warns with allowEmpty', async () => {
    expect(() => parseLabelCsv('Name;Category\n', 'x.csv')).toThrow(/x\.csv: no labels \(only the header\)/);
    expect(() => parseLabelCsv('Name;Category\n\n\n', 'x.csv')).toThrow(CovsevInputError);
    const warnings: string[] = [];
    expect(parseLabelCsv('Name;Category\n', 'x.csv', { allowEmpty: true, onWarning: (m) => warnings.push(m) })).toEqual([]);
    expect(warnings).toEqual(['x.csv: no labels (only the header)']);
    const dir = await mkdtemp(join(tmpdir(), 'covsev-labels-'));
    const path = join(dir, 'val.csv');
    await writeLabelCsv(path, []);
    await expect(readLabelCsv(path)).rejects.toThrow(/val\.csv: no labels/);
    expect(await readLabelCsv(path, { allowEmpty: true, onWarning: () => undefined })).toEqual([]);
  });
});
