/**
 * Tiny segmentation models for the inference tests: conv-bn-relu-conv at full resolution, the
 * {@link SegmentationModel} contract without an encoder (the architecture factory's models are
 * tested in `models/`). Batch norm gets non-trivial running statistics so that the ONNX export's
 * folding is exercised.
 */

import type { Activation } from '@covsev/engine';
import {
  BatchNorm,
  Container,
  Conv1kk,
  type ForwardContext,
  type Module,
  type OnnxGraphBuilder,
  type OnnxValue,
  ReLU,
} from '@covsev/engine';
import { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { type SegmentationModel, type SegmentationModelConfig, segmentationModelConfigSchema } from '../models/contract.js';

export class TinySegmentationModel extends Container implements SegmentationModel {
  readonly name: string;
  readonly config: SegmentationModelConfig;
  readonly sizeDivisor = 1;
  private readonly items: Array<readonly [string, Module]>;

  constructor(classes: number, seed: number, inChannels = 1) {
    super();
    this.config = segmentationModelConfigSchema.parse({ arch: 'unet', encoder: 'resnet34', classes, inChannels, width: 0.125 });
    this.name = `TinySegmentationModel(${inChannels}->${classes})`;
    const rng = Rng.fromSeed(seed);
    const bn = new BatchNorm({ channels: 4 });
    bn.buffers()
      .find((b) => b.name === 'running_mean')
      ?.variable.assign(tf.tensor1d([0.1, -0.2, 0.05, 0.3]));
    bn.buffers()
      .find((b) => b.name === 'running_var')
      ?.variable.assign(tf.tensor1d([0.5, 2, 1.5, 0.8]));
    this.items = [
      ['conv1', new Conv1kk({ inChannels, outChannels: 4, kernel: 3, padding: 1, rng })],
      ['bn1', bn],
      ['relu', new ReLU()],
      ['head', new Conv1kk({ inChannels: 4, outChannels: classes, kernel: 1, rng })],
    ];
  }

  children(): ReadonlyArray<readonly [string, Module]> {
    return this.items;
  }

  apply(x: Activation, ctx: ForwardContext): Activation {
    let v = x;
    for (const [, m] of this.items) v = m.apply(v, ctx);
    return v;
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    let v = input;
    for (const [key, m] of this.items) v = this.childToOnnx(graph, key, m, v);
    return v;
  }

  logits(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    return this.apply(x, ctx) as tf.Tensor4D;
  }
}
