/**
 * The contracts of stage 1's networks (docs/method.md, "Segmentation"). Every architecture is a
 * decoder over an encoder; both are engine {@link Module}s, so parameters carry PyTorch-shaped
 * names (`encoder.layer1.0.conv1.weight`, `decoder.blocks.x_0_0.conv1.0.weight`,
 * `segmentation_head.0.weight`: segmentation_models_pytorch's state-dict names, so its
 * checkpoints and the PyTorch twin in bench/reference/ load by name).
 *
 * Layout: images travel as the engine's 2D batches, `[N, H, W, C]` tensors (a Volume5 of depth 1
 * is accepted too); inside ONNX they are NCHW.
 */
import type { ForwardContext, Module, OnnxGraphBuilder, OnnxValue } from '@covsev/engine';
import type * as tf from '@tensorflow/tfjs';
import { z } from 'zod';

/** Encoders, by their torchvision names. */
export const ENCODER_NAMES = ['resnet34', 'densenet121'] as const;
export type EncoderName = (typeof ENCODER_NAMES)[number];

/** Architectures, by segmentation_models_pytorch's class names in lower case. */
export const ARCH_NAMES = ['unet', 'unetplusplus', 'fpn', 'deeplabv3'] as const;
export type ArchName = (typeof ARCH_NAMES)[number];

/**
 * An encoder: the feature maps from full resolution down.
 *
 * `features(x)` returns `outChannels.length` maps; map i has `outChannels[i]` channels and
 * spatial size `H / 2^i` (map 0 is the input itself, as in segmentation_models_pytorch), except
 * that with `outputStride` 16 or 8 the deepest maps stop shrinking (dilated convolutions instead
 * of strides, DeepLabV3's encoder). Inputs must have H and W divisible by 2^(maps - 1).
 */
export interface SegmentationEncoder extends Module {
  readonly outChannels: readonly number[];
  readonly outputStride: 8 | 16 | 32;
  features(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D[];
  featuresToOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue[];
}

export const segmentationModelConfigSchema = z
  .object({
    arch: z.enum(ARCH_NAMES),
    encoder: z.enum(ENCODER_NAMES),
    /** Output channels (logits): 1 for a binary mask read through a sigmoid, or >= 2 for a softmax. */
    classes: z.number().int().min(1).default(1),
    /** Input channels: 1 for CT. */
    inChannels: z.number().int().min(1).default(1),
    /**
     * Width multiplier on every channel count (1 = torchvision's and smp's sizes; 1/8 for a
     * CPU-sized model). Channel counts are rounded to a multiple of 4 (at least 4).
     */
    width: z.number().positive().max(1).default(1),
  })
  .strict();
export type SegmentationModelConfig = z.output<typeof segmentationModelConfigSchema>;
export type SegmentationModelOptions = z.input<typeof segmentationModelConfigSchema>;

/** A segmentation network: `[N, H, W, inChannels]` in, `[N, H, W, classes]` logits out (same H, W). */
export interface SegmentationModel extends Module {
  readonly config: SegmentationModelConfig;
  /** H and W must divide by this (32 for the U-Nets and FPN, 8 for DeepLabV3's output stride). */
  readonly sizeDivisor: number;
  /** The logits of a batch of images (the Module `apply`, typed for 2D batches). */
  logits(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D;
}
