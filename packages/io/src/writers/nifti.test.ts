import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CovsevInputError } from '../errors.js';
import { parseNiftiHeader, readNifti } from '../readers/nifti.js';
import { type Affine, type Intensity, makeVolume, type Volume, type VoxelArray } from '../volume.js';
import { qformFromAffine, writeNifti } from './nifti.js';

const PYTHON = '/usr/bin/python3';
const HAVE_NIBABEL = spawnSync(PYTHON, ['-c', 'import nibabel, numpy'], { stdio: 'ignore' }).status === 0;
const NIBABEL_SUITE = HAVE_NIBABEL
  ? 'writeNifti output loaded by nibabel'
  : `writeNifti output loaded by nibabel (SKIPPED: ${PYTHON} cannot import nibabel and numpy)`;
if (!HAVE_NIBABEL)
  console.warn(`writers/nifti.test.ts: ${PYTHON} with nibabel+numpy not found; nibabel cross-checks are skipped`);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covsev-nifti-write-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Row-major 4x4 from a rotation about an axis (unit vector), per-axis zooms, and a translation. */
function rotatedAffine(
  axis: [number, number, number],
  degrees: number,
  zooms: [number, number, number],
  t: [number, number, number],
): Affine {
  const [x, y, z] = axis;
  const a = (degrees * Math.PI) / 180;
  const c = Math.cos(a);
  const s = Math.sin(a);
  const C = 1 - c;
  const R = [
    [c + x * x * C, x * y * C - z * s, x * z * C + y * s],
    [y * x * C + z * s, c + y * y * C, y * z * C - x * s],
    [z * x * C - y * s, z * y * C + x * s, c + z * z * C],
  ];
  const out: number[] = [];
  for (let r = 0; r < 3; r++) {
    for (let col = 0; col < 3; col++) out.push((R[r]?.[col] as number) * (zooms[col] as number));
    out.push(t[r] as number);
  }
  return [...out, 0, 0, 0, 1];
}

const AXIS = (() => {
  const v: [number, number, number] = [1, 2, 3];
  const n = Math.hypot(...v);
  return v.map((x) => x / n) as [number, number, number];
})();
/** Oblique, with a left-handed (det < 0) voxel frame, as radiological storage gives. */
const OBLIQUE = rotatedAffine(AXIS, 33, [-0.75, 0.8, 2.5], [120.5, -80.25, 33]);
const SPACING = [2.5, 0.8, 0.75] as const;

function ramp<T extends VoxelArray>(make: (n: number) => T, n: number, f: (i: number) => number): T {
  const data = make(n);
  for (let i = 0; i < n; i++) data[i] = f(i);
  return data;
}

function volumeOf(data: VoxelArray, intensity: Intensity = 'hu', affine: Affine = OBLIQUE): Volume {
  return makeVolume({ data, shape: [3, 4, 5], spacing: SPACING, affine, intensity });
}

const N = 60;
const DATATYPES: { name: string; data: () => VoxelArray }[] = [
  {
    name: 'uint8',
    data: () =>
      ramp(
        (n) => new Uint8Array(n),
        N,
        (i) => (i * 17) % 256,
      ),
  },
  {
    name: 'int16',
    data: () =>
      ramp(
        (n) => new Int16Array(n),
        N,
        (i) => i * 97 - 3024,
      ),
  },
  {
    name: 'uint16',
    data: () =>
      ramp(
        (n) => new Uint16Array(n),
        N,
        (i) => i * 1000 + 7,
      ),
  },
  {
    name: 'int32',
    data: () =>
      ramp(
        (n) => new Int32Array(n),
        N,
        (i) => (i - 30) * 70000000,
      ),
  },
  {
    name: 'float32',
    data: () =>
      ramp(
        (n) => new Float32Array(n),
        N,
        (i) => i * 0.37 - 11.5,
      ),
  },
  {
    name: 'float64',
    data: () =>
      ramp(
        (n) => new Float64Array(n),
        N,
        (i) => Math.sin(i) * 1e6,
      ),
  },
];

function expectAffineClose(actual: readonly number[], expected: readonly number[], digits = 4): void {
  expect(actual).toHaveLength(16);
  expected.forEach((x, i) => expect(actual[i], `affine[${i}]`).toBeCloseTo(x, digits));
}

async function headerOf(path: string) {
  const file = new Uint8Array(await readFile(path));
  return parseNiftiHeader(path, path.endsWith('.gz') ? gunzipSync(file) : file);
}

