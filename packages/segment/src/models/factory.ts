/**
 * The model factory of stage 1 (docs/method.md, "Segmentation"): a {@link SegmentationModelConfig}
 * in, a {@link SegmentationModel} out, through the architecture registry {@link ARCHITECTURES}.
 * A typo in `arch` or `encoder` lists the valid names (docs/conventions.md, "Errors").
 */
import type { Rng } from '@covsev/io';
import {
  ARCH_NAMES,
  type ArchName,
  ENCODER_NAMES,
  type SegmentationModel,
  type SegmentationModelConfig,
  type SegmentationModelOptions,
  segmentationModelConfigSchema,
} from './contract.js';
import { createDeepLabV3 } from './deeplabv3/model.js';
import { createFpn } from './fpn/model.js';
import { createUnet } from './unet/model.js';
import { createUnetPlusPlus } from './unetplusplus/model.js';

/** Builds one architecture from a parsed config. */
export type ArchitectureBuilder = (config: SegmentationModelConfig, rng: Rng) => SegmentationModel;

/** Every architecture of {@link ARCH_NAMES}, by name. */
export const ARCHITECTURES: Record<ArchName, ArchitectureBuilder> = {
  unet: createUnet,
  unetplusplus: createUnetPlusPlus,
  fpn: (config, rng) => createFpn(config, rng),
  deeplabv3: (config, rng) => createDeepLabV3(config, rng),
};

/** `options` checked against the schema, with defaults; a bad field throws a RangeError naming it (and the valid names). */
export function parseSegmentationModelConfig(options: SegmentationModelOptions): SegmentationModelConfig {
  const parsed = segmentationModelConfigSchema.safeParse(options);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const field = issue.path.join('.') || '(config)';
    const value = issue.path.length === 1 ? (options as Record<string, unknown>)[String(issue.path[0])] : undefined;
    const shown = value === undefined ? '' : ` (got ${JSON.stringify(value)})`;
    if (field === 'arch') return `unknown arch${shown}; known: ${ARCH_NAMES.join(', ')}`;
    if (field === 'encoder') return `unknown encoder${shown}; known: ${ENCODER_NAMES.join(', ')}`;
    return `${field}: ${issue.message}${shown}`;
  });
  throw new RangeError(`createSegmentationModel: ${problems.join('; ')}`);
}

/** Builds the network `options` describe, its weights drawn from `rng` (docs/conventions.md, "Seeds": the `init` stream). */
export function createSegmentationModel(options: SegmentationModelOptions, { rng }: { rng: Rng }): SegmentationModel {
  const config = parseSegmentationModelConfig(options);
  return ARCHITECTURES[config.arch](config, rng);
}
