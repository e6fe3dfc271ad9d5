/**
 * The encoder registry (docs/method.md, "Segmentation": ResNet-34 or DenseNet-121), by torchvision
 * name; an unknown name lists the valid ones.
 */
import type { Rng } from '@covsev/io';
import { ENCODER_NAMES, type EncoderName, type SegmentationEncoder } from '../models/contract.js';
import { DENSENET121_BLOCKS, DenseNetEncoder } from './densenet.js';
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

export {
  DENSENET121_BLOCKS,
  DenseBlock,
  DenseLayer,
  DenseNetEncoder,
  type DenseNetEncoderOptions,
  DenseTransition,
} from './densenet.js';
export {
  ENCODER_WEIGHT_MAPS,
  inspectEncoderWeights,
  TORCHVISION_DENSENET121_MAP,
  TORCHVISION_RESNET34_MAP,
} from './pretrained.js';
export { conv3x3, RESNET34_LAYERS, ResNetEncoder, type ResNetEncoderOptions, resnetStageGeometry } from './resnet.js';
