/**
 * The encoder registry (docs/method.md, "Segmentation": ResNet-34 or DenseNet-121), by torchvision
 * name; an unknown name lists the valid ones.
 */
import { disposeModule, inspectWeights, type StemInit, type WeightsInspection } from '@covsev/engine';
import { Rng } from '@covsev/io';
import { ENCODER_NAMES, type EncoderName, type SegmentationEncoder } from '../models/contract.js';
import { DENSENET121_BLOCKS, DenseNetEncoder } from './densenet.js';
import { ENCODER_WEIGHT_MAPS } from './pretrained.js';
import { RESNET34_LAYERS, ResNetEncoder } from './resnet.js';

export interface EncoderOptions {
  readonly inChannels: number;
  /** Width multiplier, (0, 1]. */
  readonly width: number;
  /** 32 (default), or 16 / 8 with dilated deep stages (DeepLabV3). */
  readonly outputStride?: 8 | 16 | 32;
  readonly rng: Rng;
}

export const ENCODERS: Record<EncoderName, (options: EncoderOptions) => SegmentationEncoder> = {
  resnet34: (o) => new ResNetEncoder({ ...o, layers: RESNET34_LAYERS }),
  densenet121: (o) => new DenseNetEncoder({ ...o, blocks: DENSENET121_BLOCKS }),
};

/** Builds a registered encoder; an unknown name lists the valid ones. */
export function getEncoder(name: EncoderName, options: EncoderOptions): SegmentationEncoder {
  const build = (ENCODERS as Record<string, ((o: EncoderOptions) => SegmentationEncoder) | undefined>)[name];
  if (!build) throw new RangeError(`getEncoder: unknown encoder '${name}'; known: ${ENCODER_NAMES.join(', ')}`);
  return build(options);
}

/**
 * What a torchvision checkpoint holds and where each tensor goes in covsev's `encoder` (the
 * `pnpm seg -- inspect` command): engine's `inspectWeights` on a throwaway encoder of 1 (CT)
 * input channel, or `inChannels`, at `width`.
 */
export async function inspectEncoderWeights(
  path: string,
  options: { readonly encoder: EncoderName; readonly width?: number; readonly inChannels?: number; readonly stemInit?: StemInit },
): Promise<WeightsInspection> {
  const encoder = getEncoder(options.encoder, {
    inChannels: options.inChannels ?? 1,
    width: options.width ?? 1,
    rng: Rng.fromSeed(0),
  });
  try {
    return await inspectWeights(encoder, path, ENCODER_WEIGHT_MAPS[options.encoder], options.stemInit ?? 'random');
  } finally {
    disposeModule(encoder);
  }
}

export {
  DENSENET121_BLOCKS,
  DenseBlock,
  DenseLayer,
  DenseNetEncoder,
  type DenseNetEncoderOptions,
  DenseTransition,
} from './densenet.js';
export { ENCODER_WEIGHT_MAPS, TORCHVISION_DENSENET121_MAP, TORCHVISION_RESNET34_MAP } from './pretrained.js';
export { conv3x3, RESNET34_LAYERS, ResNetEncoder, type ResNetEncoderOptions, resnetStageGeometry } from './resnet.js';
