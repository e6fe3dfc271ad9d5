import { writeFileAtomic } from '../atomic.js';
import { loadSharp } from '../native.js';
import { applyHuWindow, type HuWindow, type HuWindowName } from '../transforms/window.js';
import type { Volume } from '../volume.js';

/** RGB colours of mask labels 1, 2, 3, ... (label 0 is never drawn). */
export const MASK_COLOURS: readonly (readonly [number, number, number])[] = [
  [0, 114, 178], // 1: blue (left lung)
  [0, 158, 115], // 2: green (right lung)
  [230, 50, 40], // 3: red (infection)
  [240, 228, 66],
  [204, 121, 167],
];

export interface MontageOptions {
  /** Slice indices to show, or how many evenly spaced slices (default 9). */
  readonly slices?: readonly number[] | number;
  /** Tiles per row (default: ceil(sqrt(n))). */
  readonly columns?: number;
  /** HU window for volumes in HU (default: the COV19-CT-DB window). */
  readonly window?: HuWindow | HuWindowName;
  /** A label mask of the same shape, drawn in colour over the slices. */
  readonly mask?: Volume;
  /** Overlay opacity 0..1 (default 0.45). */
  readonly alpha?: number;
  /** Override colours per label value (index 0 = label 1). */
  readonly colours?: readonly (readonly [number, number, number])[];
}

/** Evenly spaced slice indices, first and last included. */
export function evenlySpacedSlices(slices: number, count: number): number[] {
  if (count >= slices) return Array.from({ length: slices }, (_, i) => i);
  if (count === 1) return [Math.floor(slices / 2)];
  return Array.from({ length: count }, (_, i) => Math.round((i * (slices - 1)) / (count - 1)));
}

function toUint8(volume: Volume, window: HuWindow | HuWindowName): Uint8Array {
  if (volume.intensity === 'hu') return applyHuWindow(volume, window).data;
  const src = volume.data;
  if (src instanceof Uint8Array) return src;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < src.length; i++) {
    const v = src[i] as number;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const out = new Uint8Array(src.length);
  const k = max > min ? 255 / (max - min) : 0;
  for (let i = 0; i < src.length; i++) out[i] = Math.round(((src[i] as number) - min) * k);
  return out;
}

/**
 * Renders slices of a volume as a grid of tiles into an RGB image, with an optional mask overlay.
 * Returns the raw RGB bytes and the image size (for callers that compose further).
 */
export function renderMontage(volume: Volume, options: MontageOptions = {}): { rgb: Uint8Array; width: number; height: number } {
  const [slices, rows, cols] = volume.shape;
  const picks = typeof options.slices === 'object' ? [...options.slices] : evenlySpacedSlices(slices, options.slices ?? 9);
  for (const z of picks)
    if (!Number.isInteger(z) || z < 0 || z >= slices) throw new RangeError(`montage slice ${z} outside 0..${slices - 1}`);
  const mask = options.mask;
  if (mask?.shape.some((n, i) => n !== volume.shape[i])) {
    throw new RangeError(`montage mask [${mask.shape.join(', ')}] differs from volume [${volume.shape.join(', ')}]`);
  }
  const grey = toUint8(volume, options.window ?? 'cov19ctdb');
  const columns = options.columns ?? Math.ceil(Math.sqrt(picks.length));
  const gridRows = Math.ceil(picks.length / columns);
  const width = columns * cols;
  const height = gridRows * rows;
  const rgb = new Uint8Array(width * height * 3);
  const alpha = options.alpha ?? 0.45;
  const colours = options.colours ?? MASK_COLOURS;
  picks.forEach((z, tile) => {
    const ox = (tile % columns) * cols;
    const oy = Math.floor(tile / columns) * rows;
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < cols; x++) {
        const i = (z * rows + y) * cols + x;
        const g = grey[i] as number;
        const o = ((oy + y) * width + ox + x) * 3;
        const label = mask === undefined ? 0 : (mask.data[i] as number);
        if (label > 0) {
          const c = colours[(label - 1) % colours.length] as readonly [number, number, number];
          rgb[o] = Math.round((1 - alpha) * g + alpha * c[0]);
          rgb[o + 1] = Math.round((1 - alpha) * g + alpha * c[1]);
          rgb[o + 2] = Math.round((1 - alpha) * g + alpha * c[2]);
        } else {
          rgb[o] = g;
          rgb[o + 1] = g;
          rgb[o + 2] = g;
        }
      }
    }
  });
  return { rgb, width, height };
}

/** Writes a PNG montage of a volume's slices (optionally with a mask overlay), atomically. */
export async function writeMontagePng(path: string, volume: Volume, options: MontageOptions = {}): Promise<void> {
  const { rgb, width, height } = renderMontage(volume, options);
  const sharp = await loadSharp();
  const png = await sharp(rgb, { raw: { width, height, channels: 3 } })
    .png({ compressionLevel: 6 })
    .toBuffer();
  await writeFileAtomic(path, png);
}
