import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { CovsevInputError } from '../errors.js';
import { makeVolume, type Volume } from '../volume.js';
import type { ReadOptions, VolumeReader } from './reader.js';

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
      throw new CovsevInputError(folder, `two slices share number ${slices[i]?.index}: ${slices[i - 1]?.name}, ${slices[i]?.name}`);
    }
  }
  return slices.map((s) => join(folder, s.name));
}

interface DecodedSlice {
  readonly pixels: Uint8Array;
  readonly rows: number;
  readonly cols: number;
}

/**
 * Decodes one JPG slice to 8-bit grey. Grey JPGs are read as they are; RGB ones become libvips'
 * luminance, which for the grey-in-RGB slices COV19-CT-DB holds is the grey value itself
 * (within 1 of cv2.IMREAD_GRAYSCALE).
 * With `size`, a slice of another size is resized (bilinear) to it.
 */
export async function decodeJpgSlice(path: string, size?: { rows: number; cols: number }): Promise<DecodedSlice> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new CovsevInputError(path, `cannot read slice: ${(error as Error).message}`, { cause: error });
  }
  if (bytes.length === 0) throw new CovsevInputError(path, 'empty JPG file');
  try {
    let image = sharp(bytes, { failOn: 'warning' });
    if (size !== undefined) {
      const meta = await image.metadata();
      if (meta.width !== size.cols || meta.height !== size.rows) {
        image = image.resize(size.cols, size.rows, { fit: 'fill', kernel: 'linear' });
      }
    }
    // 'b-w' keeps grey JPGs single-channel (no sRGB round trip) and turns RGB ones into luminance.
    const { data, info } = await image.toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 1) throw new Error(`decoded to ${info.channels} channels, expected 1`);
    const pixels = new Uint8Array(data.buffer, data.byteOffset, info.width * info.height);
    return { pixels, rows: info.height, cols: info.width };
  } catch (error) {
    if (error instanceof CovsevInputError) throw error;
    const message = (error as Error).message.split('\n')[0] ?? 'unknown error';
    throw new CovsevInputError(path, `corrupt or truncated JPG: ${message}`, { cause: error });
  }
}

/**
 * How many slices are decoded at once: sharp decodes on libuv's thread pool (4 threads by
 * default); 4 in flight kept both cores busy in `pnpm bench:io`, more gained nothing.
 */
const DECODE_CONCURRENCY = 4;

/**
 * Reads a COV19-CT-DB scan folder (`<k>.jpg` slices, k = 0, 1, ...) into a `uint8-windowed`
 * volume [slices, rows, cols]. Slices of different sizes are refused (the error names the first
 * odd slice), or resized to the first slice's size with `resizeMismatched`.
 * The JPGs carry no spacing: spacing is 1 mm and the affine the identity.
 */
export async function readJpgFolder(folder: string, options: ReadOptions = {}): Promise<Volume<Uint8Array>> {
  const files = await listSliceFiles(folder);
  const first = await decodeJpgSlice(files[0] as string);
  const { rows, cols } = first;
  const plane = rows * cols;
  const data = new Uint8Array(files.length * plane);
  data.set(first.pixels, 0);
  let done = 1;
  options.onProgress?.(done, files.length);
  let next = 1;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const z = next++;
      const file = files[z] as string;
      const slice = await decodeJpgSlice(file, options.resizeMismatched ? { rows, cols } : undefined);
      if (slice.rows !== rows || slice.cols !== cols) {
        throw new CovsevInputError(
          file,
          `slice is ${slice.cols}x${slice.rows} but the scan's first slice is ${cols}x${rows}; pass resizeMismatched (--resize-mismatched) to resize`,
        );
      }
      data.set(slice.pixels, z * plane);
      options.onProgress?.(++done, files.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(DECODE_CONCURRENCY, files.length) }, worker));
  return makeVolume({ data, shape: [files.length, rows, cols], intensity: 'uint8-windowed', source: folder });
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
