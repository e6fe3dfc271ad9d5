import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectInputError } from '../errors.test-helpers.js';
import { makeFifo, releaseFifo } from './fifo.test-helpers.js';

/** Every NIfTI error also carries the exact path. */
const expectInputErrorAt = (promise: Promise<unknown>, path: string, pattern: RegExp) =>
  expectInputError(promise, path, pattern, true);

import { niftiReader, parseNiftiHeader, readNifti } from './nifti.js';

const PYTHON = '/usr/bin/python3';
const HAVE_NIBABEL = spawnSync(PYTHON, ['-c', 'import nibabel, numpy'], { stdio: 'ignore' }).status === 0;
const NIBABEL_SUITE = HAVE_NIBABEL
  ? 'readNifti against nibabel-written files'
  : `readNifti against nibabel-written files (SKIPPED: ${PYTHON} cannot import nibabel and numpy)`;
if (!HAVE_NIBABEL) console.warn(`nifti.test.ts: ${PYTHON} with nibabel+numpy not found; nibabel cross-checks are skipped`);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covsev-nifti-read-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Fields of a hand-made NIfTI file; anything left out gets a sensible default. */
interface Fake {
  version?: 1 | 2;
  littleEndian?: boolean;
  dim?: number[];
  datatype?: number;
  bitpix?: number;
  pixdim?: number[];
  voxOffset?: number;
  slope?: number;
  inter?: number;
  qformCode?: number;
  sformCode?: number;
  quatern?: number[];
  qoffset?: number[];
  srow?: number[];
  intentCode?: number;
  intentName?: string;
  description?: string;
  magic?: string;
  sizeofHdr?: number;
  /** Voxel bytes, already in the file's byte order. */
  data: Uint8Array;
}

/** Builds a single-file NIfTI independently of covsev's writer. */
function fakeNifti(f: Fake): Uint8Array {
  const version = f.version ?? 1;
  const le = f.littleEndian ?? true;
  const offset = f.voxOffset ?? (version === 1 ? 352 : 544);
  const headerEnd = version === 1 ? 352 : 544;
  const bytes = new Uint8Array(Math.max(offset, headerEnd) + f.data.length);
  const v = new DataView(bytes.buffer);
  const str = (at: number, s: string) => bytes.set(new TextEncoder().encode(s), at);
  const dim = f.dim ?? [3, 1, 1, 1, 1, 1, 1, 1];
  const pixdim = f.pixdim ?? [1, 1, 1, 1, 1, 1, 1, 1];
  const srow = f.srow ?? [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0];
  const quatern = f.quatern ?? [0, 0, 0];
  const qoffset = f.qoffset ?? [0, 0, 0];
  if (version === 1) {
    v.setInt32(0, f.sizeofHdr ?? 348, le);
    dim.forEach((n, i) => v.setInt16(40 + 2 * i, n, le));
    v.setInt16(68, f.intentCode ?? 0, le);
    v.setInt16(70, f.datatype ?? 4, le);
    v.setInt16(72, f.bitpix ?? 16, le);
    pixdim.forEach((x, i) => v.setFloat32(76 + 4 * i, x, le));
    v.setFloat32(108, offset, le);
    v.setFloat32(112, f.slope ?? 0, le);
    v.setFloat32(116, f.inter ?? 0, le);
    bytes[123] = 2;
    str(148, f.description ?? '');
    v.setInt16(252, f.qformCode ?? 0, le);
    v.setInt16(254, f.sformCode ?? 0, le);
    quatern.forEach((x, i) => v.setFloat32(256 + 4 * i, x, le));
    qoffset.forEach((x, i) => v.setFloat32(268 + 4 * i, x, le));
    srow.forEach((x, i) => v.setFloat32(280 + 4 * i, x, le));
    str(328, f.intentName ?? '');
    str(344, f.magic ?? 'n+1');
  } else {
    v.setInt32(0, f.sizeofHdr ?? 540, le);
    str(4, f.magic ?? 'n+2');
    bytes.set([0x0d, 0x0a, 0x1a, 0x0a], 8);
    v.setInt16(12, f.datatype ?? 4, le);
    v.setInt16(14, f.bitpix ?? 16, le);
    dim.forEach((n, i) => v.setBigInt64(16 + 8 * i, BigInt(n), le));
    pixdim.forEach((x, i) => v.setFloat64(104 + 8 * i, x, le));
    v.setBigInt64(168, BigInt(offset), le);
    v.setFloat64(176, f.slope ?? 0, le);
    v.setFloat64(184, f.inter ?? 0, le);
    str(240, f.description ?? '');
    v.setInt32(344, f.qformCode ?? 0, le);
    v.setInt32(348, f.sformCode ?? 0, le);
    quatern.forEach((x, i) => v.setFloat64(352 + 8 * i, x, le));
    qoffset.forEach((x, i) => v.setFloat64(376 + 8 * i, x, le));
    srow.forEach((x, i) => v.setFloat64(400 + 8 * i, x, le));
    v.setInt32(500, 2, le);
    v.setInt32(504, f.intentCode ?? 0, le);
    str(508, f.intentName ?? '');
  }
  bytes.set(f.data, offset);
  return bytes;
}