describe('writeNifti round trip', () => {
  for (const type of DATATYPES) {
    for (const suffix of ['.nii', '.nii.gz']) {
      it(`${type.name} ${suffix}`, async () => {
        const path = join(dir, `rt-${type.name}${suffix}`);
        const volume = volumeOf(type.data());
        await writeNifti(path, volume);
        const back = await readNifti(path);
        expect(back.data.constructor).toBe(volume.data.constructor);
        expect(Array.from(back.data)).toEqual(Array.from(volume.data));
        expect(back.shape).toEqual([3, 4, 5]);
        back.spacing.forEach((s, i) => expect(s).toBeCloseTo(SPACING[i] as number, 6));
        expectAffineClose(back.affine, OBLIQUE, 4);
        expect(back.intensity).toBe('hu');
        const file = await readFile(path);
        expect(file[0] === 0x1f && file[1] === 0x8b).toBe(suffix === '.nii.gz');
      });
    }
  }

  it('keeps every intensity kind', async () => {
    for (const intensity of ['hu', 'uint8-windowed', 'normalised', 'label', 'unknown'] as const) {
      const path = join(dir, `intensity-${intensity}.nii`);
      await writeNifti(path, volumeOf(new Uint8Array(N), intensity));
      expect((await readNifti(path)).intensity).toBe(intensity);
    }
  });

  it('writes the header covsev promises', async () => {
    const path = join(dir, 'header.nii.gz');
    await writeNifti(path, volumeOf(new Int16Array(N)), { description: 'é'.repeat(60) });
    const h = await headerOf(path);
    expect(h.version).toBe(1);
    expect(h.littleEndian).toBe(true);
    expect(h.magic).toBe('n+1');
    expect(h.dim).toEqual([3, 5, 4, 3, 1, 1, 1, 1]);
    expect(h.datatype).toBe(4);
    expect(h.bitpix).toBe(16);
    expect(h.voxOffset).toBe(352);
    expect(h.sclSlope).toBe(1);
    expect(h.sclInter).toBe(0);
    expect(h.xyztUnits).toBe(2);
    expect(h.qformCode).toBe(1);
    expect(h.sformCode).toBe(1);
    expect(h.pixdim[0]).toBe(-1); // qfac: the oblique affine is left-handed
    expect(h.pixdim.slice(1, 4).map((x) => Number(x.toFixed(5)))).toEqual([0.75, 0.8, 2.5]);
    expect(h.intentName).toBe('covsev:hu');
    expect(h.description).toBe('é'.repeat(39)); // 79 bytes of UTF-8, cut between characters
  });

  it('gives back the affine from the qform alone (sform_code set to 0)', async () => {
    for (const [name, affine] of [
      ['left-handed', OBLIQUE],
      ['right-handed', rotatedAffine(AXIS, -140, [0.6, 0.6, 1.25], [-3, 4, -5])],
      ['axial-flip', [-0.7, 0, 0, 150, 0, -0.7, 0, 160, 0, 0, 5, -300, 0, 0, 0, 1]],
      ['180-degrees', rotatedAffine([0, 1, 0], 180, [1, 1, 1], [0, 0, 0])],
    ] as const) {
      const path = join(dir, `qform-${name}.nii`);
      const volume = makeVolume({
        data: new Int16Array(N),
        shape: [3, 4, 5],
        spacing: [
          Math.hypot(affine[2] as number, affine[6] as number, affine[10] as number),
          Math.hypot(affine[1] as number, affine[5] as number, affine[9] as number),
          Math.hypot(affine[0] as number, affine[4] as number, affine[8] as number),
        ],
        affine,
        intensity: 'hu',
      });
      await writeNifti(path, volume);
      const bytes = new Uint8Array(await readFile(path));
      new DataView(bytes.buffer).setInt16(254, 0, true); // sform_code = 0
      await writeFile(path, bytes);
      expectAffineClose((await readNifti(path)).affine, affine, 4);
    }
  });

  it('qformFromAffine strips a shear, keeping zooms as column norms', () => {
    const sheared = [1, 0.2, 0, 0, 0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1];
    const q = qformFromAffine(sheared);
    expect(q.qfac).toBe(1);
    expect(q.zooms[0]).toBeCloseTo(1, 9);
    expect(q.zooms[1]).toBeCloseTo(Math.hypot(0.2, 1), 9);
    expect(Math.hypot(...q.quatern)).toBeLessThanOrEqual(1);
  });

  it('creates parent folders and leaves no temporary file', async () => {
    const path = join(dir, 'deep', 'er', 'scan.nii.gz');
    await writeNifti(path, volumeOf(new Uint8Array(N)));
    expect(await readdir(join(dir, 'deep', 'er'))).toEqual(['scan.nii.gz']);
  });
});

