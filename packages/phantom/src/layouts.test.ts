import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { applyHuWindow, HU_WINDOWS, readJpgFolder, readLabelCsv, readNifti } from '@covsev/io';
import { afterAll, describe, expect, it } from 'vitest';
import { generateScan } from './generate.js';
import { LABEL_FILES, TRUTH_FILE, type TruthManifest, writeCohort } from './layouts.js';

const roots: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'covsev-phantom-'));
  roots.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of roots) await rm(dir, { recursive: true, force: true });
});

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(relative(dir, p));
    }
  };
  await walk(dir);
  return out.sort();
}

async function hashTree(dir: string): Promise<string> {
  const h = createHash('sha256');
  for (const f of await listFiles(dir)) {
    h.update(f);
    h.update(await readFile(join(dir, f)));
  }
  return h.digest('hex');
}

const common = {
  scans: 6,
  slices: [6, 9] as [number, number],
  rows: 48,
  cols: 48,
  splits: [4, 1, 1] as [number, number, number],
};

describe('COV19-CT-DB layout', async () => {
  const out = await tempDir();
  const progress: number[] = [];
  const manifest = await writeCohort({
    ...common,
    layout: 'cov19-ct-db',
    out,
    seed: 21,
    onProgress: (p) => progress.push(p.done),
  });

  it('reports progress per scan', () => {
    expect(progress).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('writes numbered JPG slices in <split>/<class>/ct_scan_<n> and test/ct_scan_<n>', async () => {
    expect(manifest.scans.map((s) => s.split)).toEqual(['train', 'train', 'train', 'train', 'val', 'test']);
    for (const s of manifest.scans) {
      const classes = ['mild', 'moderate', 'severe', 'critical'];
      const expected = s.split === 'test' ? `test/${s.name}` : `${s.split}/${classes[s.category - 1]}/${s.name}`;
      expect(s.path).toBe(expected);
      const files = await readdir(join(out, s.path));
      expect(files.sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10))).toEqual(
        Array.from({ length: s.slices }, (_, k) => `${k}.jpg`),
      );
      const volume = await readJpgFolder(join(out, s.path));
      expect(volume.shape).toEqual([s.slices, 48, 48]);
    }
    const top = (await readdir(out)).sort();
    expect(top).toEqual([TRUTH_FILE, 'test', 'train', LABEL_FILES.train, 'val', LABEL_FILES.val].sort());
  });

  it('writes slices that are the HU volume in the COV19-CT-DB window (JPEG-close)', async () => {
    const s = manifest.scans[0];
    if (s === undefined) throw new Error('no scan');
    const scan = generateScan({ slices: s.slices, rows: 48, cols: 48, targetInvolvement: s.targetInvolvement }, s.seed);
    const expected = applyHuWindow(scan.ct, HU_WINDOWS.cov19ctdb).data;
    const read = (await readJpgFolder(join(out, s.path))).data;
    let err = 0;
    for (let i = 0; i < read.length; i++) err += Math.abs((read[i] as number) - (expected[i] as number));
    expect(err / read.length).toBeLessThan(4);
  });

  it('writes Name;Category label files for train and val that match the truth', async () => {
    const text = await readFile(join(out, LABEL_FILES.train), 'utf8');
    expect(text.split('\n')[0]).toBe('Name;Category');
    const train = await readLabelCsv(join(out, LABEL_FILES.train), { scanRoots: [join(out, 'train')] });
    const val = await readLabelCsv(join(out, LABEL_FILES.val), { scanRoots: [join(out, 'val')] });
    const truth = new Map(manifest.scans.map((s) => [s.name, s]));
    expect(train.map((r) => r.name)).toEqual(manifest.scans.filter((s) => s.split === 'train').map((s) => s.name));
    expect(val).toHaveLength(1);
    for (const r of [...train, ...val]) expect(r.category).toBe(truth.get(r.name)?.category);
  });

  it('writes a truth manifest a grader can use', async () => {
    const onDisk = JSON.parse(await readFile(join(out, TRUTH_FILE), 'utf8')) as TruthManifest;
    expect(onDisk).toEqual(JSON.parse(JSON.stringify(manifest)));
    expect(onDisk.format).toBe('covsev-phantom-truth');
    for (const s of onDisk.scans) {
      expect(s.trueCategory).toBe(s.category); // no label noise asked
      expect(Math.abs(s.involvement - s.targetInvolvement)).toBeLessThan(0.03);
      expect(s.slices).toBeGreaterThanOrEqual(6);
      expect(s.slices).toBeLessThanOrEqual(9);
      expect(s.spacing).toHaveLength(3);
    }
  });

  it('is byte-for-byte reproducible from its seed', async () => {
    const again = await tempDir();
    await writeCohort({ ...common, layout: 'cov19-ct-db', out: again, seed: 21 });
    expect(await hashTree(again)).toBe(await hashTree(out));
    const other = await tempDir();
    await writeCohort({ ...common, layout: 'cov19-ct-db', out: other, seed: 22 });
    expect(await hashTree(other)).not.toBe(await hashTree(out));
  });

  it('replaces a previous phantom output but refuses a foreign non-empty folder', async () => {
    const dir = await tempDir();
    await writeCohort({ ...common, scans: 2, layout: 'cov19-ct-db', out: dir, seed: 1 });
    await writeCohort({ ...common, scans: 1, layout: 'cov19-ct-db', out: dir, seed: 1, splits: [1, 0, 0] });
    expect((await readdir(dir)).sort()).toEqual([TRUTH_FILE, 'train', LABEL_FILES.train, LABEL_FILES.val].sort());
    const foreign = await tempDir();
    await writeFile(join(foreign, 'notes.txt'), 'mine');
    await expect(writeCohort({ ...common, layout: 'cov19-ct-db', out: foreign, seed: 1 })).rejects.toThrow(/not empty/);
  });
});