/** Bytes of numbers in a given type and byte order. */
function encode(kind: 'u8' | 'i8' | 'i16' | 'u16' | 'i32' | 'f32' | 'f64', values: readonly number[], le = true): Uint8Array {
  const size = { u8: 1, i8: 1, i16: 2, u16: 2, i32: 4, f32: 4, f64: 8 }[kind];
  const out = new Uint8Array(values.length * size);
  const v = new DataView(out.buffer);
  values.forEach((x, i) => {
    const at = i * size;
    if (kind === 'u8') v.setUint8(at, x);
    else if (kind === 'i8') v.setInt8(at, x);
    else if (kind === 'i16') v.setInt16(at, x, le);
    else if (kind === 'u16') v.setUint16(at, x, le);
    else if (kind === 'i32') v.setInt32(at, x, le);
    else if (kind === 'f32') v.setFloat32(at, x, le);
    else v.setFloat64(at, x, le);
  });
  return out;
}

async function put(name: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

function expectAffineClose(actual: readonly number[], expected: readonly number[], digits = 4): void {
  expect(actual).toHaveLength(16);
  expected.forEach((x, i) => expect(actual[i], `affine[${i}]`).toBeCloseTo(x, digits));
}

// 4 cols x 3 rows x 2 slices, value = index in file order.
const DIM_432 = [3, 4, 3, 2, 1, 1, 1, 1];
const RAMP = Array.from({ length: 24 }, (_, i) => i * 10 - 100);

describe('readNifti: layout, types and byte order', () => {
  it('maps dim (i, j, k) to shape [k, j, i] in file order and spacing from pixdim', async () => {
    const path = await put(
      'basic.nii',
      fakeNifti({
        dim: DIM_432,
        pixdim: [1, 0.7, 0.8, 2.5, 1, 1, 1, 1],
        sformCode: 1,
        srow: [0.7, 0, 0, -10, 0, 0.8, 0, 20, 0, 0, 2.5, 30],
        data: encode('i16', RAMP),
      }),
    );
    const volume = await readNifti(path);
    expect(volume.shape).toEqual([2, 3, 4]);
    expect(volume.data).toBeInstanceOf(Int16Array);
    expect(Array.from(volume.data)).toEqual(RAMP);
    expect(volume.spacing[0]).toBeCloseTo(2.5, 6);
    expect(volume.spacing[1]).toBeCloseTo(0.8, 6);
    expect(volume.spacing[2]).toBeCloseTo(0.7, 6);
    expectAffineClose(volume.affine, [0.7, 0, 0, -10, 0, 0.8, 0, 20, 0, 0, 2.5, 30, 0, 0, 0, 1], 6);
    expect(volume.intensity).toBe('unknown');
    expect(volume.source).toBe(path);
    // voxel (x=1, y=2, z=1) lives at (z * rows + y) * cols + x
    expect(volume.data[(1 * 3 + 2) * 4 + 1]).toBe(RAMP[21]);
  });

  const kinds = [
    { name: 'uint8', code: 2, bitpix: 8, kind: 'u8', values: [0, 1, 127, 255], type: Uint8Array },
    { name: 'int8', code: 256, bitpix: 8, kind: 'i8', values: [-128, -1, 0, 127], type: Int16Array },
    { name: 'int16', code: 4, bitpix: 16, kind: 'i16', values: [-32768, -1024, 0, 32767], type: Int16Array },
    { name: 'uint16', code: 512, bitpix: 16, kind: 'u16', values: [0, 1, 40000, 65535], type: Uint16Array },
    { name: 'int32', code: 8, bitpix: 32, kind: 'i32', values: [-2147483648, -5, 7, 2147483647], type: Int32Array },
    { name: 'float32', code: 16, bitpix: 32, kind: 'f32', values: [-1024.5, 0, 0.25, 3.0e38], type: Float32Array },
    { name: 'float64', code: 64, bitpix: 64, kind: 'f64', values: [-1e300, -0.125, 0, Math.PI], type: Float64Array },
  ] as const;
  for (const k of kinds) {
    for (const le of [true, false]) {
      it(`reads ${k.name} (${le ? 'little' : 'big'}-endian) as ${k.type.name}`, async () => {
        const path = await put(
          `${k.name}-${le ? 'le' : 'be'}.nii`,
          fakeNifti({
            littleEndian: le,
            dim: [3, 2, 2, 1, 1, 1, 1, 1],
            datatype: k.code,
            bitpix: k.bitpix,
            data: encode(k.kind, k.values, le),
          }),
        );
        const volume = await readNifti(path);
        expect(volume.data).toBeInstanceOf(k.type);
        expect(Array.from(volume.data)).toEqual(Array.from(k.type.from(k.values)));
      });
    }
  }

  it('reads a NIfTI-2 file (64-bit header) like a NIfTI-1 one', async () => {
    const path = await put(
      'v2.nii',
      fakeNifti({
        version: 2,
        dim: DIM_432,
        pixdim: [1, 0.7, 0.8, 2.5, 1, 1, 1, 1],
        sformCode: 1,
        srow: [0, 0.7, 0, 1, 0.8, 0, 0, 2, 0, 0, 2.5, 3],
        data: encode('i16', RAMP),
      }),
    );
    const volume = await readNifti(path);
    expect(volume.shape).toEqual([2, 3, 4]);
    expect(Array.from(volume.data)).toEqual(RAMP);
    expectAffineClose(volume.affine, [0, 0.7, 0, 1, 0.8, 0, 0, 2, 0, 0, 2.5, 3, 0, 0, 0, 1], 12);
  });

  it('accepts a 4D file with one time point, and a misaligned vox_offset', async () => {
    const path = await put('t1.nii', fakeNifti({ dim: [4, 4, 3, 2, 1, 1, 1, 1], voxOffset: 355, data: encode('i16', RAMP) }));
    const volume = await readNifti(path);
    expect(volume.shape).toEqual([2, 3, 4]);
    expect(Array.from(volume.data)).toEqual(RAMP);
  });

  it('reads a vox_offset of 0 (unset) as 352, like nibabel', async () => {
    const path = await put('offset0.nii', fakeNifti({ dim: DIM_432, voxOffset: 352, data: encode('i16', RAMP) }));
    const bytes = new Uint8Array(await readFile(path));
    new DataView(bytes.buffer).setFloat32(108, 0, true);
    await writeFile(path, bytes);
    expect(Array.from((await readNifti(path)).data)).toEqual(RAMP);
  });

  it('gunzips by content: a gzipped .nii and a .nii.gz', async () => {
    const raw = fakeNifti({ dim: DIM_432, data: encode('i16', RAMP) });
    for (const name of ['gz.nii.gz', 'gz-named-plain.nii']) {
      const volume = await readNifti(await put(name, gzipSync(raw)));
      expect(Array.from(volume.data)).toEqual(RAMP);
    }
  });
});

describe('readNifti: scaling', () => {
  it('applies scl_slope/scl_inter into a Float32Array', async () => {
    const path = await put('scaled.nii', fakeNifti({ dim: DIM_432, slope: 2, inter: -1024, data: encode('i16', RAMP) }));
    const volume = await readNifti(path);
    expect(volume.data).toBeInstanceOf(Float32Array);
    expect(Array.from(volume.data)).toEqual(RAMP.map((x) => x * 2 - 1024));
  });

  it('keeps the stored type when slope is 0, NaN, or (1, 0)', async () => {
    for (const [slope, inter] of [
      [0, 5],
      [Number.NaN, 0],
      [1, 0],
    ] as const) {
      const path = await put(`unscaled-${slope}.nii`, fakeNifti({ dim: DIM_432, slope, inter, data: encode('i16', RAMP) }));
      const volume = await readNifti(path);
      expect(volume.data).toBeInstanceOf(Int16Array);
      expect(Array.from(volume.data)).toEqual(RAMP);
    }
  });

  it('refuses a valid slope with an infinite intercept', async () => {
    const path = await put(
      'badinter.nii',
      fakeNifti({ dim: DIM_432, slope: 1, inter: Number.POSITIVE_INFINITY, data: encode('i16', RAMP) }),
    );
    await expectInputErrorAt(readNifti(path), path, /scl_inter/);
  });
});

describe('readNifti: affine like nibabel get_best_affine', () => {
  it('uses the qform when sform_code is 0 (quaternion, qfac -1)', async () => {
    // 90 degrees about z: w = cos 45, d = sin 45.
    const s = Math.SQRT1_2;
    const path = await put(
      'qform.nii',
      fakeNifti({
        dim: DIM_432,
        pixdim: [-1, 2, 3, 4, 1, 1, 1, 1],
        qformCode: 1,
        quatern: [0, 0, s],
        qoffset: [5, 6, 7],
        data: encode('i16', RAMP),
      }),
    );
    const volume = await readNifti(path);
    // R = [[0,-1,0],[1,0,0],[0,0,1]], times diag(2, 3, 4 * qfac)
    expectAffineClose(volume.affine, [0, -3, 0, 5, 2, 0, 0, 6, 0, 0, -4, 7, 0, 0, 0, 1], 5);
    expect(volume.spacing).toEqual([4, 3, 2]);
  });

  it('prefers the sform whenever sform_code != 0, even if qform_code is higher', async () => {
    const path = await put(
      'both.nii',
      fakeNifti({
        dim: DIM_432,
        qformCode: 2,
        sformCode: 1,
        quatern: [0, 0, 1],
        qoffset: [9, 9, 9],
        srow: [1, 0, 0, 1, 0, 1, 0, 2, 0, 0, 1, 3],
        data: encode('i16', RAMP),
      }),
    );
    expectAffineClose((await readNifti(path)).affine, [1, 0, 0, 1, 0, 1, 0, 2, 0, 0, 1, 3, 0, 0, 0, 1], 6);
  });

  it('without sform and qform, uses the centred, x-flipped pixdim diagonal', async () => {
    const path = await put(
      'noxform.nii',
      fakeNifti({ dim: DIM_432, pixdim: [1, 2, 3, 4, 1, 1, 1, 1], data: encode('i16', RAMP) }),
    );
    // nibabel: diag(-2, 3, 4), translation -((shape - 1) / 2) * zooms = [3, -3, -2]
    expectAffineClose((await readNifti(path)).affine, [-2, 0, 0, 3, 0, 3, 0, -3, 0, 0, 4, -2, 0, 0, 0, 1], 6);
  });
});

describe('readNifti: intensity from the header', () => {
  const cases = [
    { name: 'covsev-tag', fields: { intentName: 'covsev:u8win' }, expected: 'uint8-windowed' },
    { name: 'label-intent', fields: { intentCode: 1002 }, expected: 'label' },
    { name: 'hu-descrip', fields: { description: 'chest CT in HU' }, expected: 'hu' },
    { name: 'hounsfield', fields: { description: 'Hounsfield units' }, expected: 'hu' },
    { name: 'plain', fields: { description: 'CHUV scan' }, expected: 'unknown' },
  ] as const;
  for (const c of cases) {
    it(`${c.name} -> ${c.expected}`, async () => {
      const path = await put(`${c.name}.nii`, fakeNifti({ dim: DIM_432, ...c.fields, data: encode('i16', RAMP) }));
      expect((await readNifti(path)).intensity).toBe(c.expected);
    });
  }
});

describe('readNifti: bad input is a CovsevInputError naming the file', () => {
  const good = () => fakeNifti({ dim: DIM_432, data: encode('i16', RAMP) });

  it('empty file (.nii and .nii.gz)', async () => {
    for (const name of ['empty.nii', 'empty.nii.gz']) {
      const path = await put(name, new Uint8Array(0));
      await expectInputErrorAt(readNifti(path), path, /empty file/);
    }
  });

  it('wrong magic', async () => {
    const path = await put('magic.nii', fakeNifti({ dim: DIM_432, magic: 'xyz', data: encode('i16', RAMP) }));
    await expectInputErrorAt(readNifti(path), path, /wrong magic/);
  });

  it('not a NIfTI at all (wrong header size)', async () => {
    const path = await put('text.nii', new TextEncoder().encode('this is not a NIfTI file, just some text\n'.repeat(20)));
    await expectInputErrorAt(readNifti(path), path, /not a NIfTI file: wrong magic/);
  });

  it('header of a .hdr/.img pair', async () => {
    const path = await put('pair.nii', fakeNifti({ dim: DIM_432, magic: 'ni1', data: encode('i16', RAMP) }));
    await expectInputErrorAt(readNifti(path), path, /\.hdr\/\.img pair/);
  });

  it('truncated .nii.gz', async () => {
    const gz = gzipSync(good());
    const path = await put('cut.nii.gz', gz.subarray(0, Math.floor(gz.length / 2)));
    await expectInputErrorAt(readNifti(path), path, /truncated \.nii\.gz: unexpected end of file/);
  });

  it('corrupt gzip data', async () => {
    const gz = new Uint8Array(gzipSync(good()));
    gz.fill(0x55, 10, 40);
    const path = await put('corrupt.nii.gz', gz);
    await expectInputErrorAt(readNifti(path), path, /corrupt gzip data|truncated/);
  });

  it('voxel data shorter than the header says (.nii and .nii.gz)', async () => {
    const bytes = good();
    const cut = bytes.subarray(0, bytes.length - 10);
    const path = await put('short.nii', cut);
    await expectInputErrorAt(
      readNifti(path),
      path,
      /truncated: the header says 48 bytes of voxels \(4x3x2 int16.*the file has 38/,
    );
    const gzPath = await put('short.nii.gz', gzipSync(cut));
    await expectInputErrorAt(readNifti(gzPath), gzPath, /truncated: the header says 48 bytes of voxels.*the file has 38/);
  });

  it('header cut short', async () => {
    const path = await put('header-cut.nii', good().subarray(0, 200));
    await expectInputErrorAt(readNifti(path), path, /truncated NIfTI-1 header/);
  });

  it('unsupported datatypes', async () => {
    for (const [code, name] of [
      [128, 'rgb24'],
      [768, 'uint32'],
      [32, 'complex64'],
      [1024, 'int64'],
      [999, 'code 999'],
    ] as const) {
      const path = await put(
        `dtype-${code}.nii`,
        fakeNifti({ dim: DIM_432, datatype: code, bitpix: 32, data: new Uint8Array(24 * 8) }),
      );
      await expectInputErrorAt(readNifti(path), path, new RegExp(`unsupported NIfTI datatype ${name}`));
    }
  });

  it('dimensions other than 3 (a 4D with several volumes, a 2D image)', async () => {
    const four = await put('4d.nii', fakeNifti({ dim: [4, 2, 2, 3, 2, 1, 1, 1], data: encode('i16', RAMP) }));
    await expectInputErrorAt(readNifti(four), four, /4D with dims 2x2x3x2 \(2 volumes\)/);
    const two = await put('2d.nii', fakeNifti({ dim: [2, 4, 6, 1, 1, 1, 1, 1], data: encode('i16', RAMP) }));
    await expectInputErrorAt(readNifti(two), two, /is 2D/);
    const zero = await put('0len.nii', fakeNifti({ dim: [3, 4, 0, 2, 1, 1, 1, 1], data: encode('i16', RAMP) }));
    await expectInputErrorAt(readNifti(zero), zero, /invalid dim\[2\] = 0/);
  });

  it('missing file and folder', async () => {
    const missing = join(dir, 'missing.nii.gz');
    await expectInputErrorAt(readNifti(missing), missing, /no such file/);
    const folder = join(dir, 'folder.nii');
    await mkdir(folder, { recursive: true });
    await expectInputErrorAt(readNifti(folder), folder, /is a folder/);
  });
});

describe('niftiReader', () => {
  it('claims .nii and .nii.gz paths only', async () => {
    expect(await niftiReader.canRead('/x/ct.nii')).toBe(true);
    expect(await niftiReader.canRead('/x/CT.NII.GZ')).toBe(true);
    expect(await niftiReader.canRead('/x/ct.nii.bak')).toBe(false);
    expect(await niftiReader.canRead('/x/ct_scan_1')).toBe(false);
    expect(niftiReader.name).toBe('nifti');
  });

  it('parseNiftiHeader reports version and byte order', () => {
    const header = parseNiftiHeader(
      'mem.nii',
      fakeNifti({ littleEndian: false, dim: DIM_432, data: encode('i16', RAMP, false) }),
    );
    expect(header.version).toBe(1);
    expect(header.littleEndian).toBe(false);
    expect(header.dim.slice(0, 4)).toEqual([3, 4, 3, 2]);
  });
});

/** Runs python with nibabel; the script prints one JSON document. */
function python(script: string, ...args: string[]): unknown {
  const run = spawnSync(PYTHON, ['-c', script, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (run.status !== 0) throw new Error(`python failed (${run.status}): ${run.stderr}`);
  return JSON.parse(run.stdout);
}

const NIBABEL_WRITE = `
import sys, json, gzip
import numpy as np, nibabel as nib
out, kind = sys.argv[1], sys.argv[2]
shape = (5, 4, 3)  # (i, j, k) = (cols, rows, slices)
t = np.deg2rad(25.0); c, s = np.cos(t), np.sin(t)
oblique = np.array([[0.7 * c, -0.8 * s, 0.1, -90.5], [0.7 * s, 0.8 * c, 0.0, 12.25], [0.0, 0.05, -2.5, 40.0], [0, 0, 0, 1]])
other = np.diag([3.0, 3.0, 3.0, 1.0])
if kind == 'int16-scaled':
    raw = (np.arange(60).reshape(shape, order='F') * 37 - 900).astype(np.int16)
    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape); hdr.set_data_dtype(np.int16); hdr.set_zooms((0.7, 0.8, 2.5))
    hdr.set_sform(oblique, code=1); hdr.set_qform(other, code=2)
    hdr['scl_slope'] = 2.0; hdr['scl_inter'] = -1024.0
    hdr.set_data_offset(352)
    with (gzip.open if out.endswith('.gz') else open)(out, 'wb') as f:
        f.write(hdr.binaryblock); f.write(b'\\0' * 4); f.write(raw.tobytes(order='F'))
elif kind == 'float32-oblique':
    data = (np.arange(60).reshape(shape, order='F') * 0.37 - 11.5).astype(np.float32)
    img = nib.Nifti1Image(data, oblique); img.set_sform(oblique, code=2); img.set_qform(None, code=0)
    nib.save(img, out)
elif kind == 'qform-only-bigendian':
    data = (np.arange(60).reshape(shape, order='F') * 3 - 60).astype('>i2')
    hdr = nib.Nifti1Header(endianness='>')
    img = nib.Nifti1Image(data, None, hdr); img.set_qform(oblique @ np.diag([1, 1, 1, 1.0]), code=1); img.set_sform(None, code=0)
    img.set_data_dtype('>i2')
    nib.save(img, out)
elif kind == 'nifti2':
    data = (np.arange(60).reshape(shape, order='F') * 1.5).astype(np.float64)
    nib.save(nib.Nifti2Image(data, oblique), out)
img = nib.load(out)
print(json.dumps({'affine': img.affine.ravel().tolist(), 'data': np.asarray(img.get_fdata()).ravel(order='F').tolist(),
                  'zooms': [float(z) for z in img.header.get_zooms()[:3]], 'dtype': str(img.get_data_dtype())}))
`;

interface NibabelView {
  affine: number[];
  data: number[];
  zooms: number[];
  dtype: string;
}

describe.skipIf(!HAVE_NIBABEL)(NIBABEL_SUITE, () => {
  const cases = [
    { kind: 'int16-scaled', file: 'nib-int16-scaled.nii.gz', type: Float32Array },
    { kind: 'int16-scaled', file: 'nib-int16-scaled.nii', type: Float32Array },
    { kind: 'float32-oblique', file: 'nib-float32.nii', type: Float32Array },
    { kind: 'qform-only-bigendian', file: 'nib-qform-be.nii.gz', type: Int16Array },
    { kind: 'nifti2', file: 'nib-nifti2.nii', type: Float64Array },
  ] as const;
  for (const c of cases) {
    it(`${c.kind} (${c.file}): same values, affine and zooms as nibabel`, async () => {
      const path = join(dir, c.file);
      const nib = python(NIBABEL_WRITE, path, c.kind) as NibabelView;
      const volume = await readNifti(path);
      expect(volume.shape).toEqual([3, 4, 5]);
      expect(volume.data).toBeInstanceOf(c.type);
      expect(volume.data.length).toBe(nib.data.length);
      nib.data.forEach((x, i) => expect(volume.data[i], `voxel ${i}`).toBeCloseTo(x, 4));
      expectAffineClose(volume.affine, nib.affine, 4);
      expect([...volume.spacing].reverse()).toEqual(nib.zooms.map((z) => expect.closeTo(z, 5)));
    });
  }

  it('int16 scaled by slope 2, intercept -1024 gives stored * 2 - 1024', async () => {
    const volume = await readNifti(join(dir, 'nib-int16-scaled.nii.gz'));
    expect(volume.data[0]).toBe(-900 * 2 - 1024);
    expect(volume.data[59]).toBe((59 * 37 - 900) * 2 - 1024);
  });
});

describe('readNifti: hostile sizes are refused before the voxels are read', () => {
  /** A NIfTI-1 int16 header claiming `dims` (i, j, k) followed by `dataBytes` zero bytes. */
  const claiming = (dims: [number, number, number], dataBytes: number) =>
    fakeNifti({ dim: [3, ...dims, 1, 1, 1, 1], data: new Uint8Array(dataBytes) });

  it('a small .nii.gz whose header claims 4000x4000x300 fails at once, naming the claim and the limit', async () => {
    // 8 MB of zeros gzip to ~8 kB; the header claims 9.6 GB. Before the header check, covsev inflated
    // whatever followed before failing; now it must stop after the first chunk.
    const path = await put('huge-claim.nii.gz', gzipSync(claiming([4000, 4000, 300], 8 << 20)));
    const rss = process.memoryUsage().rss;
    await expectInputErrorAt(
      readNifti(path),
      path,
      /header says 4000x4000x300 int16 voxels \(9,600,000,000 bytes\), more than the limit of 2,147,483,648 bytes \(maxBytes/,
    );
    expect(process.memoryUsage().rss - rss).toBeLessThan(300 << 20);
    const nii = await put('huge-claim.nii', claiming([4000, 4000, 300], 1024));
    await expectInputErrorAt(readNifti(nii), nii, /header says 4000x4000x300 int16 voxels .*maxBytes/);
  });

  it('maxBytes lowers (or raises) the limit', async () => {
    // 200x200x100 int16 = 8,000,000 bytes of voxels, all present.
    const path = await put('limit.nii.gz', gzipSync(claiming([200, 200, 100], 8_000_000)));
    await expectInputErrorAt(
      readNifti(path, { maxBytes: 1_000_000 }),
      path,
      /header says 200x200x100 int16 voxels \(8,000,000 bytes\), more than the limit of 1,000,000 bytes/,
    );
    expect((await readNifti(path, { maxBytes: 8_000_000 })).shape).toEqual([100, 200, 200]);
  });

  it('a .nii.gz that inflates to far more than its header says is refused without inflating it all', async () => {
    // Header: 4x3x2 int16 (48 bytes); the gzip stream holds 64 MiB more.
    const path = await put('bomb.nii.gz', gzipSync(claiming([4, 3, 2], 64 << 20)));
    await expectInputErrorAt(readNifti(path), path, /more data than the header says: 4x3x2 int16 voxels \(48 bytes\)/);
    const nii = await put('bomb.nii', claiming([4, 3, 2], 4 << 20));
    await expectInputErrorAt(readNifti(nii), nii, /more data than the header says/);
  });

  it('a few trailing bytes (up to 1 MiB) are still accepted, as nibabel does', async () => {
    const path = await put('trailing.nii.gz', gzipSync(claiming([4, 3, 2], 48 + 1000)));
    expect((await readNifti(path)).shape).toEqual([2, 3, 4]);
  });
});

describe('readNifti: NaN and infinite voxels', () => {
  const values = [...RAMP];
  values[3] = Number.NaN;
  values[10] = Number.POSITIVE_INFINITY;
  values[20] = Number.NEGATIVE_INFINITY;

  it('are refused by default, with their count', async () => {
    const path = await put('nan.nii', fakeNifti({ dim: DIM_432, datatype: 16, bitpix: 32, data: encode('f32', values) }));
    await expectInputErrorAt(readNifti(path), path, /12\.5 % of voxels \(3 of 24\) are NaN or infinite/);
    const f64 = await put(
      'nan64.nii.gz',
      gzipSync(fakeNifti({ dim: DIM_432, datatype: 64, bitpix: 64, data: encode('f64', values) })),
    );
    await expectInputErrorAt(readNifti(f64), f64, /3 of 24\) are NaN or infinite/);
  });

  it('an overflowing scl_slope (int16 x 1e38 is infinite in float32) is refused too', async () => {
    const path = await put('overflow.nii', fakeNifti({ dim: DIM_432, slope: 1e38, data: encode('i16', RAMP) }));
    await expectInputErrorAt(readNifti(path), path, /are NaN or infinite/);
  });

  it("nonFinite: 'replace' puts the smallest finite value in their place and warns with the count", async () => {
    const path = await put('nan-replace.nii', fakeNifti({ dim: DIM_432, datatype: 16, bitpix: 32, data: encode('f32', values) }));
    const warnings: string[] = [];
    const volume = await readNifti(path, { nonFinite: 'replace', onWarning: (m) => warnings.push(m) });
    expect(volume.data[3]).toBe(-100);
    expect(volume.data[10]).toBe(-100);
    expect(volume.data[20]).toBe(-100);
    expect(volume.data[4]).toBe(RAMP[4]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/nan-replace\.nii: 3 of 24 voxels .* NaN or infinite; replaced by -100/);
  });

  it("nonFinite: 'replace' still refuses a volume with no finite voxel at all", async () => {
    const path = await put(
      'all-nan.nii',
      fakeNifti({
        dim: DIM_432,
        datatype: 16,
        bitpix: 32,
        data: encode(
          'f32',
          RAMP.map(() => Number.NaN),
        ),
      }),
    );
    await expectInputErrorAt(
      readNifti(path, { nonFinite: 'replace', onWarning: () => {} }),
      path,
      /100 % of voxels \(24 of 24\)/,
    );
  });
});

describe('readNifti: only regular files', () => {
  it('a FIFO named x.nii is "not a regular file" instead of a hang', async () => {
    const path = join(dir, 'fifo.nii');
    if (!makeFifo(path)) return;
    try {
      await expectInputErrorAt(readNifti(path), path, /not a regular file \(a FIFO/);
    } finally {
      releaseFifo(path);
    }
  }, 5000);
});
