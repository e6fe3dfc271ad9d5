import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CovsevInputError } from '../errors.js';
import { loadNapiImage, loadSharp } from '../native.js';
import { makeVolume, type Volume } from '../volume.js';
import { checkJpegStructure, type JpegFrame } from './jpegStructure.js';
import { DEFAULT_MAX_VOLUME_BYTES, type ReadOptions, type VolumeReader } from './reader.js';
import { checkVolumeBytes, readRegularFile } from './safeRead.js';

/** A slice file of a COV19-CT-DB scan folder: `<k>.jpg`, k a non-negative integer. */
const SLICE_NAME = /^(\d+)\.(jpe?g)$/i;
const ANY_JPG = /\.jpe?g$/i;

/** The slice files of a folder in numeric order (`10.jpg` after `9.jpg`); other files are ignored. */
export async function listSliceFiles(folder: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(folder);
  } catch (error) {
    throw new CovsevInputError(folder, `cannot list scan folder: ${(error as Error).message}`, { cause: error });
  }
  const slices = entries
    .map((name) => ({ name, match: SLICE_NAME.exec(name) }))
    .filter((e): e is { name: string; match: RegExpExecArray } => e.match !== null)
    .map((e) => ({ name: e.name, index: Number(e.match[1]) }))
    .sort((a, b) => a.index - b.index || a.name.localeCompare(b.name));
  if (slices.length === 0) {
    const jpgs = entries.filter((n) => ANY_JPG.test(n));
    const why =
      entries.length === 0
        ? 'empty folder'
        : jpgs.length > 0
          ? `no slice named <number>.jpg (found ${jpgs.slice(0, 3).join(', ')}${jpgs.length > 3 ? ', ...' : ''})`
          : `no JPG slices among ${entries.length} file(s)`;
    throw new CovsevInputError(folder, `not a COV19-CT-DB scan folder: ${why}`);
  }
  for (let i = 1; i < slices.length; i++) {
    if (slices[i]?.index === slices[i - 1]?.index) {
      throw new CovsevInputError(
        folder,
        `two slices share number ${slices[i]?.index}: ${slices[i - 1]?.name}, ${slices[i]?.name}`,
      );
    }
  }
  return slices.map((s) => join(folder, s.name));
}

interface DecodedSlice {
  readonly pixels: Uint8Array;
  readonly rows: number;
  readonly cols: number;
}

async function readSliceBytes(path: string): Promise<{ bytes: Buffer; frame: JpegFrame }> {
  // A regular file only: a FIFO named 0.jpg is refused, not waited on.
  const bytes = await readRegularFile(path, 'JPG slice');
  if (bytes.length === 0) throw new CovsevInputError(path, 'empty JPG file');
  const check = checkJpegStructure(bytes);
  if (!check.ok) throw new CovsevInputError(path, `corrupt or truncated JPG: ${check.problem}`);
  return { bytes, frame: check.frame };
}

/** A JPG slice's size from its header (no decode); a corrupt or truncated file names itself. */
export async function jpgSize(path: string): Promise<{ rows: number; cols: number }> {
  const { frame } = await readSliceBytes(path);
  return { rows: frame.rows, cols: frame.cols };
}

/**
 * Decodes one JPG slice to 8-bit grey with @napi-rs/image (a native decoder, about 3x faster per
 * slice than sharp here: `pnpm bench:io`), after `checkJpegStructure` has refused truncated or
 * malformed files. Grey JPGs are read as they are; RGB ones become luma with OpenCV's weights
 * (0.299 R + 0.587 G + 0.114 B), as cv2.IMREAD_GRAYSCALE does. With `size`, a slice of another
 * size is resized (bilinear, through sharp) to it.
 */
export async function decodeJpgSlice(
  path: string,
  size?: { rows: number; cols: number },
  options: { maxBytes?: number; checkFrame?: (frame: JpegFrame) => void } = {},
): Promise<DecodedSlice> {
  const { bytes, frame } = await readSliceBytes(path);
  options.checkFrame?.(frame);
  // The decoder allocates rows x cols x components bytes: a corrupt SOF must not ask for gigabytes.
  checkVolumeBytes(
    path,
    `the slice's header says ${frame.cols}x${frame.rows} pixels of ${frame.components} component(s)`,
    frame.rows * frame.cols * Math.max(1, frame.components),
    { maxBytes: options.maxBytes ?? DEFAULT_MAX_VOLUME_BYTES },
  );
  const { Transformer } = await loadNapiImage();
  let raw: Buffer;
  try {
    raw = await new Transformer(bytes).rawPixels();
  } catch (error) {
    const message = (error as Error).message.split('\n')[0] ?? 'unknown error';
    throw new CovsevInputError(path, `corrupt JPG: ${message}`, { cause: error });
  }
  const n = frame.rows * frame.cols;
  const channels = raw.length / n;
  let pixels: Uint8Array;
  if (channels === 1) {
    pixels = new Uint8Array(raw.buffer, raw.byteOffset, n);
  } else if (channels === 3 || channels === 4) {
    pixels = new Uint8Array(n);
    for (let i = 0, j = 0; i < n; i++, j += channels) {
      pixels[i] = Math.round(0.299 * (raw[j] as number) + 0.587 * (raw[j + 1] as number) + 0.114 * (raw[j + 2] as number));
    }
  } else {
    throw new CovsevInputError(
      path,
      `decoded ${raw.length} bytes for a ${frame.cols}x${frame.rows} image: unsupported pixel layout`,
    );
  }
  if (size !== undefined && (frame.rows !== size.rows || frame.cols !== size.cols)) {
    const sharp = await loadSharp();
    const resized = await sharp(pixels, { raw: { width: frame.cols, height: frame.rows, channels: 1 } })
      .resize(size.cols, size.rows, { fit: 'fill', kernel: 'linear' })
      .raw()
      .toBuffer();
    return { pixels: new Uint8Array(resized.buffer, resized.byteOffset, size.rows * size.cols), ...size };
  }
  return { pixels, rows: frame.rows, cols: frame.cols };
}

