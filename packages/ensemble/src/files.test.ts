import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CovsevInputError, readPredictionCsv, writePredictionCsv } from '@covsev/io';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { combinePredictionFiles } from './files.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covsev-ensemble-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Plain CMC and infection-aware CMC on two scans:
//   plain      ct_scan_1 .6 .2 .1 .1    ct_scan_2 .1 .4 .4 .1
//   infection  ct_scan_1 .2 .6 .1 .1    ct_scan_2 .1 .2 .6 .1
// mean:        ct_scan_1 .4 .4 .1 .1 (tie -> Mild, 1)    ct_scan_2 .1 .3 .5 .1 (Severe, 3)
// weights 3:1: ct_scan_1 .5 .3 .1 .1 (Mild)               ct_scan_2 .1 .35 .45 .1 (Severe)
async function writeTables(): Promise<[string, string]> {
  const plain = join(dir, 'plain.csv');
  const infection = join(dir, 'infection.csv');
  await writePredictionCsv(plain, [
    { name: 'ct_scan_1', category: 1, probabilities: [0.6, 0.2, 0.1, 0.1] },
    { name: 'ct_scan_2', category: 2, probabilities: [0.1, 0.4, 0.4, 0.1] },
  ]);
  await writePredictionCsv(infection, [
    { name: 'ct_scan_2', category: 3, probabilities: [0.1, 0.2, 0.6, 0.1] },
    { name: 'ct_scan_1', category: 2, probabilities: [0.2, 0.6, 0.1, 0.1] },
  ]);
  return [plain, infection];
}

describe('combinePredictionFiles', () => {
  it('reads, combines and writes a table that reads back to the same rows', async () => {
    const [plain, infection] = await writeTables();
    const out = join(dir, 'ensemble.csv');
    const combined = await combinePredictionFiles([plain, infection], { rule: 'mean' }, out);
    const back = await readPredictionCsv(out);
    expect(back.map((r) => [r.name, r.category])).toEqual([
      ['ct_scan_1', 1],
      ['ct_scan_2', 3],
    ]);
    const expected = [
      [0.4, 0.4, 0.1, 0.1],
      [0.1, 0.3, 0.5, 0.1],
    ];
    back.forEach((r, i) => {
      r.probabilities.forEach((p, c) => {
        expect(p).toBeCloseTo((expected[i] as number[])[c] as number, 8);
        expect(p).toBeCloseTo((combined[i]?.probabilities[c] as number) ?? Number.NaN, 8);
      });
    });
    expect((await readFile(out, 'utf8')).split('\n')[0]).toBe('name,category,p_mild,p_moderate,p_severe,p_critical');
  });

  it('applies one weight per file and may overwrite an input', async () => {
    const [plain, infection] = await writeTables();
    await combinePredictionFiles([plain, infection], { rule: 'weighted-mean', weights: [3, 1] }, plain);
    const back = await readPredictionCsv(plain);
    expect(back.map((r) => r.category)).toEqual([1, 3]);
    expect(back[1]?.probabilities[1]).toBeCloseTo(0.35, 8);
    expect(back[1]?.probabilities[2]).toBeCloseTo(0.45, 8);
  });

  it('names the file whose scans differ, and writes nothing', async () => {
    const [plain] = await writeTables();
    const other = join(dir, 'other.csv');
    await writePredictionCsv(other, [{ name: 'ct_scan_9', category: 1, probabilities: [1, 0, 0, 0] }]);
    const out = join(dir, 'ensemble.csv');
    const attempt = combinePredictionFiles([plain, other], {}, out);
    await expect(attempt).rejects.toBeInstanceOf(CovsevInputError);
    await expect(attempt).rejects.toThrow(
      `${other}: combinePredictionFiles: its scans differ from those of ${plain}: 2 missing (ct_scan_1, ct_scan_2), 1 extra (ct_scan_9)`,
    );
    await expect(readFile(out)).rejects.toThrow(/ENOENT/);
  });

  it('passes on the reader errors and refuses bad arguments', async () => {
    const [plain, infection] = await writeTables();
    const broken = join(dir, 'broken.csv');
    await writeFile(broken, 'name,category\nct_scan_1,1\n');
    await expect(combinePredictionFiles([plain, broken], {}, join(dir, 'o.csv'))).rejects.toThrow(
      `${broken}:1: prediction table lacks columns: p_mild, p_moderate, p_severe, p_critical`,
    );
    await expect(combinePredictionFiles([], {}, join(dir, 'o.csv'))).rejects.toThrow(/no prediction tables given/);
    await expect(combinePredictionFiles([plain, infection], { weights: [1, 1] }, join(dir, 'o.csv'))).rejects.toThrow(
      /weights are given but the rule is 'mean'/,
    );
    await expect(
      combinePredictionFiles([plain, infection], { rule: 'weighted-mean', weights: [1] }, join(dir, 'o.csv')),
    ).rejects.toThrow('combinePredictionFiles: 1 weights for 2 tables');
  });
});
