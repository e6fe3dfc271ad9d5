/**
 * U-Net++ (Zhou et al. 2018) over a ResNet-34 or DenseNet-121 encoder, as
 * segmentation_models_pytorch v0.3.3's `UnetPlusPlus` (encoder depth 5, decoder channels
 * (256, 128, 64, 32, 16) times the width, batch norm, no attention, head kernel 3, no upsampling).
 */
import type { Rng } from '@covsev/io';
import { getEncoder } from '../../encoders/index.js';
import { EncoderDecoderModel, segmentationHead } from '../common.js';
import type { SegmentationModelConfig } from '../contract.js';
import { UnetPlusPlusDecoder } from './decoder.js';

export function createUnetPlusPlus(config: SegmentationModelConfig, rng: Rng): EncoderDecoderModel {
  const encoder = getEncoder(config.encoder, { inChannels: config.inChannels, width: config.width, rng });
  const decoder = new UnetPlusPlusDecoder({ encoderChannels: encoder.outChannels, width: config.width, rng });
  const head = segmentationHead(decoder.outChannels, config.classes, rng);
  return new EncoderDecoderModel(config, encoder, decoder, head, 32);
}
