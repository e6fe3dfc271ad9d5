import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { predictCmc } from '@covsev/cmc';
import { CovsevInputError, diagonalAffine, makeVolume, type Shape3, writeNifti } from '@covsev/io';
import { writeCohort } from '@covsev/phantom';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskOnGrid, readMaskOnGrid, readMasksOnGrid, scanFolders, scanShape } from './masks.js';
import { runFolder } from './runFolder.js';
import { loadCohort, splitScans } from './stages/loadCohort.js';
import { preprocessScans } from './stages/preprocess.js';
import { classifierScans, trainClassifier } from './stages/trainClassifier.js';
import { loadTrainedClassifier, readClassifierGrid } from './trained.js';

let dir: string;
let cohortDir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covsev-trained-'));
  cohortDir = join(dir, 'cohort');
  await writeCohort({ layout: 'cov19-ct-db', out: cohortDir, scans: 10, seed: 5, slices: [8, 10], rows: 48, cols: 40 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loadTrainedClassifier', () => {
  it('rebuilds the trained network from the stored config and checkpoint, on the run grid', async () => {
    const run = join(dir, 'run');
    const grid: Shape3 = [16, 32, 32];
    const cohort = await loadCohort(cohortDir);
    const { volumes } = await preprocessScans(cohort.scans, { grid, cacheDir: runFolder(run).cache }, { runDir: run });
    const train = splitScans(cohort, 'train').slice(0, 4);
    const trained = await trainClassifier(
      { train, volumes, runDir: runFolder(run).classifierRun },
      {
        network: { backbone: 'resnest-tiny-3d' },
        variant: 'resnest',
        epochs: 1,
        batchSize: 2,
        seed: 4,
        emptyClasses: 'weight-one',
      },
      { runDir: run },
    );
    expect(await readClassifierGrid(run)).toEqual(grid);
    const loaded = await loadTrainedClassifier(run);
    expect(loaded).toMatchObject({ inChannels: 1, variant: 'resnest', grid, epoch: 1 });
    expect(loaded.config.network).toEqual({ backbone: 'resnest-tiny-3d' });
    expect(loaded.checkpoint).toBe(join(runFolder(run).classifierRun, 'checkpoints', 'epoch-1'));
    // The same eval-mode outputs as the model that was trained (weights and batch-norm statistics).
    const scans = classifierScans(splitScans(cohort, 'test'), volumes);
    const want = predictCmc(trained.model, scans, 1);
    const got = predictCmc(loaded.model, scans, 1);
    for (const [i, row] of want.entries()) for (const [c, p] of row.entries()) expect(got[i]?.[c]).toBeCloseTo(p, 6);
    // No validation split: no best checkpoint, said with the folder.
    await expect(loadTrainedClassifier(run, { checkpoint: 'best' })).rejects.toThrow(/checkpoints\/best: does not exist/);
  }, 300_000);

  it('refuses a folder that holds no trained run, naming the file', async () => {
    const empty = join(dir, 'empty-run');
    await mkdir(empty, { recursive: true });
    await expect(loadTrainedClassifier(empty)).rejects.toThrow(CovsevInputError);
    await expect(loadTrainedClassifier(empty)).rejects.toThrow(/latest\.json: does not exist/);
    await expect(readClassifierGrid(empty)).rejects.toThrow(/events\.jsonl: cannot read the run's events/);
  });
});

describe('masks on the classifier grid', () => {
  const grid: Shape3 = [16, 32, 32];
  /** A label volume with a block of 1s in the upper-left quarter of every slice. */
  const mask = (shape: Shape3, affine = diagonalAffine([2, 1, 1])) => {
    const [d, r, c] = shape;
    const data = new Uint8Array(d * r * c);
    for (let z = 0; z < d; z++) for (let y = 0; y < r / 2; y++) for (let x = 0; x < c / 2; x++) data[z * r * c + y * c + x] = 1;
    return makeVolume({ data, shape, spacing: [2, 1, 1], affine, intensity: 'label' });
  };

  it('reads one NIfTI per scan on any grid of the same field of view and resamples it with nearest neighbour', async () => {
    const cohort = await loadCohort(cohortDir);
    const test = splitScans(cohort, 'test');
    const masksDir = join(dir, 'masks');
    await mkdir(masksDir, { recursive: true });
    // The scan's own grid (rows x cols 48 x 40) for one, half of it for the others.
    for (const [i, s] of test.entries()) {
      const shape = i === 0 ? await scanShape(s.folder) : ([4, 24, 20] as Shape3);
      await writeNifti(join(masksDir, `${s.name}.nii.gz`), mask(shape));
    }
    const masks = await readMasksOnGrid(test, masksDir, grid);
    expect([...masks.keys()]).toEqual(test.map((s) => s.name));
    for (const m of masks.values()) {
      expect(m.shape).toEqual(grid);
      expect(m.data).toBeInstanceOf(Uint8Array);
      expect(new Set(m.data)).toEqual(new Set([0, 1]));
      expect(m.data[0]).toBe(1); // upper left
      expect(m.data[16 * 32 * 32 - 1]).toBe(0); // lower right
    }
    // The scans of a folder, in natural order; a scan without its mask is refused by name.
    expect((await scanFolders(join(cohortDir, 'test'))).map((s) => s.name)).toEqual(test.map((s) => s.name));
    const extra = { name: 'ct_scan_99', folder: test[0]?.folder as string };
    await expect(readMasksOnGrid([...test, extra], masksDir, grid)).rejects.toThrow(
      `${masksDir}: has no mask for scan ct_scan_99 (expected ct_scan_99.nii.gz)`,
    );
    await expect(readMasksOnGrid(test, join(dir, 'no-masks'), grid)).rejects.toThrow(/mask folder does not exist/);
  });

  it('refuses a mask whose field of view, orientation or values cannot be matched to its scan', async () => {
    const scan: Shape3 = [9, 48, 40];
    // Rows and cols swapped (40 x 48): another field of view.
    expect(() => maskOnGrid(mask([9, 40, 48]), 'swapped.nii.gz', scan, grid)).toThrow(
      'swapped.nii.gz: is 9x40x48 (rows x cols 40x48) and cannot be matched to its scan of 9x48x40 (rows x cols 48x40): another field of view',
    );
    // An oblique affine.
    const oblique = [0.7, -0.7, 0, 0, 0.7, 0.7, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1] as const;
    expect(() => maskOnGrid(mask([9, 48, 40], oblique), 'oblique.nii.gz', scan, grid)).toThrow(/oblique.nii.gz: has an oblique/);
    // Not labels.
    const soft = makeVolume({ data: new Float32Array(9 * 48 * 40).fill(0.5), shape: scan, intensity: 'unknown' });
    expect(() => maskOnGrid(soft, 'soft.nii.gz', scan, grid)).toThrow(/soft.nii.gz: is not a mask: voxel 0 holds 0.5/);
    // Read from a file, checked against the scan folder.
    const cohort = await loadCohort(cohortDir);
    const first = splitScans(cohort, 'test')[0];
    const path = join(dir, 'swapped.nii.gz');
    const [d, r, c] = await scanShape(first?.folder as string);
    await writeNifti(path, mask([d, c, r]));
    await expect(readMaskOnGrid(path, first?.folder as string, grid)).rejects.toThrow(/cannot be matched to its scan/);
  });
});
