import type { Rng } from '../random.js';
import { makeVolume, type Volume, type VoxelArray } from '../volume.js';
import { warpSlices } from './warp.js';

/**
 * 2D augmentations of a 3D scan, each split MONAI-style into a draw (`draw*`: the random
 * parameters, from a seeded Rng) and an application (`apply*`: a pure function of the volume and
 * those parameters). The same draw applied to an image and its mask keeps them aligned:
 * `augmentImageAndMask` does exactly that. Every slice of a scan gets the same transform.
 */

/** A crop box in pixels: top row `top`, left col `left`, `height` rows, `width` cols. */
export interface CropBox {
  readonly top: number;
  readonly left: number;
  readonly height: number;
  readonly width: number;
}

/**
 * torchvision's RandomResizedCrop.get_params: up to 10 tries of an area fraction in `scale` and
 * a log-uniform aspect ratio (width / height) in `ratio`; else a central crop with the ratio
 * clamped. (The reference code swaps h and w when unpacking; covsev does not.)
 */
export function drawResizedCrop(
  rng: Rng,
  rows: number,
  cols: number,
  scale: readonly [number, number] = [0.7, 1],
  ratio: readonly [number, number] = [3 / 4, 4 / 3],
): CropBox {
  const area = rows * cols;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.range(scale[0], scale[1]);
    const aspect = Math.exp(rng.range(logLo, logHi));
    const width = Math.round(Math.sqrt(target * aspect));
    const height = Math.round(Math.sqrt(target / aspect));
    if (width > 0 && width <= cols && height > 0 && height <= rows) {
      return { top: rng.int(0, rows - height), left: rng.int(0, cols - width), height, width };
    }
  }
  const inRatio = cols / rows;
  let width = cols;
  let height = rows;
  if (inRatio < ratio[0]) height = Math.round(width / ratio[0]);
  else if (inRatio > ratio[1]) width = Math.round(height * ratio[1]);
  return { top: Math.floor((rows - height) / 2), left: Math.floor((cols - width) / 2), height, width };
}

/** Crops every slice to `box` and resizes it to rows x cols (bilinear, half-pixel centres; nearest for masks). */
export function applyResizedCrop<T extends VoxelArray>(
  volume: Volume<T>,
  box: CropBox,
  size: { rows: number; cols: number },
  mode: 'linear' | 'nearest',
): Volume<T> {
  const sx = box.width / size.cols;
  const sy = box.height / size.rows;
  return warpSlices(volume, [sx, 0, box.left + 0.5 * sx - 0.5, 0, sy, box.top + 0.5 * sy - 0.5], {
    rows: size.rows,
    cols: size.cols,
    mode,
    border: { kind: 'clamp', x0: box.left, x1: box.left + box.width - 1, y0: box.top, y1: box.top + box.height - 1 },
  });
}

/** An integer angle in degrees, uniform in [low, high) (the method: [-10, 10)). */
export function drawRotation(rng: Rng, low = -10, high = 10): number {
  return rng.int(low, high - 1);
}

/**
 * Rotates every slice by `degrees` counter-clockwise (as seen on screen, torchvision's sign)
 * about the slice centre; pixels from outside are `fill` (0).
 */
export function applyRotation<T extends VoxelArray>(
  volume: Volume<T>,
  degrees: number,
  mode: 'linear' | 'nearest',
  fill = 0,
): Volume<T> {
  const [, rows, cols] = volume.shape;
  const t = (degrees * Math.PI) / 180;
  const c = Math.cos(t);
  const s = Math.sin(t);
  const cx = (cols - 1) / 2;
  const cy = (rows - 1) / 2;
  // Inverse map: src = R(-t) (dst - centre) + centre, in y-down pixel coordinates.
  return warpSlices(volume, [c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy], {
    rows,
    cols,
    mode,
    border: { kind: 'fill', value: fill },
  });
}

/** A contrast factor, uniform in [low, high) (the method: [0.8, 1.2)). */
export function drawContrast(rng: Rng, low = 0.8, high = 1.2): number {
  return rng.range(low, high);
}

/**
 * torchvision's adjust_contrast on a whole scan: blend each voxel with the scan's mean,
 * `factor * x + (1 - factor) * mean`; 8-bit volumes are rounded and clipped to 0..255.
 */
