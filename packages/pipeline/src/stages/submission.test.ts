import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CovsevInputError, type PredictionRow, readPredictionCsv, writePredictionCsv } from '@covsev/io';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkChallengeSubmission, writeChallengeSubmission } from './submission.js';

// An injected failure: while `failure.table` is set, writing `predictions.csv` writes a few bytes
// and throws (a full disk midway), after the class files are already in the temporary folder.
const failure = vi.hoisted(() => ({ table: undefined as Error | undefined }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  const open: typeof actual.open = async (path, flags, mode) => {
    const handle = await actual.open(path, flags, mode);
    const error = failure.table;
    if (error !== undefined && String(path).endsWith('predictions.csv') && /[wa+]/.test(String(flags ?? 'r'))) {
      handle.writeFile = async () => {
        await actual.writeFile(handle, 'name,category,p_mild,p_mod');
        throw error;
      };
    }
    return handle;
  };
  return { ...actual, open, default: { ...actual, open } };
});

afterEach(() => {
  failure.table = undefined;
});

// Hand-computed: mean s1 [0.6, 0.2, 0.1, 0.1] Mild, s2 [0.2, 0.2, 0.35, 0.25] Severe (though
// neither table votes Severe), s3 [0.05, 0.1, 0.25, 0.6] Critical. Vote: s1 Mild (2 votes), s2
// Mild (1 vote each for Mild and Moderate, equal mean 0.2: the lower grade), s3 Critical.
const A: PredictionRow[] = [
  { name: 'ct_scan_1', category: 1, probabilities: [0.7, 0.1, 0.1, 0.1] },
  { name: 'ct_scan_2', category: 1, probabilities: [0.4, 0, 0.35, 0.25] },
  { name: 'ct_scan_3', category: 4, probabilities: [0.1, 0.1, 0.3, 0.5] },
];
const B: PredictionRow[] = [
  { name: 'ct_scan_3', category: 4, probabilities: [0, 0.1, 0.2, 0.7] },
  { name: 'ct_scan_1', category: 1, probabilities: [0.5, 0.3, 0.1, 0.1] },
  { name: 'ct_scan_2', category: 2, probabilities: [0, 0.4, 0.35, 0.25] },
];

async function tables(): Promise<{ dir: string; a: string; b: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'covsev-submission-'));
  const a = join(dir, 'plain.csv');
  const b = join(dir, 'infection.csv');
  await writePredictionCsv(a, A);
  await writePredictionCsv(b, B);
  return { dir, a, b };
}

async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const f of (await readdir(dir)).sort()) files[f] = await readFile(join(dir, f), 'utf8');
  return files;
}

