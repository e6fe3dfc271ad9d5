import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
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

  it('refuses probabilities that do not sum to one, naming file and line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-pred-'));
    const path = join(dir, 'bad.csv');
    await writeFile(path, 'name,category,p_mild,p_moderate,p_severe,p_critical\nct_scan_1,1,0.9,0.9,0,0\n');
    await expect(readPredictionCsv(path)).rejects.toThrow(/bad\.csv:2: probabilities sum to 1\.8/);
    await writeFile(path, 'name,category\nct_scan_1,1\n');
    await expect(readPredictionCsv(path)).rejects.toThrow(/bad\.csv:1: prediction table lacks columns: p_mild/);
  });
});
