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
  /**
   * How the mask is drawn: `fill` (default) tints every labelled voxel with `alpha`; `outline`
   * paints only its edge pixels, opaque: a labelled pixel with a 4-neighbour in its slice of
   * another label, or on the slice's border.
   */
  readonly maskStyle?: 'fill' | 'outline';
  /**
   * A map of the same shape with values in [0, 1] (e.g. a class activation map; values outside
   * are clamped), drawn under the mask with the jet colour map ({@link heatColour}): a value v is
   * blended with opacity `heatAlpha * v`, so 0 leaves the slice as it is.
   */
  readonly heat?: Volume;
  /** Opacity of the heat map where it is 1 (default 0.5). */
  readonly heatAlpha?: number;
  /**
   * `writeMontagePng` only: one line of text in a strip of {@link CAPTION_HEIGHT} pixels above the
   * tiles (rendered by sharp from SVG; without system fonts the strip stays black).
   */
  readonly caption?: string;
}

/** Height in pixels of the caption strip `writeMontagePng` adds above the tiles. */
export const CAPTION_HEIGHT = 16;

/**
 * The jet colour map (matplotlib's `jet`, OpenCV's COLORMAP_JET up to rounding): 0 dark blue,
 * 0.5 green-yellow, 1 dark red; `v` is clamped to [0, 1]. RGB 0..255.
 */
export function heatColour(v: number): [number, number, number] {
  const t = v < 0 || Number.isNaN(v) ? 0 : v > 1 ? 1 : v;
  const ramp = (c: number): number => Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * t - c))));
  return [ramp(3), ramp(2), ramp(1)];
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
  const heat = options.heat;
  if (heat?.shape.some((n, i) => n !== volume.shape[i])) {
    throw new RangeError(`montage heat map [${heat.shape.join(', ')}] differs from volume [${volume.shape.join(', ')}]`);
  }
  const outline = options.maskStyle === 'outline';
  const heatAlpha = options.heatAlpha ?? 0.5;
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
        let r = g;
        let gr = g;
        let b = g;
        if (heat !== undefined) {
          const v = Math.min(1, Math.max(0, (heat.data[i] as number) || 0));
          if (v > 0) {
            const [hr, hg, hb] = heatColour(v);
            const a = heatAlpha * v;
            r = (1 - a) * r + a * hr;
            gr = (1 - a) * gr + a * hg;
            b = (1 - a) * b + a * hb;
          }
        }
        const label = mask === undefined ? 0 : (mask.data[i] as number);
        if (label > 0 && (!outline || isEdge(mask as Volume, z, y, x, rows, cols, label))) {
          const c = colours[(label - 1) % colours.length] as readonly [number, number, number];
          const a = outline ? 1 : alpha;
          r = (1 - a) * r + a * c[0];
          gr = (1 - a) * gr + a * c[1];
          b = (1 - a) * b + a * c[2];
        }
        rgb[o] = Math.round(r);
        rgb[o + 1] = Math.round(gr);
        rgb[o + 2] = Math.round(b);
      }
    }
  });
  return { rgb, width, height };
}

/** True when pixel (z, y, x) of label `label` has a 4-neighbour in its slice of another label, or lies on the slice's border. */
function isEdge(mask: Volume, z: number, y: number, x: number, rows: number, cols: number, label: number): boolean {
  if (y === 0 || x === 0 || y === rows - 1 || x === cols - 1) return true;
  const i = (z * rows + y) * cols + x;
  const d = mask.data;
  return d[i - 1] !== label || d[i + 1] !== label || d[i - cols] !== label || d[i + cols] !== label;
}

/**
 * Writes a PNG montage of a volume's slices (optionally with a mask overlay, a heat map and a
 * caption strip above the tiles), atomically.
 */
export async function writeMontagePng(path: string, volume: Volume, options: MontageOptions = {}): Promise<void> {
  const { rgb, width, height } = renderMontage(volume, options);
  const sharp = await loadSharp();
  let image = sharp(rgb, { raw: { width, height, channels: 3 } });
  if (options.caption !== undefined) {
    const text = options.caption.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${CAPTION_HEIGHT}"><text x="3" y="${CAPTION_HEIGHT - 4}" font-family="DejaVu Sans, sans-serif" font-size="${CAPTION_HEIGHT - 5}" fill="white">${text}</text></svg>`;
    // Extend in a pipeline of its own, then draw the text on the extended image.
    const extended = await image
      .extend({ top: CAPTION_HEIGHT, background: { r: 0, g: 0, b: 0 } })
      .raw()
      .toBuffer();
    image = sharp(extended, { raw: { width, height: height + CAPTION_HEIGHT, channels: 3 } })
      .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
      .removeAlpha();
  }
  const png = await image.png({ compressionLevel: 6 }).toBuffer();
  await writeFileAtomic(path, png);
}
