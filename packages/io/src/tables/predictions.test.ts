import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CovsevInputError } from '../errors.js';
import { type PredictionRow, readPredictionCsv, writePredictionCsv } from './predictions.js';

describe('prediction tables', () => {
  it('round-trips rows', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-pred-'));
    const rows: PredictionRow[] = [
      { name: 'ct_scan_3', category: 2, probabilities: [0.1, 0.6, 0.2, 0.1] },
      { name: 'ct_scan_4', category: 4, probabilities: [0.05, 0.05, 0.3, 0.6] },
    ];
    await writePredictionCsv(join(dir, 'p.csv'), rows);
    const back = await readPredictionCsv(join(dir, 'p.csv'));
    expect(back.map((r) => r.name)).toEqual(['ct_scan_3', 'ct_scan_4']);
    expect(back[1]?.category).toBe(4);
    back.forEach((r, i) => r.probabilities.forEach((p, k) => expect(p).toBeCloseTo(rows[i]?.probabilities[k] ?? NaN, 8)));
  });

  it("carries each scan's involvement in an optional column: written only when a row has one, blank where unknown, checked on reading", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-pred-'));
    const path = join(dir, 'p.csv');
    const rows: PredictionRow[] = [
      { name: 'ct_scan_3', category: 2, probabilities: [0.1, 0.6, 0.2, 0.1], involvement: 0.3141592653 },
      { name: 'ct_scan_4', category: 4, probabilities: [0.05, 0.05, 0.3, 0.6] },
    ];
    await writePredictionCsv(path, rows);
    const text = await readFile(path, 'utf8');
    expect(text.split('\n')[0]).toBe('name,category,p_mild,p_moderate,p_severe,p_critical,involvement');
    expect(text.split('\n')[1]?.endsWith(',0.314159')).toBe(true);
    expect(text.split('\n')[2]?.endsWith('0.600000000,')).toBe(true);
    const back = await readPredictionCsv(path);
    expect(back[0]?.involvement).toBe(0.314159);
    expect('involvement' in (back[1] as object)).toBe(false);
    // Without any involvement the table has its six columns, as before.
    await writePredictionCsv(
      path,
      rows.map(({ name, category, probabilities }) => ({ name, category, probabilities })),
    );
    expect((await readFile(path, 'utf8')).split('\n')[0]).toBe(HEADER);
    await expect(writePredictionCsv(path, [{ ...(rows[0] as PredictionRow), involvement: 1.5 }])).rejects.toThrow(
      /p\.csv:2: involvement: 1\.5 is not a fraction in \[0, 1\]/,
    );
    await writeFile(path, `${HEADER},involvement\nct_scan_1,1,1,0,0,0,-0.2\n`);
    await expect(readPredictionCsv(path)).rejects.toThrow(/p\.csv:2: involvement: "-0\.2" is not a fraction in \[0, 1\]/);
    await writeFile(path, `${HEADER},involvement\nct_scan_1,1,1,0,0,0,lots\n`);
    await expect(readPredictionCsv(path)).rejects.toThrow(/p\.csv:2: involvement: "lots"/);
  });

  it('refuses probabilities that do not sum to one, naming file and line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-pred-'));
    const path = join(dir, 'bad.csv');
    await writeFile(path, 'name,category,p_mild,p_moderate,p_severe,p_critical\nct_scan_1,1,0.9,0.9,0,0\n');
    await expect(readPredictionCsv(path)).rejects.toThrow(/bad\.csv:2: probabilities sum to 1\.8/);
    await writeFile(path, 'name,category\nct_scan_1,1\n');
    await expect(readPredictionCsv(path)).rejects.toThrow(/bad\.csv:1: prediction table lacks columns: p_mild/);
  });
});

const HEADER = 'name,category,p_mild,p_moderate,p_severe,p_critical';

async function tableOf(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'covsev-pred-'));
  const path = join(dir, 'p.csv');
  await writeFile(path, text);
  return path;
}

