/**
 * Segmentation training augmentation (docs/method.md, "Segmentation", Training): a random crop
 * resized back to the slice size, a rotation, and horizontal and vertical flips, drawn once per
 * slice and applied alike to the image (bilinear) and its mask (nearest).
 *
 * The draw and the application are apart (docs/conventions.md, "Seeds"): `drawSliceAugment`
 * takes its numbers from a seeded stream (the trainer's `rngs.augment`), `applySliceAugment` is
 * a pure function. Crop and rotation reuse `@covsev/io`'s image-and-mask twin (`applyViewParams`,
 * its contrast factor left at 1: the method augments the segmentation data without contrast
 * changes); the crop's area fraction is drawn in [0.7, 1] and the rotation in [-10, 10) degrees,
 * the classifier's ranges (the paper gives none for stage 1). Pixels rotated in from outside are 0.
 */
import { applyFlip, applyViewParams, type CropBox, drawResizedCrop, drawRotation, makeVolume, type Rng } from '@covsev/io';

export interface SliceAugmentParams {
  readonly crop: CropBox;
  readonly degrees: number;
  /** Left-right flip. */
  readonly flipCols: boolean;
  /** Up-down flip. */
  readonly flipRows: boolean;
}

/** Draws one slice's augmentation for a rows x cols slice, in a fixed order: crop, rotation, flips. */
export function drawSliceAugment(rng: Rng, rows: number, cols: number): SliceAugmentParams {
  const crop = drawResizedCrop(rng, rows, cols);
  const degrees = drawRotation(rng);
  const flipCols = rng.uniform() < 0.5;
  const flipRows = rng.uniform() < 0.5;
  return { crop, degrees, flipCols, flipRows };
}

/** Applies drawn parameters to a slice and its mask (rows x cols each); returns new arrays. */
export function applySliceAugment(
  slice: { image: Float32Array; mask: Uint8Array; rows: number; cols: number },
  params: SliceAugmentParams,
): { image: Float32Array; mask: Uint8Array } {
  const { rows, cols } = slice;
  const shape = [1, rows, cols] as const;
  const pair = {
    image: makeVolume({ data: slice.image, shape, intensity: 'normalised' }),
    mask: makeVolume({ data: slice.mask, shape, intensity: 'label' }),
  };
  const viewed = applyViewParams(pair, { crop: params.crop, degrees: params.degrees, contrast: 1 });
  const axes = { cols: params.flipCols, rows: params.flipRows };
  if (!(params.flipCols || params.flipRows)) return { image: viewed.image.data, mask: viewed.mask.data };
  return { image: applyFlip(viewed.image, axes).data, mask: applyFlip(viewed.mask, axes).data };
}
