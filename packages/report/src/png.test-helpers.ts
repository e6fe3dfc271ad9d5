// Decodes the PNGs the tests write (sharp, already a dependency of @covsev/io) and measures them.
import sharp from 'sharp';

export interface DecodedPng {
  readonly width: number;
  readonly height: number;
  /** RGB, row-major. */
  readonly data: Buffer;
}

export async function decodePng(path: string): Promise<DecodedPng> {
  const { data, info } = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}

/** Pixels with every channel below `threshold` (text and axes are near black) in rows [y0, y1). */
export function darkPixels(png: DecodedPng, y0: number, y1: number, threshold = 100): number {
  let n = 0;
  for (let y = Math.max(0, y0); y < Math.min(png.height, y1); y++) {
    for (let x = 0; x < png.width; x++) {
      const i = (y * png.width + x) * 3;
      if (
        (png.data[i] as number) < threshold &&
        (png.data[i + 1] as number) < threshold &&
        (png.data[i + 2] as number) < threshold
      )
        n++;
    }
  }
  return n;
}

/** Number of distinct RGB colours. */
export function distinctColours(png: DecodedPng): number {
  const seen = new Set<number>();
  for (let i = 0; i < png.data.length; i += 3) {
    seen.add(((png.data[i] as number) << 16) | ((png.data[i + 1] as number) << 8) | (png.data[i + 2] as number));
  }
  return seen.size;
}
