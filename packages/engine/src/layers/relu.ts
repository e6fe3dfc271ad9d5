import * as tf from '@tensorflow/tfjs';
import type { ForwardContext, Module, NamedVariable } from '../module.js';
import type { OnnxGraphBuilder, OnnxValue } from '../onnx/graph.js';
import { type Activation, isVolume5, volume } from './volume.js';

/**
 * max(x, 0), element-wise, on any activation.
 *
 * PyTorch equivalent: `nn.ReLU()`. ONNX: `Relu` (onnxruntime fuses it into the Conv before it).
 */
export class ReLU implements Module {
  readonly name = 'ReLU';

  parameters(): NamedVariable[] {
    return [];
  }

  buffers(): NamedVariable[] {
    return [];
  }

  apply(x: Activation, _ctx: ForwardContext): Activation {
    return isVolume5(x) ? volume(tf.relu(x.tensor), x.batch, x.depth) : tf.relu(x);
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    return { ...input, name: graph.addNode('Relu', [input.name]) };
  }
}
