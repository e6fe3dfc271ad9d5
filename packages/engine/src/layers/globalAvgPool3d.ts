import * as tf from '@tensorflow/tfjs';
import type { ForwardContext, Module, NamedVariable } from '../module.js';
import { attr, type OnnxGraphBuilder, type OnnxValue, reshape } from '../onnx/graph.js';
import { type Activation, asVolume } from './volume.js';

/**
 * Global average pool of a volume batch to a feature matrix: `[B*D, H, W, C]` to `[B, C]`
 * (a mean over a `[B, D*H*W, C]` reshape); a plain `[N, H, W, C]` batch gives `[N, C]`.
 *
 * PyTorch equivalent: `torch.flatten(nn.AdaptiveAvgPool3d(1)(x), 1)` (the CMC network's final pool;
 * `AdaptiveAvgPool2d(1)` + flatten on 2D batches).
 * ONNX: `GlobalAveragePool` per slice, then `ReduceMean` over the depth of a `[B, D, C]` reshape.
 */
export class GlobalAvgPool3d implements Module {
  readonly name = 'GlobalAvgPool3d';

  parameters(): NamedVariable[] {
    return [];
  }

  buffers(): NamedVariable[] {
    return [];
  }

  apply(x: Activation, _ctx: ForwardContext): Activation {
    const v = asVolume(x, this.name);
    const [, h, w, c] = v.tensor.shape;
    return tf.tidy(() => tf.mean(tf.reshape(v.tensor, [v.batch, v.depth * h * w, c]), 1));
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    if (input.kind !== 'volume') throw new Error(`${this.name}: ONNX input must be a volume`);
    const c = input.channels;
    const pooled = graph.addNode('GlobalAveragePool', [input.name]);
    let name: string;
    if (input.depth === 1) {
      name = reshape(graph, pooled, [-1, c]);
    } else {
      const perSlice = reshape(graph, pooled, [-1, input.depth, c]);
      name = graph.addNode('ReduceMean', [perSlice], { axes: attr.ints([1]), keepdims: attr.i(0) });
    }
    return { kind: 'matrix', name, features: c };
  }
}
