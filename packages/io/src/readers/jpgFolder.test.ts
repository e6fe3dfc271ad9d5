import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { CovsevInputError } from '../errors.js';
import { makeFifo, releaseFifo } from './fifo.test-helpers.js';
import { readJpgFolder } from './jpgFolder.js';
import { readVolume } from './readVolume.js';

async function writeSlice(
  path: string,
  rows: number,
  cols: number,
  value: (y: number, x: number) => number,
  channels: 1 | 3 = 1,
): Promise<void> {
  const pixels = new Uint8Array(rows * cols * channels);
  for (let y = 0; y < rows; y++)
    for (let x = 0; x < cols; x++) pixels.fill(value(y, x), (y * cols + x) * channels, (y * cols + x + 1) * channels);
  await sharp(pixels, { raw: { width: cols, height: rows, channels } })
    .jpeg({ quality: 95 })
    .toFile(path);
}

async function scanFolder(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'covsev-jpg-'));
}

describe('COV19-CT-DB JPG folders', () => {
  it('reads slices in numeric order (10.jpg after 9.jpg), ignoring stray files', async () => {
    const dir = await scanFolder();
    for (let k = 0; k < 12; k++) await writeSlice(join(dir, `${k}.jpg`), 16, 24, () => 10 * k + 5);
    await writeFile(join(dir, 'Thumbs.db'), 'junk');
    await writeFile(join(dir, 'notes.txt'), 'junk');
    const volume = await readVolume(dir);
    expect(volume.shape).toEqual([12, 16, 24]);
    expect(volume.intensity).toBe('uint8-windowed');
    for (let k = 0; k < 12; k++) {
      const plane = volume.data.subarray(k * 16 * 24, (k + 1) * 16 * 24);
      const mean = Array.from(plane).reduce((s, v) => s + v, 0) / plane.length;
      expect(Math.abs(mean - (10 * k + 5))).toBeLessThan(1.5);
    }
  });

  it('reads RGB slices as OpenCV-weighted grey and reports progress', async () => {
    const dir = await scanFolder();
    await writeSlice(join(dir, '0.jpg'), 8, 8, (y, x) => 16 * y + x, 3);
    await writeSlice(join(dir, '1.jpg'), 8, 8, (y, x) => 200 - 16 * x - y, 3);
    const seen: number[] = [];
    const volume = await readJpgFolder(dir, { onProgress: (done) => seen.push(done) });
    expect(volume.shape).toEqual([2, 8, 8]);
    expect(seen.sort((a, b) => a - b)).toEqual([1, 2]);
    expect(Math.abs((volume.data[0 * 8 + 7] as number) - 7)).toBeLessThan(4);
    expect(Math.abs((volume.data[64 + 0] as number) - 200)).toBeLessThan(4);
  });

  it('refuses slices of different sizes, naming the slice, or resizes them on request', async () => {
    const dir = await scanFolder();
    await writeSlice(join(dir, '0.jpg'), 16, 16, () => 100);
    await writeSlice(join(dir, '1.jpg'), 16, 16, () => 100);
    await writeSlice(join(dir, '2.jpg'), 20, 16, () => 100);
    await expect(readJpgFolder(dir)).rejects.toThrow(/2\.jpg: slice is 16x20 but the scan's first slice is 16x16/);
    const resized = await readJpgFolder(dir, { resizeMismatched: true });
    expect(resized.shape).toEqual([3, 16, 16]);
    expect(Math.abs((resized.data[2 * 256 + 100] as number) - 100)).toBeLessThan(3);
  });

  it('names the file of a corrupt or truncated JPG', async () => {
    const dir = await scanFolder();
    await writeSlice(join(dir, '0.jpg'), 64, 64, (y, x) => (x * y) % 256);
    const good = await readFile(join(dir, '0.jpg'));
    await writeFile(join(dir, '1.jpg'), good.subarray(0, Math.floor(good.length / 2)));
    const error = await readJpgFolder(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CovsevInputError);
    expect((error as Error).message).toMatch(/1\.jpg: corrupt or truncated JPG/);
    await writeFile(join(dir, '1.jpg'), 'this is not a jpeg');
    await expect(readJpgFolder(dir)).rejects.toThrow(/1\.jpg: corrupt or truncated JPG/);
    await writeFile(join(dir, '1.jpg'), '');
    await expect(readJpgFolder(dir)).rejects.toThrow(/1\.jpg: empty JPG file/);
  });

  it('explains empty folders and folders without JPG slices', async () => {
    const empty = await scanFolder();
    await expect(readJpgFolder(empty)).rejects.toThrow(/not a COV19-CT-DB scan folder: empty folder/);
    const other = await scanFolder();
    await writeFile(join(other, 'readme.txt'), 'x');
    await expect(readJpgFolder(other)).rejects.toThrow(/no JPG slices among 1 file/);
    await expect(readVolume(other)).rejects.toThrow(/not a CT volume covsev can read/);
    await expect(readVolume(join(other, 'nope'))).rejects.toThrow(/nope: no such file or folder/);
    const named = await scanFolder();
    await mkdir(named, { recursive: true });
    await writeSlice(join(named, 'slice_a.jpg'), 4, 4, () => 1);
    await expect(readJpgFolder(named)).rejects.toThrow(/no slice named <number>\.jpg \(found slice_a\.jpg\)/);
  });
});

const python = '/usr/bin/python3';
const hasCv2 = spawnSync(python, ['-c', 'import cv2'], { encoding: 'utf8' }).status === 0;

describe.skipIf(!hasCv2)('agreement with OpenCV (Debian python3-opencv)', () => {
  it('decodes grey and RGB slices to the same pixels as cv2.IMREAD_GRAYSCALE (within 1)', async () => {
    const dir = await scanFolder();
    await writeSlice(join(dir, '0.jpg'), 32, 40, (y, x) => (7 * x + 3 * y) % 256);
    await writeSlice(join(dir, '1.jpg'), 32, 40, (y, x) => (x * y) % 256, 3);
    const volume = await readJpgFolder(dir);
    const script = `import cv2,sys\nfor k in (0,1):\n  sys.stdout.write(cv2.imread(sys.argv[1]+f'/{k}.jpg', cv2.IMREAD_GRAYSCALE).tobytes().hex())`;
    const result = spawnSync(python, ['-c', script, dir], { encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    const reference = Buffer.from(result.stdout, 'hex');
    expect(reference.length).toBe(volume.data.length);
    let worst = 0;
    reference.forEach((v, i) => {
      worst = Math.max(worst, Math.abs(v - (volume.data[i] as number)));
    });
    expect(worst).toBeLessThanOrEqual(1);
  });
});

describe('JPG folders: hostile files', () => {
  it('a FIFO named 0.jpg (or 1.jpg) in a scan folder is "not a regular file" instead of a hang', async () => {
    for (const name of ['0.jpg', '1.jpg']) {
      const dir = await scanFolder();
      await writeSlice(join(dir, name === '0.jpg' ? '1.jpg' : '0.jpg'), 8, 8, () => 50);
      const fifo = join(dir, name);
      if (!makeFifo(fifo)) return;
      try {
        const error = await readJpgFolder(dir).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(CovsevInputError);
        expect((error as CovsevInputError).path).toBe(fifo);
        expect((error as Error).message).toMatch(/not a regular file \(a FIFO/);
      } finally {
        releaseFifo(fifo);
      }
    }
  }, 5000);

  it('a slice whose header claims 65535x65535 pixels is refused before decoding (maxBytes)', async () => {
    const dir = await scanFolder();
    await writeSlice(join(dir, '0.jpg'), 16, 16, () => 80);
    const bytes = new Uint8Array(await readFile(join(dir, '0.jpg')));
    const sof = bytes.findIndex((b, i) => b === 0xff && bytes[i + 1] === 0xc0);
    bytes.set([0xff, 0xff, 0xff, 0xff], sof + 5); // height, width
    await writeFile(join(dir, '0.jpg'), bytes);
    const error = await readJpgFolder(dir).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CovsevInputError);
    expect((error as Error).message).toMatch(/65535x65535.*more than the limit of 2,147,483,648 bytes \(maxBytes/);
  });

  it('maxBytes counts the whole folder: slices x rows x cols', async () => {
    const dir = await scanFolder();
    for (let k = 0; k < 3; k++) await writeSlice(join(dir, `${k}.jpg`), 16, 16, () => 80);
    await expect(readJpgFolder(dir, { maxBytes: 700 })).rejects.toThrow(
      /3 slices of 16x16 pixels \(768 bytes\), more than the limit of 700/,
    );
    expect((await readJpgFolder(dir, { maxBytes: 768 })).shape).toEqual([3, 16, 16]);
  });
});
