import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { replaceDirectoryAtomic, replaceFileAtomic, syncDirectory, writeFileAtomic, writeFileDurable } from './atomic.js';

const roots: string[] = [];
afterAll(async () => {
  for (const dir of roots) await rm(dir, { recursive: true, force: true });
});
async function folder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'covsev-atomic-'));
  roots.push(dir);
  return dir;
}

describe('writeFileAtomic', () => {
  it('writes, replaces, creates parent folders and leaves no temporary file', async () => {
    const dir = await folder();
    const path = join(dir, 'a', 'b', 'table.csv');
    await writeFileAtomic(path, 'one\n');
    await writeFileAtomic(path, new TextEncoder().encode('two\n'));
    expect(await readFile(path, 'utf8')).toBe('two\n');
    expect(await readdir(join(dir, 'a', 'b'))).toEqual(['table.csv']);
  });

  it('a failed write keeps the old content and removes its temporary file', async () => {
    const dir = await folder();
    const path = join(dir, 'table.csv');
    await writeFileAtomic(path, 'old\n');
    // Not a string or bytes: fails after the temporary file was opened.
    await expect(writeFileAtomic(path, 42 as unknown as string)).rejects.toThrow();
    expect(await readFile(path, 'utf8')).toBe('old\n');
    expect(await readdir(dir)).toEqual(['table.csv']);
  });
});

describe('replaceFileAtomic', () => {
  it('renames what the writer produced over the target', async () => {
    const dir = await folder();
    const path = join(dir, 'scan.nii');
    const seen: string[] = [];
    await replaceFileAtomic(path, async (tmp) => {
      seen.push(tmp);
      await writeFile(tmp, 'voxels');
    });
    expect(seen[0]).toMatch(/scan\.nii\.tmp-\d+-[0-9a-f]{8}$/);
    expect(await readFile(path, 'utf8')).toBe('voxels');
    expect(await readdir(dir)).toEqual(['scan.nii']);
  });

  it('a writer that fails midway leaves the target and no temporary file', async () => {
    const dir = await folder();
    const path = join(dir, 'scan.nii');
    await writeFile(path, 'previous');
    await expect(
      replaceFileAtomic(path, async (tmp) => {
        await writeFile(tmp, 'half of it');
        throw new Error('disk on fire');
      }),
    ).rejects.toThrow('disk on fire');
    expect(await readFile(path, 'utf8')).toBe('previous');
    expect(await readdir(dir)).toEqual(['scan.nii']);
  });
});

describe('durability helpers', () => {
  it('writeFileDurable writes, syncDirectory syncs a folder and reports a missing one', async () => {
    const dir = await folder();
    await writeFileDurable(join(dir, 'w.bin'), new Uint8Array([1, 2, 3]));
    expect([...(await readFile(join(dir, 'w.bin')))]).toEqual([1, 2, 3]);
    await syncDirectory(dir);
    await expect(syncDirectory(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('replaceDirectoryAtomic', () => {
  it('puts a folder in place, or replaces an old one as a whole, leaving no sibling behind', async () => {
    const dir = await folder();
    const target = join(dir, 'out');
    const make = async (name: string, files: Record<string, string>) => {
      const path = join(dir, name);
      await mkdir(path);
      for (const [file, text] of Object.entries(files)) await writeFile(join(path, file), text);
      return path;
    };
    await replaceDirectoryAtomic(await make('fresh1', { 'a.csv': 'one', 'b.csv': 'one' }), target);
    expect((await readdir(target)).sort()).toEqual(['a.csv', 'b.csv']);
    await replaceDirectoryAtomic(await make('fresh2', { 'a.csv': 'two' }), target);
    expect(await readdir(target)).toEqual(['a.csv']);
    expect(await readFile(join(target, 'a.csv'), 'utf8')).toBe('two');
    expect((await readdir(dir)).sort()).toEqual(['out']);
    // A missing fresh folder fails, and the old folder is put back.
    await expect(replaceDirectoryAtomic(join(dir, 'nowhere'), target)).rejects.toThrow(/ENOENT/);
    expect(await readFile(join(target, 'a.csv'), 'utf8')).toBe('two');
    expect((await readdir(dir)).sort()).toEqual(['out']);
  });
});
