import * as tf from '@tensorflow/tfjs';
import type { ForwardContext, Module, NamedVariable } from '../module.js';
import { type OnnxGraphBuilder, type OnnxValue, reshape } from '../onnx/graph.js';
import { type Activation, isVolume5 } from './volume.js';

/**
 * Flattens every sample to a feature vector in PyTorch's element order: a volume batch
 * (`[B*D, H, W, C]`) gives `[B, C*D*H*W]` ordered (C, D, H, W) like `torch.flatten` of NCDHW; a
 * `[N, H, W, C]` batch gives `[N, C*H*W]` ordered (C, H, W); a matrix passes through.
 * Needs one transpose (channels last to channels first), so pool instead where the model allows.
 *
 * PyTorch equivalent: `nn.Flatten()` (start_dim 1).
 * ONNX: `Reshape`, with a `Transpose` between two reshapes when D > 1.
 */
export class Flatten implements Module {
  readonly name = 'Flatten';

  parameters(): NamedVariable[] {
    return [];
  }

  buffers(): NamedVariable[] {
    return [];
  }

  apply(x: Activation, _ctx: ForwardContext): Activation {
    if (isVolume5(x)) {
      const [, h, w, c] = x.tensor.shape;
      return tf.tidy(() =>
        tf.reshape(tf.transpose(tf.reshape(x.tensor, [x.batch, x.depth, h * w, c]), [0, 3, 1, 2]), [
          x.batch,
          c * x.depth * h * w,
        ]),
      );
    }
    if (x.rank === 2) return x;
    if (x.rank === 4) {
      const [n, h, w, c] = x.shape as [number, number, number, number];
      return tf.tidy(() => tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [n, c * h * w]));
    }
    throw new Error(`${this.name}: expects a volume, a [N, H, W, C] batch or a matrix, got [${x.shape}]`);
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    if (input.kind === 'matrix') return input;
    const { depth: d, channels: c, height: h, width: w } = input;
    let name: string;
    if (d === 1) {
      name = reshape(graph, input.name, [-1, c * h * w]);
    } else {
      const split = reshape(graph, input.name, [-1, d, c, h * w]);
      const t = graph.addNode('Transpose', [split], { perm: { ints: [0, 2, 1, 3] } });
      name = reshape(graph, t, [-1, c * d * h * w]);
    }
    return { kind: 'matrix', name, features: c * d * h * w };
  }
}