describe('writeNifti is atomic', () => {
  it('a write that fails midway leaves the previous file intact and no temporary file', async () => {
    for (const suffix of ['.nii', '.nii.gz']) {
      const folder = await mkdtemp(join(dir, 'atomic-'));
      const path = join(folder, `scan${suffix}`);
      const good = volumeOf(
        ramp(
          (n) => new Int16Array(n),
          N,
          (i) => i,
        ),
      );
      await writeNifti(path, good);
      const before = await readFile(path);

      // Data that throws after the first chunks have been written (subarray is how the writer
      // walks the data, one 4 MiB chunk at a time).
      let calls = 0;
      class FailingArray extends Float32Array {
        override subarray(begin?: number, end?: number): Float32Array<ArrayBuffer> {
          calls++;
          if (calls > 2) throw new Error('disk on fire');
          return new Float32Array(this.buffer, this.byteOffset + (begin ?? 0) * 4, (end ?? this.length) - (begin ?? 0));
        }
      }
      const big = new FailingArray(4 * 1024 * 1024); // 16 MiB: four chunks
      const bad = makeVolume({ data: big, shape: [64, 256, 256], intensity: 'hu' });
      await expect(writeNifti(path, bad)).rejects.toThrow('disk on fire');
      expect(calls).toBeGreaterThan(2);

      expect(Buffer.compare(await readFile(path), before)).toBe(0);
      expect(Array.from((await readNifti(path)).data)).toEqual(Array.from(good.data));
      expect(await readdir(folder)).toEqual([`scan${suffix}`]);
    }
  });

  it('a volume whose data getter throws never touches the file', async () => {
    const folder = await mkdtemp(join(dir, 'getter-'));
    const path = join(folder, 'scan.nii');
    await writeNifti(path, volumeOf(new Uint8Array(N)));
    const before = await readFile(path);
    const exploding = {
      ...volumeOf(new Uint8Array(N)),
      get data(): Uint8Array {
        throw new Error('no data for you');
      },
    } as Volume;
    await expect(writeNifti(path, exploding)).rejects.toThrow('no data for you');
    expect(Buffer.compare(await readFile(path), before)).toBe(0);
    expect(await readdir(folder)).toEqual(['scan.nii']);
  });

  it('an unwritable destination is a CovsevInputError naming it', async () => {
    const blocker = join(dir, 'blocker');
    await writeFile(blocker, 'a file, not a folder');
    const path = join(blocker, 'scan.nii');
    const error = await writeNifti(path, volumeOf(new Uint8Array(N))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CovsevInputError);
    expect((error as Error).message).toContain('scan.nii');
  });

  it('refuses volumes NIfTI-1 cannot hold, naming the destination', async () => {
    const path = join(dir, 'refused.nii');
    const tooLong = makeVolume({ data: new Uint8Array(40000), shape: [40000, 1, 1], intensity: 'label' });
    await expect(writeNifti(path, tooLong)).rejects.toThrow(/refused\.nii: cannot write NIfTI: .*32767/);
    const singular = makeVolume({
      data: new Uint8Array(N),
      shape: [3, 4, 5],
      affine: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
      intensity: 'label',
    });
    await expect(writeNifti(path, singular)).rejects.toThrow(/singular/);
    const int8 = { ...volumeOf(new Uint8Array(N)), data: new Int8Array(N) } as unknown as Volume;
    await expect(writeNifti(path, int8)).rejects.toThrow(/unsupported voxel array Int8Array/);
    await expect(readdir(dir)).resolves.not.toContain('refused.nii');
  });
});

const NIBABEL_LOAD = `
import sys, json
import numpy as np, nibabel as nib
img = nib.load(sys.argv[1]); h = img.header
print(json.dumps({
  'shape': list(img.shape), 'dtype': str(img.get_data_dtype()),
  'data': np.asarray(img.dataobj).ravel(order='F').tolist(),
  'affine': img.affine.ravel().tolist(),
  'qform': h.get_qform().ravel().tolist(), 'sform': h.get_sform().ravel().tolist(),
  'qform_code': int(h['qform_code']), 'sform_code': int(h['sform_code']),
  'zooms': [float(z) for z in h.get_zooms()],
  'units': list(h.get_xyzt_units()), 'descrip': h['descrip'].item().decode(),
  'intent_name': h['intent_name'].item().decode(),
}))
`;

describe.skipIf(!HAVE_NIBABEL)(NIBABEL_SUITE, () => {
  const expectedDtype: Record<string, string> = {
    uint8: 'uint8',
    int16: 'int16',
    uint16: 'uint16',
    int32: 'int32',
    float32: 'float32',
    float64: 'float64',
  };
  for (const type of DATATYPES) {
    for (const suffix of ['.nii', '.nii.gz']) {
      it(`${type.name} ${suffix}: same data, affine, codes and zooms`, async () => {
        const path = join(dir, `nib-${type.name}${suffix}`);
        const volume = volumeOf(type.data());
        await writeNifti(path, volume, { description: 'covsev test' });
        const run = spawnSync(PYTHON, ['-c', NIBABEL_LOAD, path], { encoding: 'utf8' });
        expect(run.status, run.stderr).toBe(0);
        const nib = JSON.parse(run.stdout);
        expect(nib.shape).toEqual([5, 4, 3]);
        expect(nib.dtype).toBe(expectedDtype[type.name]);
        expect(nib.data).toEqual(Array.from(volume.data));
        expectAffineClose(nib.affine, OBLIQUE, 4);
        expectAffineClose(nib.sform, OBLIQUE, 4);
        expectAffineClose(nib.qform, OBLIQUE, 4);
        expect(nib.qform_code).toBe(1);
        expect(nib.sform_code).toBe(1);
        expect(nib.zooms).toEqual([0.75, 0.8, 2.5].map((z) => expect.closeTo(z, 5)));
        expect(nib.units).toEqual(['mm', 'unknown']);
        expect(nib.descrip).toBe('covsev test');
        expect(nib.intent_name).toBe('covsev:hu');
      });
    }
  }
});
