/**
 * Whole-scan inference, stage 1 of docs/method.md ("Segmentation"): the lung model M1 on every
 * slice, the lung mask cleaned up in 3D, then the lesion model M2 on the lung-masked slices
 * (eq. 1, x̂ = M1(x) ⊙ x), its mask kept inside the lung.
 *
 * Each model sees its slices as its card says (`modelInput.ts`): to HU (an 8-bit windowed scan
 * maps back through its window, docs/formats.md "HU windows"), the model's window, the lung mask
 * for a lung-masked model, resized to the model's size (bilinear), normalised; its foreground
 * probabilities are resized back to the slice (bilinear) and thresholded at the card's threshold.
 */
import { makeVolume, type Volume } from '@covsev/io';
import { classicalLungMask } from '../classical/lungMask.js';
import type { SegmentationTask } from '../modelCard.js';
import { keepLargestComponents } from '../morphology/components.js';
import { fillHoles } from '../morphology/fillHoles.js';
import { huFromWindowed, type ResolvedIntensity, resolveIntensity, type VolumeIntensity } from './modelInput.js';
import { DEFAULT_SEGMENT_BATCH, predictVolumeMask } from './predictVolumeMask.js';
import type { Segmenter } from './segmenter.js';

export interface SegmentProgress {
  readonly stage: SegmentationTask;
  /** Slices done over both stages (the lung's count first, then the lesion's). */
  readonly done: number;
  /** Slices to run: the volume's slices once per stage that runs. */
  readonly total: number;
}

export interface SegmentVolumeOptions {
  /** The lung model (M1), or `classical`: thresholds and morphology, no weights (`classicalLungMask`). */
  readonly lung: Segmenter | 'classical';
  /** The lesion model (M2); without it only the lung is segmented. */
  readonly lesion?: Segmenter;
  /** Slices per model call; default {@link DEFAULT_SEGMENT_BATCH}. */
  readonly batchSize?: number;
  /** What the volume's numbers are, where its `intensity` does not say (see `resolveIntensity`). */
  readonly intensity?: VolumeIntensity;
  readonly onProgress?: (progress: SegmentProgress) => void;
  /** Told each warning as it happens (they are also returned). */
  readonly onWarning?: (message: string) => void;
}

export interface VolumeSegmentation {
  /** 1 = lung, 0 = not; the volume's geometry, intensity `label`. */
  readonly lung: Volume<Uint8Array>;
  /** 1 = lesion (always inside `lung`), when a lesion model ran. */
  readonly lesion?: Volume<Uint8Array>;
  /** Sentences naming the scan: a lesion stage skipped because no lung was found, ... */
  readonly warnings: readonly string[];
}

/** Refuses a segmenter whose card is for another task, naming it. */
export function checkSegmenterTask(segmenter: Segmenter, task: SegmentationTask, role: string): void {
  if (segmenter.card.task !== task)
    throw new RangeError(
      `segmentVolume: the ${role} model (${segmenter.description}) is a ${segmenter.card.task} model (its card's task)`,
    );
}

/**
 * The lung mask's clean-up: the two largest 3D components (26-connected; the two lungs, or one
 * where they touch) and their holes filled slice by slice (vessels and lesions the model missed).
 */
export function cleanLungMask(mask: Uint8Array, shape: Volume['shape']): Uint8Array {
  return fillHoles(keepLargestComponents(mask, shape, 2, 26), shape, 4);
}

/** Stage 1 on one volume (see the file comment). */
export async function segmentVolume(volume: Volume, options: SegmentVolumeOptions): Promise<VolumeSegmentation> {
  const intensity = resolveIntensity(volume, options.intensity);
  const { lung: lungModel, lesion: lesionModel } = options;
  if (lungModel !== 'classical') checkSegmenterTask(lungModel, 'lung', 'lung');
  if (lesionModel !== undefined) checkSegmenterTask(lesionModel, 'lesion', 'lesion');
  const name = volume.source ?? 'the volume';
  const warnings: string[] = [];
  const warn = (message: string): void => {
    warnings.push(message);
    options.onWarning?.(message);
  };
  const slices = volume.shape[0];
  const total = slices * (lesionModel === undefined ? 1 : 2);
  let done = 0;
  const progress = (stage: SegmentationTask, count: number): void => {
    done += count;
    options.onProgress?.({ stage, done, total });
  };
  const asLabels = (data: Uint8Array): Volume<Uint8Array> =>
    makeVolume({
      data,
      shape: volume.shape,
      spacing: volume.spacing,
      affine: volume.affine,
      intensity: 'label',
      ...(volume.source === undefined ? {} : { source: volume.source }),
    });

  let lung: Uint8Array;
  if (lungModel === 'classical') {
    const classical = classicalLungMask(huVolume(volume, intensity));
    lung = classical.mask;
    for (const w of classical.report.warnings) warn(w);
    progress('lung', slices);
  } else {
    const raw = await predictVolumeMask(volume, lungModel, intensity, {
      ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
      onBatch: (n) => progress('lung', n),
    });
    lung = cleanLungMask(raw, volume.shape);
  }
  if (lesionModel === undefined) return { lung: asLabels(lung), warnings };

  let lungVoxels = 0;
  for (let i = 0; i < lung.length; i++) lungVoxels += lung[i] as number;
  if (lungVoxels === 0) {
    warn(`${name}: no lung found, so the lesion mask is empty (the lesion model did not run)`);
    progress('lesion', slices);
    return { lung: asLabels(lung), lesion: asLabels(new Uint8Array(lung.length)), warnings };
  }
  const lesion = await predictVolumeMask(volume, lesionModel, intensity, {
    ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
    lung,
    onBatch: (n) => progress('lesion', n),
  });
  for (let i = 0; i < lesion.length; i++) if (lung[i] === 0) lesion[i] = 0;
  return { lung: asLabels(lung), lesion: asLabels(lesion), warnings };
}

/** The volume in HU (float32; an 8-bit windowed one mapped back through its window), for the classical lung mask. */
export function huVolume(volume: Volume, intensity: ResolvedIntensity): Volume {
  if (intensity.kind === 'hu') return volume.intensity === 'hu' ? volume : { ...volume, intensity: 'hu' };
  const window = intensity.window;
  const src = volume.data;
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = huFromWindowed(src[i] as number, window);
  return makeVolume({
    data: out,
    shape: volume.shape,
    spacing: volume.spacing,
    affine: volume.affine,
    intensity: 'hu',
    ...(volume.source === undefined ? {} : { source: volume.source }),
  });
}
