import { mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CovsevInputError } from '../errors.js';
import { readSubmission, SUBMISSION_FILES, writeSubmission } from './submission.js';

/**
 * Fault injection: node:fs/promises as is, except that `open` for writing a path that matches
 * `faults.failWriteOf` hands back a handle whose write fails with ENOSPC (after writing a few
 * bytes), and the first `rename` into a path equal to `faults.failRenameTo` fails with EXDEV.
 * Implementation-agnostic: any writer goes through `open` (writeFileAtomic and writeFileDurable do).
 */
const faults = vi.hoisted(() => ({
  failWriteOf: undefined as RegExp | undefined,
  failRenameTo: undefined as string | undefined,
}));
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  const open: typeof actual.open = async (path, flags, mode) => {
    const handle = await actual.open(path, flags, mode);
    if (faults.failWriteOf?.test(String(path)) && /[wa+]/.test(String(flags ?? 'r'))) {
      handle.writeFile = async () => {
        await actual.writeFile(handle, 'ct_sc');
        throw Object.assign(new Error(`ENOSPC: no space left on device, write`), {
          code: 'ENOSPC',
          errno: -28,
          syscall: 'write',
        });
      };
    }
    return handle;
  };
  const rename: typeof actual.rename = async (from, to) => {
    if (faults.failRenameTo !== undefined && String(to) === faults.failRenameTo) {
      faults.failRenameTo = undefined; // once: putting the old folder back must work
      throw Object.assign(new Error(`EXDEV: cross-device link not permitted, rename '${from}' -> '${to}'`), { code: 'EXDEV' });
    }
    return actual.rename(from, to);
  };
  return { ...actual, open, rename, default: { ...actual, open, rename } };
});

afterEach(() => {
  faults.failWriteOf = undefined;
  faults.failRenameTo = undefined;
});

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

describe('challenge submission files: scan names', () => {
  it('refuses a scan name with a comma (it would read back as two scans in the one-row layout)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-sub-'));
    const out = join(dir, 'out');
    for (const layout of ['one-row', 'one-per-line'] as const) {
      await expect(
        writeSubmission({ outDir: out, layout, entries: [...entries, { name: 'ct_scan_5,ct_scan_6', category: 2 }] }),
      ).rejects.toThrow(/moderate\.csv:\d+: bad scan name "ct_scan_5,ct_scan_6"/);
    }
    await expect(readdir(dir)).resolves.toEqual([]);
  });

  it.each([
    ['ct_scan_1\nct scan 2\n', 'mild.csv:2: bad scan name "ct scan 2"'],
    ['ct_scan_1,ct_scan_2;ct_scan_3\n', 'mild.csv:1: bad scan name "ct_scan_2;ct_scan_3"'],
    ['ct_scan_1\n\n"ct_scan_2"\n', 'mild.csv:3: bad scan name "\\"ct_scan_2\\""'],
  ])('readSubmission refuses bad names with file:line: %j', async (text, message) => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-sub-'));
    await writeSubmission({ outDir: dir, entries: [] });
    await writeFile(join(dir, 'mild.csv'), text);
    await expect(readSubmission(dir)).rejects.toThrow(CovsevInputError);
    await expect(readSubmission(dir)).rejects.toThrow(message);
  });
});

async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const f of (await readdir(dir)).sort()) files[f] = (await readFile(join(dir, f))).toString('base64');
  return files;
}

