/**
 * FPN (Kirillov et al., "Panoptic Feature Pyramid Networks"; docs/method.md, "Segmentation") over
 * a ResNet-34 or DenseNet-121 encoder, as segmentation_models_pytorch v0.3.3's `FPN`: encoder
 * depth 5 at output stride 32, pyramid 256 and segmentation 128 channels (times the width,
 * {@link scaledChannels}), merge 'add', Dropout2d(0.2), head a 1x1 conv and a bilinear x4
 * (align_corners=True). H and W must divide by 32 (the encoder's five halvings).
 *
 * Variables: `encoder.*`, `decoder.p5.*`, `decoder.p{4,3,2}.skip_conv.*`,
 * `decoder.seg_blocks.{i}.block.{j}.block.{0,1}.*`, `segmentation_head.0.*`.
 */
import type { Rng } from '@covsev/io';
import { getEncoder } from '../../encoders/index.js';
import { EncoderDecoderModel, scaledChannels } from '../common.js';
import type { SegmentationModelConfig } from '../contract.js';
import { FPNDecoder, upsamplingSegmentationHead } from './decoder.js';

export interface FpnOptions {
  /**
   * The stream FPN's training Dropout2d(0.2) draws its masks from (docs/conventions.md, "Seeds").
   * Absent: training runs without that dropout (eval and ONNX never drop anything).
   */
  readonly dropoutRng?: Rng;
}

/** The FPN of `config` (`config.arch` should be 'fpn'), weights drawn from `rng`. */
export function createFpn(config: SegmentationModelConfig, rng: Rng, options: FpnOptions = {}): EncoderDecoderModel {
  const encoder = getEncoder(config.encoder, { inChannels: config.inChannels, width: config.width, rng });
  const decoder = new FPNDecoder({
    encoderChannels: encoder.outChannels,
    pyramidChannels: scaledChannels(256, config.width),
    segmentationChannels: scaledChannels(128, config.width),
    dropout: 0.2,
    ...(options.dropoutRng ? { dropoutRng: options.dropoutRng } : {}),
    rng,
  });
  const head = upsamplingSegmentationHead(decoder.outChannels, config.classes, 4, rng);
  return new EncoderDecoderModel(config, encoder, decoder, head, 32);
}