describe('prediction tables: strict rows', () => {
  it.each([
    ['ct_scan_1,1,0.1,0.2,0.3,0.4,extra', /p\.csv:2: expected 6 fields \(as the header\), found 7/],
    ['ct_scan_1,1,0.1,0.2', /p\.csv:2: expected 6 fields \(as the header\), found 4/],
    ['ct_scan_1,1,,0.5,0.5,0', /p\.csv:2: p_mild: empty/],
    ['ct_scan_1,1,0.5,0.5,0,', /p\.csv:2: p_critical: empty/],
    ['ct_scan_1,0x4,0,0,0,1', /p\.csv:2: category: "0x4" is not one of 1, 2, 3, 4/],
    ['ct_scan_1,1e0,1,0,0,0', /p\.csv:2: category: "1e0" is not one of 1, 2, 3, 4/],
    ['ct_scan_1,+2,0,1,0,0', /p\.csv:2: category: "\+2" is not one of 1, 2, 3, 4/],
    ['ct_scan_1,2.0,0,1,0,0', /p\.csv:2: category: "2\.0" is not one of 1, 2, 3, 4/],
    ['ct_scan_1,5,0,1,0,0', /p\.csv:2: category: "5" is not one of 1, 2, 3, 4/],
    ['ct_scan_1,1,0x1,0,0,0', /p\.csv:2: p_mild: "0x1" is not a decimal number/],
    ['ct_scan_1,1,0.5,Infinity,0,0', /p\.csv:2: p_moderate: "Infinity" is not a decimal number/],
    ['ct_scan_1,1,0.5,0.5,NaN,0', /p\.csv:2: p_severe: "NaN" is not a decimal number/],
    ['ct_scan_1,1,1.5,-0.5,0,0', /p\.csv:2: p_mild: 1\.5 is outside \[0, 1\]/],
    ['ct_scan_1,1,0.5,0.6,-0.1,0', /p\.csv:2: p_severe: -0\.1 is outside \[0, 1\]/],
    ['ct_scan_1,1,0.9,0,0,0.0985', /p\.csv:2: probabilities sum to 0\.9985, not 1 \(tolerance 0\.001\)/],
    ['ct scan 1,1,1,0,0,0', /p\.csv:2: name: bad scan name "ct scan 1"/],
    ['"ct_scan_1,ct_scan_2",1,1,0,0,0', /p\.csv:2: name: bad scan name "ct_scan_1,ct_scan_2"/],
  ])('refuses %j, naming file:line and the column', async (row, message) => {
    const path = await tableOf(`${HEADER}\n${row}\n`);
    await expect(readPredictionCsv(path)).rejects.toThrow(CovsevInputError);
    await expect(readPredictionCsv(path)).rejects.toThrow(message);
  });

  it('reads decimal probabilities rounded to 4 places (sum within 1e-3) and exponents', async () => {
    const path = await tableOf(`${HEADER}\nct_scan_12,3,0.0912,0.201,0.6103,0.0977\nct_scan_13,1,1.00000000,1.0e-7,0,.0\n`);
    const rows = await readPredictionCsv(path);
    expect(rows.map((r) => r.category)).toEqual([3, 1]);
    expect(rows[1]?.probabilities).toEqual([1, 1e-7, 0, 0]);
  });

  it('reports the true file line after blank lines', async () => {
    const path = await tableOf(`${HEADER}\nct_scan_1,1,1,0,0,0\n\n\nct_scan_2,9,1,0,0,0\n`);
    await expect(readPredictionCsv(path)).rejects.toThrow(/p\.csv:5: category/);
    const crlf = await tableOf(`${HEADER}\r\n\r\nct_scan_1,1,1,0,0,0\r\n\r\nct_scan_1,1,1,0,0,0\r\n`);
    await expect(readPredictionCsv(crlf)).rejects.toThrow(/p\.csv:5: duplicate scan name "ct_scan_1" \(first on line 3\)/);
  });

  it('writePredictionCsv refuses a scan name the challenge does not accept, writing nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-pred-'));
    const path = join(dir, 'p.csv');
    await expect(
      writePredictionCsv(path, [{ name: 'ct_scan_1,ct_scan_2', category: 1, probabilities: [1, 0, 0, 0] }]),
    ).rejects.toThrow(/p\.csv:2: bad scan name "ct_scan_1,ct_scan_2"/);
    await expect(readFile(path)).rejects.toThrow(/ENOENT/);
  });
});