export function applyContrast<T extends VoxelArray>(volume: Volume<T>, factor: number): Volume<T> {
  const src = volume.data;
  let sum = 0;
  for (let i = 0; i < src.length; i++) sum += src[i] as number;
  const mean = sum / src.length;
  const out = src.slice() as T;
  const clip = src instanceof Uint8Array;
  for (let i = 0; i < src.length; i++) {
    let v = factor * (src[i] as number) + (1 - factor) * mean;
    if (clip) v = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
    out[i] = v;
  }
  return makeVolume({
    data: out,
    shape: volume.shape,
    spacing: volume.spacing,
    affine: volume.affine,
    intensity: volume.intensity,
    ...(volume.source === undefined ? {} : { source: volume.source }),
  });
}

/** Flips every slice left-right (`cols`) and/or up-down (`rows`). */
export function applyFlip<T extends VoxelArray>(volume: Volume<T>, axes: { rows?: boolean; cols?: boolean }): Volume<T> {
  const [, rows, cols] = volume.shape;
  const fx = axes.cols ? -1 : 1;
  const fy = axes.rows ? -1 : 1;
  return warpSlices(volume, [fx, 0, axes.cols ? cols - 1 : 0, 0, fy, axes.rows ? rows - 1 : 0], {
    rows,
    cols,
    mode: 'nearest',
    border: { kind: 'fill', value: 0 },
  });
}

/** The parameters of one classifier view (docs/method.md, augmentation A). */
export interface ViewParams {
  readonly crop: CropBox;
  readonly degrees: number;
  readonly contrast: number;
}

/** Draws crop, rotation and contrast for one view of a rows x cols scan. */
export function drawViewParams(rng: Rng, rows: number, cols: number): ViewParams {
  const crop = drawResizedCrop(rng, rows, cols);
  return { crop, degrees: drawRotation(rng), contrast: drawContrast(rng) };
}

/**
 * Dictionary twin: one draw applied to an image and its mask. The image gets bilinear resampling
 * and the contrast change; the mask gets nearest resampling and no contrast change. Output slices
 * are `size` (default: the input's).
 */
export function augmentImageAndMask<I extends VoxelArray, M extends VoxelArray>(
  pair: { image: Volume<I>; mask: Volume<M> },
  rng: Rng,
  size?: { rows: number; cols: number },
): { image: Volume<I>; mask: Volume<M>; params: ViewParams } {
  const [, rows, cols] = pair.image.shape;
  checkPair(pair);
  const params = drawViewParams(rng, rows, cols);
  return { ...applyViewParams(pair, params, size), params };
}

function checkPair(pair: { image: Volume<VoxelArray>; mask: Volume<VoxelArray> }): void {
  const { image, mask } = pair;
  if (image.shape.some((n, i) => n !== mask.shape[i])) {
    throw new RangeError(`image [${image.shape.join(', ')}] and mask [${mask.shape.join(', ')}] differ in shape`);
  }
}

/**
 * The deterministic half of `augmentImageAndMask`: a drawn view applied to an image and its mask
 * (drawing and applying apart let a worker apply what the main thread drew, in the same order).
 */
export function applyViewParams<I extends VoxelArray, M extends VoxelArray>(
  pair: { image: Volume<I>; mask: Volume<M> },
  params: ViewParams,
  size?: { rows: number; cols: number },
): { image: Volume<I>; mask: Volume<M> } {
  checkPair(pair);
  const { image, mask } = pair;
  const [, rows, cols] = image.shape;
  const out = size ?? { rows, cols };
  const msk = applyRotation(applyResizedCrop(mask, params.crop, out, 'nearest'), params.degrees, 'nearest');
  return { image: applyImageView(image, params, out), mask: msk };
}

/** The image half of `applyViewParams` (a scan without a mask): bilinear crop, rotation, contrast. */
export function applyImageView<I extends VoxelArray>(
  image: Volume<I>,
  params: ViewParams,
  size?: { rows: number; cols: number },
): Volume<I> {
  const [, rows, cols] = image.shape;
  const out = size ?? { rows, cols };
  return applyContrast(
    applyRotation(applyResizedCrop(image, params.crop, out, 'linear'), params.degrees, 'linear'),
    params.contrast,
  );
}