/**
 * How many slices are decoded at once: sharp decodes on libuv's thread pool (4 threads by
 * default); 4 in flight kept both cores busy in `pnpm bench:io`, more gained nothing.
 */
const DECODE_CONCURRENCY = 4;

export interface JpgFolderReadOptions extends ReadOptions {
  /**
   * Decode only these slice positions (0-based, in numeric order) and return them in this order;
   * the other slices are checked from their headers only (present, a JPG, the right size).
   * Resampling that never reads a slice need not decode it (see `preprocessScan`).
   */
  readonly onlySlices?: readonly number[];
}

/** Runs `task` over 0..count-1 with at most `limit` in flight. */
async function pool(count: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
}

/**
 * Reads a COV19-CT-DB scan folder (`<k>.jpg` slices, k = 0, 1, ...) into a `uint8-windowed`
 * volume [slices, rows, cols]. Slices of different sizes are refused (the error names the first
 * odd slice), or resized to the first slice's size with `resizeMismatched`.
 * The JPGs carry no spacing: spacing is 1 mm and the affine the identity.
 */
export async function readJpgFolder(folder: string, options: JpgFolderReadOptions = {}): Promise<Volume<Uint8Array>> {
  const files = await listSliceFiles(folder);
  const chosen = options.onlySlices ?? files.map((_, i) => i);
  for (const z of chosen) {
    if (!Number.isInteger(z) || z < 0 || z >= files.length)
      throw new RangeError(`slice ${z} outside 0..${files.length - 1} of ${folder}`);
  }
  const { rows, cols } = await jpgSize(files[0] as string);
  checkVolumeBytes(folder, `${chosen.length} slices of ${cols}x${rows} pixels`, chosen.length * rows * cols, options);
  const mismatch = (file: string, size: { rows: number; cols: number }): CovsevInputError =>
    new CovsevInputError(
      file,
      `slice is ${size.cols}x${size.rows} but the scan's first slice is ${cols}x${rows}; pass resizeMismatched (--resize-mismatched) to resize`,
    );
  const plane = rows * cols;
  const data = new Uint8Array(chosen.length * plane);
  let done = 0;
  await pool(chosen.length, DECODE_CONCURRENCY, async (i) => {
    const file = files[chosen[i] as number] as string;
    const slice = await decodeJpgSlice(file, options.resizeMismatched ? { rows, cols } : undefined, {
      maxBytes: options.maxBytes,
      // The size from the header, before decoding: an odd (or corrupt, huge) slice is refused undecoded.
      checkFrame: options.resizeMismatched
        ? undefined
        : (frame) => {
            if (frame.rows !== rows || frame.cols !== cols) throw mismatch(file, frame);
          },
    });
    if (slice.rows !== rows || slice.cols !== cols) throw mismatch(file, slice);
    data.set(slice.pixels, i * plane);
    options.onProgress?.(++done, chosen.length);
  });
  if (chosen.length < files.length && !options.resizeMismatched) {
    const decoded = new Set(chosen);
    const rest = files.filter((_, i) => !decoded.has(i));
    await pool(rest.length, DECODE_CONCURRENCY, async (i) => {
      const file = rest[i] as string;
      const size = await jpgSize(file);
      if (size.rows !== rows || size.cols !== cols) throw mismatch(file, size);
    });
  }
  return makeVolume({ data, shape: [chosen.length, rows, cols], intensity: 'uint8-windowed', source: folder });
}

export const jpgFolderReader: VolumeReader = {
  name: 'cov19-ct-db-jpg-folder',
  async canRead(path) {
    try {
      if (!(await stat(path)).isDirectory()) return false;
      return (await readdir(path)).some((n) => SLICE_NAME.test(n));
    } catch {
      return false;
    }
  },
  read: readJpgFolder,
};
