import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CovsevInputError, type PredictionRow, writePredictionCsv } from '@covsev/io';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergePredictionParts, partTablePath, shardFromEnv, shardOf } from './shard.js';

const names = ['ct_scan_10', 'ct_scan_2', 'ct_scan_1', 'ct_scan_33', 'ct_scan_0', 'ct_scan_9', 'ct_scan_11'];
const natural = ['ct_scan_0', 'ct_scan_1', 'ct_scan_2', 'ct_scan_9', 'ct_scan_10', 'ct_scan_11', 'ct_scan_33'];

describe('shardOf', () => {
  it('covers every scan exactly once, in contiguous natural-order blocks as even as possible, for 1..5 parts', () => {
    for (let numParts = 1; numParts <= 5; numParts++) {
      const parts = Array.from({ length: numParts }, (_, partId) => shardOf(names, { numParts, partId }));
      expect(parts.flat()).toEqual(natural);
      const sizes = parts.map((p) => p.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      expect(sizes).toEqual([...sizes].sort((a, b) => b - a));
    }
    expect(shardOf(names, { numParts: 3, partId: 0 })).toEqual(['ct_scan_0', 'ct_scan_1', 'ct_scan_2']);
    expect(shardOf(names, { numParts: 3, partId: 2 })).toEqual(['ct_scan_11', 'ct_scan_33']);
  });

  it('is stable: the same part whatever order the names come in, and more parts than scans leaves parts empty', () => {
    const reversed = [...names].reverse();
    for (let partId = 0; partId < 4; partId++)
      expect(shardOf(reversed, { numParts: 4, partId })).toEqual(shardOf(names, { numParts: 4, partId }));
    expect(shardOf(['ct_scan_0'], { numParts: 3, partId: 0 })).toEqual(['ct_scan_0']);
    expect(shardOf(['ct_scan_0'], { numParts: 3, partId: 2 })).toEqual([]);
  });

  it('refuses a part out of range with a RangeError naming both values', () => {
    expect(() => shardOf(names, { numParts: 4, partId: 4 })).toThrow(RangeError);
    expect(() => shardOf(names, { numParts: 4, partId: 4 })).toThrow(/partId 4 with numParts 4/);
    expect(() => shardOf(names, { numParts: 4, partId: -1 })).toThrow(/partId -1 with numParts 4/);
    expect(() => shardOf(names, { numParts: 0, partId: 0 })).toThrow(/numParts must be an integer >= 1, got 0 \(partId 0\)/);
  });
});

describe('shardFromEnv', () => {
  it('reads a Slurm array task, less SLURM_ARRAY_TASK_MIN when set', () => {
    expect(shardFromEnv({ SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '4' })).toEqual({
      partId: 2,
      numParts: 4,
      source: 'slurm',
    });
    expect(shardFromEnv({ SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_COUNT: '4' })).toEqual({
      partId: 3,
      numParts: 4,
      source: 'slurm',
    });
    expect(() => shardFromEnv({ SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_COUNT: '4' })).toThrow(
      /part 4, outside SLURM_ARRAY_TASK_COUNT 4/,
    );
    expect(() => shardFromEnv({ SLURM_ARRAY_TASK_ID: 'x', SLURM_ARRAY_TASK_COUNT: '4' })).toThrow(
      /SLURM_ARRAY_TASK_ID must be a non-negative integer, got "x"/,
    );
  });

  it("reads a Kubernetes Indexed Job's JOB_COMPLETION_INDEX without a count, and nothing when neither is set", () => {
    expect(shardFromEnv({ JOB_COMPLETION_INDEX: '3' })).toEqual({ partId: 3, source: 'kubernetes' });
    expect(shardFromEnv({})).toBeUndefined();
    expect(shardFromEnv({ PATH: '/bin', SLURM_ARRAY_TASK_ID: '' })).toBeUndefined();
  });
});

describe('partTablePath', () => {
  it('puts .part-K-of-N before .csv', () => {
    expect(partTablePath('preds/test.csv', 0, 4)).toBe('preds/test.part-0-of-4.csv');
    expect(partTablePath('preds/test', 3, 4)).toBe('preds/test.part-3-of-4.csv');
    expect(() => partTablePath('preds/test.csv', 4, 4)).toThrow(RangeError);
  });
});

describe('mergePredictionParts', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'covsev-shard-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const row = (name: string, category: 1 | 2 | 3 | 4): PredictionRow => {
    const probabilities: [number, number, number, number] = [0.1, 0.1, 0.1, 0.1];
    probabilities[category - 1] = 0.7;
    return { name, category, probabilities };
  };
  const write = async (out: string, parts: string[][]) => {
    for (const [k, part] of parts.entries())
      await writePredictionCsv(
        partTablePath(out, k, parts.length),
        part.map((n, i) => row(n, ((i % 4) + 1) as 1 | 2 | 3 | 4)),
      );
  };

  it('writes the parts as one table in natural scan order', async () => {
    const out = join(dir, 'ok.csv');
    await write(out, [['ct_scan_10', 'ct_scan_9'], ['ct_scan_2'], ['ct_scan_0', 'ct_scan_1']]);
    const rows = await mergePredictionParts(out, { numParts: 3, expectedScans: natural.slice(0, 5) });
    expect(rows.map((r) => r.name)).toEqual(natural.slice(0, 5));
    expect((await readFile(out, 'utf8')).split('\n').map((l) => l.split(',')[0])).toEqual(['name', ...natural.slice(0, 5), '']);
  });

  it('refuses a missing part, naming its file, and writes nothing', async () => {
    const out = join(dir, 'missing.csv');
    await write(out, [['ct_scan_0'], ['ct_scan_1']]);
    await rm(partTablePath(out, 1, 2));
    const error = await mergePredictionParts(out, { numParts: 2 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CovsevInputError);
    expect((error as Error).message).toBe(`${partTablePath(out, 1, 2)}: part 1 of 2 is missing (has its job run and finished?)`);
    await expect(readFile(out)).rejects.toThrow(/ENOENT/);
  });

  it('refuses a scan in two parts, naming both files', async () => {
    const out = join(dir, 'twice.csv');
    await write(out, [
      ['ct_scan_0', 'ct_scan_1'],
      ['ct_scan_1', 'ct_scan_2'],
    ]);
    await expect(mergePredictionParts(out, { numParts: 2 })).rejects.toThrow(
      `${partTablePath(out, 1, 2)}: scan "ct_scan_1" is also predicted in ${partTablePath(out, 0, 2)}`,
    );
  });

  it('refuses a test scan no part predicts, and a predicted scan that is not a test scan', async () => {
    const out = join(dir, 'test.csv');
    await write(out, [['ct_scan_0'], ['ct_scan_1']]);
    await expect(
      mergePredictionParts(out, { numParts: 2, expectedScans: ['ct_scan_0', 'ct_scan_1', 'ct_scan_2'], expectedFrom: 'T' }),
    ).rejects.toThrow('T: 1 scan(s) have no prediction in the 2 parts: ct_scan_2');
    await expect(mergePredictionParts(out, { numParts: 2, expectedScans: ['ct_scan_0'], expectedFrom: 'T' })).rejects.toThrow(
      `${partTablePath(out, 1, 2)}: 1 predicted scan(s) are not in T: ct_scan_1`,
    );
    await expect(readFile(out)).rejects.toThrow(/ENOENT/);
  });
});
