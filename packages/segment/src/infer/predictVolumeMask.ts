/**
 * One segmentation model over a whole volume, batch by batch: the slices brought into the model's
 * input space (`modelInput.ts`), its probabilities resized back and thresholded (docs/method.md,
 * "Segmentation"; the card's `output.threshold`).
 */
import type { Volume } from '@covsev/io';
import { modelInputSlices, type ResolvedIntensity, resizeSlices } from './modelInput.js';
import type { Segmenter } from './segmenter.js';

/** Slices per model call unless told otherwise. */
export const DEFAULT_SEGMENT_BATCH = 8;

/**
 * Runs `segmenter` on every slice of `volume` and returns its thresholded mask (0/1, the volume's
 * shape), without any post-processing. `lung` is required for a lung-masked model (eq. 1).
 * `onBatch(slices)` after each model call.
 */
export async function predictVolumeMask(
  volume: Volume,
  segmenter: Segmenter,
  intensity: ResolvedIntensity,
  options: { readonly batchSize?: number; readonly lung?: Uint8Array; readonly onBatch?: (slices: number) => void } = {},
): Promise<Uint8Array> {
  const batchSize = options.batchSize ?? DEFAULT_SEGMENT_BATCH;
  if (!(Number.isInteger(batchSize) && batchSize >= 1))
    throw new RangeError(`segmentVolume: batchSize must be a positive integer, got ${batchSize}`);
  const [slices, rows, cols] = volume.shape;
  const { input, output } = segmenter.card;
  const plane = rows * cols;
  const mask = new Uint8Array(volume.data.length);
  for (let z0 = 0; z0 < slices; z0 += batchSize) {
    const count = Math.min(batchSize, slices - z0);
    const x = modelInputSlices(volume, z0, count, intensity, input, options.lung);
    const probs = await segmenter.predictSlices(x, count);
    if (probs.length !== x.length)
      throw new Error(
        `segmentVolume: ${segmenter.description} returned ${probs.length} probabilities for ${count} slices of ${input.size[0]} x ${input.size[1]}`,
      );
    const back = resizeSlices(probs, count, input.size, [rows, cols]);
    const base = z0 * plane;
    for (let i = 0; i < back.length; i++) if ((back[i] as number) >= output.threshold) mask[base + i] = 1;
    options.onBatch?.(count);
  }
  return mask;
}
