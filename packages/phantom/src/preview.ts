/**
 * A developer's look at a phantom: a grid of axial slices, windowed like COV19-CT-DB's JPGs,
 * optionally with the infection mask tinted red, written as a PNG with sharp. (covsev's general
 * montage writer lives in @covsev/io; this one exists so the phantom can be checked by eye
 * without it.)
 */
import { applyHuWindow, HU_WINDOWS, type Volume } from '@covsev/io';
import sharp from 'sharp';

export interface PreviewOptions {
  /** Tiles per side (default 3: a 3 x 3 grid). */
  readonly grid?: number;
  /** Slices to show; default evenly spaced through the middle 80 % of the scan. */
  readonly slices?: readonly number[];
  /** Tint these voxels red. */
  readonly overlay?: Volume<Uint8Array>;
}

export function previewSlices(slices: number, count: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(Math.min(slices - 1, Math.round((0.1 + (0.8 * (i + 0.5)) / count) * (slices - 1))));
  return out;
}

export async function writePreviewPng(path: string, ct: Volume, options: PreviewOptions = {}): Promise<void> {
  const n = options.grid ?? 3;
  const [slices, rows, cols] = ct.shape;
  const chosen = options.slices ?? previewSlices(slices, n * n);
  const grey = applyHuWindow(ct, HU_WINDOWS.cov19ctdb).data;
  const width = n * cols;
  const height = Math.ceil(chosen.length / n) * rows;
  const rgb = new Uint8Array(width * height * 3);
  chosen.forEach((z, t) => {
    const ox = (t % n) * cols;
    const oy = Math.floor(t / n) * rows;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const i = (z * rows + r) * cols + c;
        const g = grey[i] as number;
        const o = ((oy + r) * width + ox + c) * 3;
        const tint = options.overlay !== undefined && (options.overlay.data[i] as number) > 0;
        rgb[o] = tint ? Math.min(255, g * 0.6 + 100) : g;
        rgb[o + 1] = tint ? g * 0.6 : g;
        rgb[o + 2] = tint ? g * 0.6 : g;
      }
    }
  });
  await sharp(rgb, { raw: { width, height, channels: 3 } })
    .png()
    .toFile(path);
}
