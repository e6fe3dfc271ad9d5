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
import { defaultInputSpec, type ModelCard, type SegmentationTask } from '../modelCard.js';
import { type SegmentationModel, type SegmentationModelConfig, segmentationModelConfigSchema } from '../models/contract.js';
import type { Segmenter } from './segmenter.js';

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

/**
 * A stand-in model whose "probability" is a function of its input pixel: with the default input
 * spec (window [-1250, 250] onto 0..1, no normalisation) the input is the windowed slice itself.
 */
export class PixelSegmenter implements Segmenter {
  readonly card: ModelCard;
  readonly description: string;
  calls = 0;
  constructor(
    task: SegmentationTask,
    size: number,
    private readonly fn: (u: number) => number,
    readonly id = 'pixel',
  ) {
    this.card = {
      format: 'covsev-segmentation-model',
      version: 1,
      task,
      onnx: 'none.onnx',
      input: defaultInputSpec(task, [size, size]),
      output: { activation: 'sigmoid', foreground: 0, threshold: 0.5 },
    };
    this.description = `PixelSegmenter(${task}, ${id})`;
  }
  hash(): string {
    return `${this.id}-${this.card.task}-${this.card.input.size}`;
  }
  async predictSlices(input: Float32Array, count: number): Promise<Float32Array> {
    this.calls++;
    if (input.length !== count * this.card.input.size[0] * this.card.input.size[1])
      throw new RangeError('PixelSegmenter: wrong input length');
    return input.map(this.fn);
  }
  async dispose(): Promise<void> {}
}

/**
 * A stand-in lung model that returns given masks slice after slice, starting again after
 * `slices` (one volume of that many slices per run, slices asked for in order).
 */
export class SequenceSegmenter extends PixelSegmenter {
  private position = 0;
  constructor(
    private readonly masks: Float32Array,
    private readonly slices: number,
    size: number,
    id = 'sequence',
  ) {
    super('lung', size, () => 0, id);
  }
  override async predictSlices(input: Float32Array, count: number): Promise<Float32Array> {
    const plane = this.masks.length / this.slices;
    if (input.length !== count * plane) throw new RangeError('SequenceSegmenter: wrong input length');
    this.calls++;
    const out = this.masks.slice(this.position * plane, (this.position + count) * plane);
    this.position = (this.position + count) % this.slices;
    return out;
  }
}