describe('challenge submission files: all four change together or not at all', () => {
  const newer = [
    { name: 'ct_scan_2', category: 2 },
    { name: 'ct_scan_3', category: 2 },
    { name: 'ct_scan_7', category: 1 },
    { name: 'ct_scan_10', category: 4 },
  ] as const;

  it('keeps the earlier four files byte-identical when a write fails mid-way (ENOSPC on the third file)', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'covsev-sub-'));
    const out = join(parent, 'submission');
    await writeSubmission({ outDir: out, entries });
    const before = await snapshot(out);
    expect(Object.keys(before)).toEqual([...SUBMISSION_FILES].sort());
    faults.failWriteOf = /severe\.csv/;
    await expect(writeSubmission({ outDir: out, entries: newer })).rejects.toThrow(/ENOSPC/);
    expect(await snapshot(out)).toEqual(before);
    expect(await readdir(parent)).toEqual(['submission']);
    faults.failWriteOf = undefined;
    await writeSubmission({ outDir: out, entries: newer });
    expect(await readFile(join(out, 'moderate.csv'), 'utf8')).toBe('ct_scan_2\nct_scan_3\n');
    expect(await readdir(parent)).toEqual(['submission']);
  });

  it('leaves no folder at all when the first submission fails, and no temporary folder', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'covsev-sub-'));
    faults.failWriteOf = /critical\.csv/;
    await expect(writeSubmission({ outDir: join(parent, 'submission'), entries })).rejects.toThrow(/ENOSPC/);
    expect(await readdir(parent)).toEqual([]);
  });

  it('puts the earlier submission back when moving the new one into place fails', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'covsev-sub-'));
    const out = join(parent, 'submission');
    await writeSubmission({ outDir: out, entries, layout: 'one-row' });
    const before = await snapshot(out);
    faults.failRenameTo = out;
    await expect(writeSubmission({ outDir: out, entries: newer })).rejects.toThrow(/EXDEV/);
    expect(await snapshot(out)).toEqual(before);
    expect(await readdir(parent)).toEqual(['submission']);
  });

  it('writes extra files in the same swap: an earlier copy is replaced, a failed one keeps the earlier folder', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'covsev-sub-'));
    const out = join(parent, 'submission');
    const extraFiles = [{ name: 'predictions.csv', text: 'table 1\n' }];
    await writeSubmission({ outDir: out, entries, extraFiles });
    const before = await snapshot(out);
    expect(Object.keys(before)).toEqual([...SUBMISSION_FILES, 'predictions.csv'].sort());
    expect(await readFile(join(out, 'predictions.csv'), 'utf8')).toBe('table 1\n');
    faults.failWriteOf = /predictions\.csv/;
    await expect(
      writeSubmission({ outDir: out, entries: newer, extraFiles: [{ name: 'predictions.csv', text: 'table 2\n' }] }),
    ).rejects.toThrow(/ENOSPC/);
    expect(await snapshot(out)).toEqual(before);
    expect(await readdir(parent)).toEqual(['submission']);
    faults.failWriteOf = undefined;
    await writeSubmission({ outDir: out, entries: newer, extraFiles: [{ name: 'predictions.csv', text: 'table 2\n' }] });
    expect(await readFile(join(out, 'predictions.csv'), 'utf8')).toBe('table 2\n');
    // Without the extra file, its earlier copy is another file: refused, nothing changed.
    await expect(writeSubmission({ outDir: out, entries })).rejects.toThrow(
      /holds other files than the four class files \(predictions\.csv\)/,
    );
    for (const name of ['mild.csv', '../x.csv', 'a/b.csv', '', '.hidden'])
      await expect(writeSubmission({ outDir: out, entries, extraFiles: [{ name, text: '' }] })).rejects.toThrow(
        /extra file name .* must be a plain file name other than the class files/,
      );
  });

  it('refuses an out folder holding other files, and leaves them alone', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'covsev-sub-'));
    const out = join(parent, 'submission');
    await writeSubmission({ outDir: out, entries });
    await writeFile(join(out, 'notes.txt'), 'mine');
    const before = await snapshot(out);
    await expect(writeSubmission({ outDir: out, entries: newer })).rejects.toThrow(
      /submission: holds other files than the four class files \(notes\.txt\)/,
    );
    expect(await snapshot(out)).toEqual(before);
    expect(await readdir(parent)).toEqual(['submission']);
  });

  it('refuses an out folder that is a file or lies under a file, as bad input', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'covsev-sub-'));
    const file = join(parent, 'file.csv');
    await writeFile(file, 'x');
    await expect(writeSubmission({ outDir: file, entries })).rejects.toThrow(CovsevInputError);
    await expect(writeSubmission({ outDir: file, entries })).rejects.toThrow(/file\.csv: is a file, not a folder/);
    await expect(writeSubmission({ outDir: join(file, 'sub', 'out'), entries })).rejects.toThrow(CovsevInputError);
    await expect(writeSubmission({ outDir: join(file, 'sub', 'out'), entries })).rejects.toThrow(
      /file\.csv is a file, not a folder/,
    );
    expect(await readFile(file, 'utf8')).toBe('x');
    expect(await readdir(parent)).toEqual(['file.csv']);
  });

  it('writes through a symlinked out folder into its target', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'covsev-sub-'));
    await mkdir(join(parent, 'real'));
    await symlink(join(parent, 'real'), join(parent, 'link'));
    await writeSubmission({ outDir: join(parent, 'link'), entries });
    expect((await readdir(join(parent, 'real'))).sort()).toEqual([...SUBMISSION_FILES].sort());
    expect((await readdir(parent)).sort()).toEqual(['link', 'real']);
  });
});
