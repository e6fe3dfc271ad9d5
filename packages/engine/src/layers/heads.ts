import * as tf from '@tensorflow/tfjs';
import type { ForwardContext, Module, NamedVariable } from '../module.js';
import { attr, type OnnxGraphBuilder, type OnnxValue } from '../onnx/graph.js';
import { type Activation, isVolume5, mapSlices, volume } from './volume.js';

/**
 * 1 / (1 + exp(-x)), element-wise, on any activation: a binary mask's probability from its logit.
 *
 * PyTorch equivalent: `nn.Sigmoid()` (smp's `activation='sigmoid'`). ONNX: `Sigmoid`.
 */
export class Sigmoid implements Module {
  readonly name = 'Sigmoid';

  parameters(): NamedVariable[] {
    return [];
  }

  buffers(): NamedVariable[] {
    return [];
  }

  apply(x: Activation, _ctx: ForwardContext): Activation {
    return isVolume5(x) ? volume(tf.sigmoid(x.tensor), x.batch, x.depth) : tf.sigmoid(x);
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    return { ...input, name: graph.addNode('Sigmoid', [input.name]) };
  }
}

/**
 * Softmax over the channels of each pixel: `[N, H, W, C]` (and Volume5 slices), class
 * probabilities from logits.
 *
 * PyTorch equivalent: `nn.Softmax2d()` = `nn.Softmax(dim=1)` on NCHW (smp's
 * `activation='softmax2d'`). ONNX: `Softmax` with `axis=1` (NCHW).
 */
export class Softmax2d implements Module {
  readonly name = 'Softmax2d';

  parameters(): NamedVariable[] {
    return [];
  }

  buffers(): NamedVariable[] {
    return [];
  }

  apply(x: Activation, _ctx: ForwardContext): Activation {
    return mapSlices(x, this.name, (t) => tf.softmax(t, 3));
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    if (input.kind !== 'volume') throw new Error(`${this.name}: ONNX input must be a volume`);
    return { ...input, name: graph.addNode('Softmax', [input.name], { axis: attr.i(1) }) };
  }
}
