/**
 * A look at a phantom by eye: a grid of axial slices through the middle 80 % of the scan,
 * windowed like COV19-CT-DB's JPGs, optionally with the infection mask tinted red. A thin
 * wrapper over @covsev/io's montage writer.
 */
import { type Volume, writeMontagePng } from '@covsev/io';

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
  await writeMontagePng(path, ct, {
    slices: options.slices ?? previewSlices(ct.shape[0], n * n),
    columns: n,
    window: 'cov19ctdb',
    ...(options.overlay === undefined ? {} : { mask: options.overlay, colours: [[230, 50, 40]], alpha: 0.4 }),
  });
}
