/**
 * What a segmentation model needs to be run correctly, stored with every trained model
 * (`model.json` beside its weights or its ONNX file) and declared by hand for imported ONNX
 * models: the task, the input the network expects (size, HU window, normalisation, whether the
 * slice is lung-masked first, eq. 1 of docs/method.md) and what its output means.
 */
import { z } from 'zod';
import { segmentationModelConfigSchema } from './models/contract.js';

/** Lung (M1, on raw slices) or lesion (M2, on lung-masked slices). */
export const SEGMENTATION_TASKS = ['lung', 'lesion'] as const;
export type SegmentationTask = (typeof SEGMENTATION_TASKS)[number];

const finite = z.number().finite();

export const inputSpecSchema = z
  .object({
    /** [height, width] the network runs at; slices are resized to it and the output back. */
    size: z.tuple([z.number().int().min(8), z.number().int().min(8)]),
    /** HU mapped linearly onto 0..1 and clipped (docs/formats.md, "HU windows"). */
    huWindow: z
      .object({ low: finite, high: finite })
      .strict()
      .refine((w) => w.high > w.low, 'huWindow.high must exceed huWindow.low'),
    /** Then (v - mean) / std. */
    normalise: z.object({ mean: finite, std: finite.positive() }).strict(),
    /** Eq. 1: the windowed slice is multiplied by the lung mask before the network (the lesion model). */
    lungMasked: z.boolean(),
    channels: z.number().int().min(1).default(1),
  })
  .strict();
export type InputSpec = z.output<typeof inputSpecSchema>;

export const outputSpecSchema = z
  .object({
    /** `sigmoid`: one logit channel per mask; `softmax`: channel `foreground` against the rest. */
    activation: z.enum(['sigmoid', 'softmax']),
    /** The channel holding the task's foreground. */
    foreground: z.number().int().min(0).default(0),
    /** Probability at or above which a pixel is foreground. */
    threshold: finite.min(0).max(1).default(0.5),
  })
  .strict();
export type OutputSpec = z.output<typeof outputSpecSchema>;

/** The card of a model covsev trained (`architecture` set) or imported (`architecture` absent, `onnx` set). */
export const modelCardSchema = z
  .object({
    format: z.literal('covsev-segmentation-model'),
    version: z.literal(1),
    task: z.enum(SEGMENTATION_TASKS),
    architecture: segmentationModelConfigSchema.optional(),
    /** ONNX file, relative to the card's folder. */
    onnx: z.string().min(1).optional(),
    input: inputSpecSchema,
    output: outputSpecSchema,
  })
  .strict()
  .refine((c) => c.architecture !== undefined || c.onnx !== undefined, 'a model card needs an architecture or an onnx file');
export type ModelCard = z.output<typeof modelCardSchema>;

/** The input covsev's own models are trained with: the ctseg window (docs/formats.md), 0..1, no shift. */
export function defaultInputSpec(task: SegmentationTask, size: readonly [number, number] = [256, 256]): InputSpec {
  return {
    size: [size[0], size[1]],
    huWindow: { low: -1250, high: 250 },
    normalise: { mean: 0, std: 1 },
    lungMasked: task === 'lesion',
    channels: 1,
  };
}
