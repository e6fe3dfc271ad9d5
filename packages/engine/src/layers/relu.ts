import * as tf from '@tensorflow/tfjs';
import { RELU, reluGradKernel } from '../kernels/reluGrad.js';
import type { ForwardContext, Module, NamedVariable } from '../module.js';
import type { OnnxGraphBuilder, OnnxValue } from '../onnx/graph.js';
import { type Activation, isVolume5, volume } from './volume.js';

/** max(x, 0) on a tensor; on wasm with covsev's SIMD kernels its gradient is one pass (`CovsevReluGrad`). */
export function relu<T extends tf.Tensor>(x: T): T {
  return (reluGradKernel() ? tf.engine().runKernel(RELU, { x }) : tf.relu(x)) as T;
}

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
    return isVolume5(x) ? volume(relu(x.tensor), x.batch, x.depth) : relu(x);
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    return { ...input, name: graph.addNode('Relu', [input.name]) };
  }
}
