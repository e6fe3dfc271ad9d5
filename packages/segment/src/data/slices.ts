/**
 * Slices of a COVID-19-CT-Seg cohort as network inputs and targets (docs/method.md,
 * "Segmentation"): each slice is windowed and normalised by the model card's `InputSpec`, for the
 * lesion model multiplied by the lung mask first (eq. 1; training uses the ground-truth lung
 * mask), and resized to `input.size` (bilinear for images, nearest for masks). The target is the
 * task's foreground: the lung (left and right together) or the infection.
 *
 * The input is made by `modelInputSlices` (`infer/modelInput.ts`), the one definition of what a
 * segmentation model expects, shared with whole-scan inference: window to 0..1, eq. 1's lung
 * mask for a lung-masked input, bilinear resize to `input.size`, then `(v - mean) / std`.
 */
import { makeVolume, resampleVolume, type Volume } from '@covsev/io';
import { modelInputSlices } from '../infer/modelInput.js';
import type { InputSpec, SegmentationTask } from '../modelCard.js';
import type { CtSegScan } from './ctSegCohort.js';

/** A binary mask (nonzero = 1) resized to `size` by nearest neighbour (PyTorch's `mode='nearest'`). */
export function prepareMaskSlice(
  mask: ArrayLike<number>,
  rows: number,
  cols: number,
  size: readonly [number, number],
): Uint8Array {
  if (mask.length !== rows * cols) throw new RangeError(`prepareMaskSlice: ${mask.length} values for a ${rows} x ${cols} slice`);
  const binary = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) binary[i] = (mask[i] as number) !== 0 ? 1 : 0;
  if (rows === size[0] && cols === size[1]) return binary;
  const plane = makeVolume({ data: binary, shape: [1, rows, cols], intensity: 'label' });
  return resampleVolume(plane, [1, size[0], size[1]], { mode: 'nearest' }).data as Uint8Array;
}

/** A mask volume as 0/1 bytes (nonzero = 1). */
export function binaryMaskData(mask: Volume): Uint8Array {
  const out = new Uint8Array(mask.data.length);
  for (let i = 0; i < out.length; i++) out[i] = (mask.data[i] as number) !== 0 ? 1 : 0;
  return out;
}

/** The task's foreground volume of a scan: the lung mask (left and right) or the infection mask. */
export function taskMask(scan: CtSegScan, task: SegmentationTask): Volume {
  return task === 'lung' ? scan.lung : scan.infection;
}

/** Which scan and slice a prepared slice came from. */
export interface SliceRef {
  readonly scan: string;
  /** Slice index in the scan (0 = most inferior for phantom scans). */
  readonly z: number;
}

/** Prepared slices of some scans: inputs and binary targets at `size`. */
export interface SliceSet {
  readonly task: SegmentationTask;
  readonly size: readonly [number, number];
  /** `size[0] * size[1]` normalised values per slice. */
  readonly images: Float32Array[];
  /** `size[0] * size[1]` values 0/1 per slice. */
  readonly masks: Uint8Array[];
  readonly refs: SliceRef[];
}

export interface SliceSetOptions {
  /** Every k-th slice of each scan (from slice 0); default 1 (all). */
  readonly sliceStep?: number;
}

/**
 * The slices of `scans` for `task` as the network sees them (`modelInputSlices`, the ground-truth
 * lung mask for a lung-masked input) with their targets at `input.size`.
 */
export function buildSliceSet(
  scans: readonly CtSegScan[],
  task: SegmentationTask,
  input: InputSpec,
  options: SliceSetOptions = {},
): SliceSet {
  const step = options.sliceStep ?? 1;
  if (!(Number.isInteger(step) && step >= 1))
    throw new RangeError(`buildSliceSet: sliceStep must be an integer >= 1, got ${step}`);
  const images: Float32Array[] = [];
  const masks: Uint8Array[] = [];
  const refs: SliceRef[] = [];
  for (const scan of scans) {
    const [slices, rows, cols] = scan.ct.shape;
    const plane = rows * cols;
    const target = taskMask(scan, task).data;
    const lung = input.lungMasked ? binaryMaskData(scan.lung) : undefined;
    for (let z = 0; z < slices; z += step) {
      images.push(modelInputSlices(scan.ct, z, 1, { kind: 'hu' }, input, lung));
      masks.push(prepareMaskSlice(target.subarray(z * plane, (z + 1) * plane), rows, cols, input.size));
      refs.push({ scan: scan.name, z });
    }
  }
  return { task, size: [input.size[0], input.size[1]], images, masks, refs };
}