describe('writeChallengeSubmission: an ensemble of tables', () => {
  it('combines two tables by their mean into the class files and predictions.csv', async () => {
    const { dir, a, b } = await tables();
    const out = join(dir, 'out');
    const result = await writeChallengeSubmission({ predictions: [a, b], outDir: out });
    expect(await snapshot(out)).toMatchObject({
      'mild.csv': 'ct_scan_1\n',
      'moderate.csv': '',
      'severe.csv': 'ct_scan_2\n',
      'critical.csv': 'ct_scan_3\n',
    });
    expect((await readdir(out)).sort()).toEqual(['critical.csv', 'mild.csv', 'moderate.csv', 'predictions.csv', 'severe.csv']);
    const table = await readPredictionCsv(join(out, 'predictions.csv'));
    expect(table.map((r) => [r.name, r.category])).toEqual([
      ['ct_scan_1', 1],
      ['ct_scan_2', 3],
      ['ct_scan_3', 4],
    ]);
    const expected = [
      [0.6, 0.2, 0.1, 0.1],
      [0.2, 0.2, 0.35, 0.25],
      [0.05, 0.1, 0.25, 0.6],
    ];
    table.forEach((row, i) => {
      row.probabilities.forEach((p, c) => {
        expect(p).toBeCloseTo(expected[i]?.[c] as number, 9);
      });
    });
    expect((await readFile(join(out, 'predictions.csv'), 'utf8')).split('\n')[2]).toBe(
      'ct_scan_2,3,0.200000000,0.200000000,0.350000000,0.250000000',
    );
    expect(result).toMatchObject({
      members: 2,
      rule: 'mean',
      scans: 3,
      counts: [1, 0, 1, 1],
      table: join(out, 'predictions.csv'),
    });
    expect(result.warnings).toEqual(['warning: no scan is graded moderate (moderate.csv is empty)']);
  });

  it('combines them by vote, one row layout', async () => {
    const { dir, a, b } = await tables();
    const out = join(dir, 'out');
    const result = await writeChallengeSubmission({ predictions: [a, b], rule: 'vote', outDir: out, layout: 'one-row' });
    expect(await snapshot(out)).toMatchObject({
      'mild.csv': 'ct_scan_1,ct_scan_2\n',
      'moderate.csv': '',
      'severe.csv': '',
      'critical.csv': 'ct_scan_3\n',
    });
    const table = await readPredictionCsv(join(out, 'predictions.csv'));
    expect(table.map((r) => [r.name, r.category, ...r.probabilities])).toEqual([
      ['ct_scan_1', 1, 1, 0, 0, 0],
      ['ct_scan_2', 1, 0.5, 0.5, 0, 0],
      ['ct_scan_3', 4, 0, 0, 0, 1],
    ]);
    expect(result.warnings).toEqual(['warning: no scan is graded moderate, severe (moderate.csv, severe.csv are empty)']);
  });

  it('keeps one table as it is (its categories, not the arg-max)', async () => {
    const { dir, b } = await tables();
    const out = join(dir, 'out');
    const result = await writeChallengeSubmission({ predictions: [b], outDir: out });
    expect(result).toMatchObject({ members: 1, counts: [1, 1, 0, 1] });
    expect(result.rule).toBeUndefined();
    expect(await readFile(join(out, 'moderate.csv'), 'utf8')).toBe('ct_scan_2\n');
    expect(await readFile(join(out, 'predictions.csv'), 'utf8')).toBe(await readFile(b, 'utf8'));
  });

  it('refuses tables whose scans differ, naming the file, and bad weights', async () => {
    const { dir, a, b } = await tables();
    const c = join(dir, 'other.csv');
    await writePredictionCsv(c, [...A.slice(0, 2), { name: 'ct_scan_4', category: 4, probabilities: [0, 0, 0, 1] }]);
    const out = join(dir, 'out');
    const run = writeChallengeSubmission({ predictions: [a, c], outDir: out });
    await expect(run).rejects.toThrow(CovsevInputError);
    await expect(writeChallengeSubmission({ predictions: [a, c], outDir: out })).rejects.toThrow(
      `${c}: combinePredictions: its scans differ from those of ${a}: 1 missing (ct_scan_3), 1 extra (ct_scan_4)`,
    );
    await expect(writeChallengeSubmission({ predictions: [a, b], weights: [1, 1], outDir: out })).rejects.toThrow(
      "writeChallengeSubmission: weights are given but the rule is 'mean' (use 'weighted-mean')",
    );
    await expect(
      writeChallengeSubmission({ predictions: [a, b], rule: 'weighted-mean', weights: [1], outDir: out }),
    ).rejects.toThrow('writeChallengeSubmission: 1 weights for 2 prediction tables');
    await expect(writeChallengeSubmission({ predictions: [a], rule: 'vote', outDir: out })).rejects.toThrow(
      'rule and weights combine several prediction tables; one was given',
    );
    await expect(readdir(dir)).resolves.not.toContain('out');
    // weights 1 and 0: table A alone, so ct_scan_2 is Mild.
    await writeChallengeSubmission({ predictions: [a, b], rule: 'weighted-mean', weights: [1, 0], outDir: out });
    expect(await readFile(join(out, 'mild.csv'), 'utf8')).toBe('ct_scan_1\nct_scan_2\n');
  });
});

describe('writeChallengeSubmission: the folder swap', () => {
  it('leaves the previous submission intact when the writer fails midway, and no temporary folder', async () => {
    const { dir, a, b } = await tables();
    const out = join(dir, 'out');
    await writeChallengeSubmission({ predictions: a, outDir: out });
    const before = await snapshot(out);
    expect(Object.keys(before)).toEqual(['critical.csv', 'mild.csv', 'moderate.csv', 'predictions.csv', 'severe.csv']);
    expect(before['mild.csv']).toBe('ct_scan_1\nct_scan_2\n');
    failure.table = new Error('ENOSPC: no space left on device (injected)');
    await expect(writeChallengeSubmission({ predictions: [a, b], outDir: out })).rejects.toThrow('ENOSPC');
    expect(await snapshot(out)).toEqual(before);
    expect((await readdir(dir)).sort()).toEqual(['infection.csv', 'out', 'plain.csv']);
    failure.table = undefined;
    await writeChallengeSubmission({ predictions: [a, b], outDir: out });
    expect(await readFile(join(out, 'mild.csv'), 'utf8')).toBe('ct_scan_1\n');
    expect((await readdir(dir)).sort()).toEqual(['infection.csv', 'out', 'plain.csv']);
  });

  it('names the out folder, not the temporary one, in errors; refuses an out folder with other files', async () => {
    const { dir, a } = await tables();
    const test = join(dir, 'test');
    for (const n of ['ct_scan_1', 'ct_scan_2', 'ct_scan_3', 'ct_scan_9']) await mkdir(join(test, n), { recursive: true });
    const out = join(dir, 'out');
    await expect(writeChallengeSubmission({ predictions: a, outDir: out, testDir: test })).rejects.toThrow(
      `${out}: 1 test scan(s) have no prediction: ct_scan_9`,
    );
    await mkdir(out);
    await writeFile(join(out, 'notes.txt'), 'mine');
    await expect(writeChallengeSubmission({ predictions: a, outDir: out })).rejects.toThrow(
      `${out}: holds other files than the four class files and predictions.csv (notes.txt)`,
    );
    expect(await readdir(out)).toEqual(['notes.txt']);
  });
});