describe('COVID-19-CT-Seg layout', async () => {
  const out = await tempDir();
  const manifest = await writeCohort({ ...common, scans: 2, layout: 'ct-seg', out, seed: 5, labelNoise: 0.5 });

  it('writes CT in HU and the three masks as NIfTI', async () => {
    expect(await listFiles(out)).toEqual(
      [
        TRUTH_FILE,
        ...['ct_scans', 'infection_mask', 'lung_and_infection_mask', 'lung_mask'].flatMap((d) =>
          ['phantom_001', 'phantom_002'].map((n) => `${d}/${n}.nii.gz`),
        ),
      ].sort(),
    );
    const s = manifest.scans[0];
    if (s === undefined) throw new Error('no scan');
    expect(s.path).toBe('ct_scans/phantom_001.nii.gz');
    const scan = generateScan(
      { slices: s.slices, rows: 48, cols: 48, targetInvolvement: s.targetInvolvement, labelNoise: 0.5 },
      s.seed,
    );
    const ct = await readNifti(join(out, 'ct_scans/phantom_001.nii.gz'));
    expect(ct.shape).toEqual(scan.ct.shape);
    expect(Array.from(ct.data)).toEqual(Array.from(scan.ct.data));
    const lung = await readNifti(join(out, 'lung_mask/phantom_001.nii.gz'));
    expect(Array.from(lung.data)).toEqual(Array.from(scan.lungMask.data));
    const both = await readNifti(join(out, 'lung_and_infection_mask/phantom_001.nii.gz'));
    for (let i = 0; i < both.data.length; i++) {
      const want = scan.infectionMask.data[i] ? 3 : (scan.lungMask.data[i] as number);
      if (both.data[i] !== want) throw new Error(`voxel ${i}: ${both.data[i]} != ${want}`);
    }
    expect((await stat(join(out, 'infection_mask/phantom_001.nii.gz'))).size).toBeGreaterThan(0);
  });

  it('is byte-for-byte reproducible from its seed', async () => {
    const again = await tempDir();
    await writeCohort({ ...common, scans: 2, layout: 'ct-seg', out: again, seed: 5, labelNoise: 0.5 });
    expect(await hashTree(again)).toBe(await hashTree(out));
  });
});
