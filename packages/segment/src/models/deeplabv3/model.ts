/**
 * DeepLabV3 (Chen et al. 2017, "Rethinking Atrous Convolution"; docs/method.md, "Segmentation")
 * over a ResNet-34 or DenseNet-121 encoder, as segmentation_models_pytorch v0.3.3's `DeepLabV3`:
 * the encoder at output stride 8 (layer3 / layer4 dilated 2 / 4 instead of strided; DenseNet the
 * same way, covsev's choice, see encoders/densenet.ts), the decoder ({@link DeepLabV3Decoder},
 * 256 channels times the width, {@link scaledChannels}), head a 1x1 conv and a bilinear x8
 * (align_corners=True).
 *
 * Input size: H and W must divide by 8 (`sizeDivisor`). The encoder still has a /32 path's shape
 * (stem conv s2, max pool s2, layer2 s2, then stride 1): with H = 8k every stride-2 step halves
 * exactly (k >= 1), the deepest map is H/8 x W/8, and the x8 head gives H x W back. Nothing in
 * the dilated stages needs more (padding = dilation keeps their size at any H/8).
 *
 * Variables: `encoder.*`, `decoder.0.convs.{0..4}.*` (ASPP; `convs.4.1` / `convs.4.2` the pooling
 * branch's conv and batch norm), `decoder.0.project.{0,1}.*`, `decoder.{1,2}.*`,
 * `segmentation_head.0.*`.
 */
import type { Rng } from '@covsev/io';
import { getEncoder } from '../../encoders/index.js';
import { EncoderDecoderModel, scaledChannels } from '../common.js';
import type { SegmentationModelConfig } from '../contract.js';
import { upsamplingSegmentationHead } from '../fpn/decoder.js';
import { DeepLabV3Decoder } from './decoder.js';

export interface DeepLabV3Options {
  /**
   * The stream the training Dropout(0.5) after ASPP's projection draws its masks from
   * (docs/conventions.md, "Seeds"). Absent: training runs without it (eval and ONNX never drop).
   */
  readonly dropoutRng?: Rng;
}

/** The DeepLabV3 of `config` (`config.arch` should be 'deeplabv3'), weights drawn from `rng`. */
export function createDeepLabV3(config: SegmentationModelConfig, rng: Rng, options: DeepLabV3Options = {}): EncoderDecoderModel {
  const encoder = getEncoder(config.encoder, { inChannels: config.inChannels, width: config.width, outputStride: 8, rng });
  const deepest = encoder.outChannels[encoder.outChannels.length - 1] as number;
  const decoder = new DeepLabV3Decoder({
    inChannels: deepest,
    channels: scaledChannels(256, config.width),
    ...(options.dropoutRng ? { dropoutRng: options.dropoutRng } : {}),
    rng,
  });
  const head = upsamplingSegmentationHead(decoder.outChannels, config.classes, 8, rng);
  return new EncoderDecoderModel(config, encoder, decoder, head, 8);
}