async function folder(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'covsev-check-'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

const GOOD = {
  'mild.csv': 'ct_scan_1\nct_scan_2\n',
  'moderate.csv': '',
  'severe.csv': 'ct_scan_3\n',
  'critical.csv': 'ct_scan_4\n',
};

describe('checkChallengeSubmission', () => {
  it('counts a good folder, and lists every problem of a bad one with file and line', async () => {
    const good = await folder(GOOD);
    expect(
      await checkChallengeSubmission(good, {
        layout: 'one-per-line',
        expectedScans: ['ct_scan_1', 'ct_scan_2', 'ct_scan_3', 'ct_scan_4'],
      }),
    ).toMatchObject({
      problems: [],
      scans: 4,
      counts: [2, 0, 1, 1],
      expected: 4,
      warnings: ['warning: no scan is graded moderate (moderate.csv is empty)'],
    });
    const bad = await folder({
      'mild.csv': 'ct_scan_1\nct_scan_2,ct_scan_5\n\nct_scan_1\n',
      'moderate.csv': ' ct_scan_6\nbad name\n',
      'critical.csv': 'ct_scan_2\n',
    });
    const result = await checkChallengeSubmission(bad, {
      layout: 'one-per-line',
      expectedScans: ['ct_scan_1', 'ct_scan_2', 'ct_scan_7'],
    });
    expect(result.problems).toEqual([
      `${join(bad, 'mild.csv')}:2: 2 names on one line (layout one-per-line: one name per line)`,
      `${join(bad, 'mild.csv')}:4: scan "ct_scan_1" is listed twice (first on line 1)`,
      `${join(bad, 'moderate.csv')}:1: blank space around scan name " ct_scan_6"`,
      `${join(bad, 'moderate.csv')}:2: bad scan name "bad name" (a scan name is letters, digits, "_", "-" and "." (not first), e.g. ct_scan_123)`,
      `${join(bad, 'severe.csv')}: missing class file`,
      `${join(bad, 'critical.csv')}:1: scan "ct_scan_2" is also listed in mild.csv:2`,
      `${join(bad, 'mild.csv')}:2: scan "ct_scan_5" is not a test scan (not in the expected scans)`,
      `${join(bad, 'moderate.csv')}:1: scan "ct_scan_6" is not a test scan (not in the expected scans)`,
      `${bad}: test scan "ct_scan_7" (the expected scans) is in no class file`,
    ]);
    expect(result.warnings).toEqual([]);
  });

  it('checks the one-row layout; without a layout either is read', async () => {
    const rows = await folder({ ...GOOD, 'mild.csv': 'ct_scan_1,ct_scan_2\n' });
    expect((await checkChallengeSubmission(rows, { layout: 'one-row' })).problems).toEqual([]);
    expect((await checkChallengeSubmission(rows)).problems).toEqual([]);
    expect((await checkChallengeSubmission(rows, { layout: 'one-per-line' })).problems).toEqual([
      `${join(rows, 'mild.csv')}:1: 2 names on one line (layout one-per-line: one name per line)`,
    ]);
    const lines = await folder(GOOD);
    expect((await checkChallengeSubmission(lines, { layout: 'one-row' })).problems).toEqual([
      `${join(lines, 'mild.csv')}:2: names on another line than 1 (layout one-row: every name on one line)`,
    ]);
    const gap = await folder({ ...GOOD, 'mild.csv': 'ct_scan_1,,ct_scan_2\n' });
    expect((await checkChallengeSubmission(gap, { layout: 'one-row' })).problems).toEqual([
      `${join(gap, 'mild.csv')}:1: an empty name between commas`,
    ]);
  });

  it('reports a folder that cannot be listed as a problem', async () => {
    const dir = join(tmpdir(), 'covsev-check-none', 'nowhere');
    const result = await checkChallengeSubmission(dir);
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatch(new RegExp(`^${dir.replaceAll('/', '\\/')}: cannot list submission folder: ENOENT`));
  });
});
