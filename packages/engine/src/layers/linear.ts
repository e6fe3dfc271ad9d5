import type { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import type { ForwardContext, Module, NamedVariable } from '../module.js';
import { attr, type OnnxGraphBuilder, type OnnxValue } from '../onnx/graph.js';
import { initValues, TORCH_DEFAULT_WEIGHT_INIT, torchDefaultBias, type WeightInit } from './init.js';
import { type Activation, asTensor } from './volume.js';

export interface LinearOptions {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** default true */
  readonly bias?: boolean;
  /** Activation after the bias; default none. */
  readonly activation?: 'linear' | 'relu';
  readonly rng: Rng;
  /** default PyTorch's kaiming uniform (a = sqrt(5)); the CMC classifier uses { kind: 'normal', std: 0.001 }. */
  readonly weightInit?: WeightInit;
  /** default PyTorch's U(-1/sqrt(in), 1/sqrt(in)); the CMC classifier uses { kind: 'constant', value: 0 }. */
  readonly biasInit?: WeightInit;
}

/**
 * y = x W^T + b on a `[B, in]` matrix.
 *
 * PyTorch equivalent: `nn.Linear(in, out, bias)`, same layout: `weight` `[out, in]`, `bias` `[out]`.
 * ONNX: `Gemm(transB=1)`.
 */
export class Linear implements Module {
  readonly name: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly activation: 'linear' | 'relu';
  readonly weight: tf.Variable<tf.Rank.R2>;
  readonly bias: tf.Variable<tf.Rank.R1> | undefined;

  constructor(options: LinearOptions) {
    const { inFeatures, outFeatures } = options;
    if (!Number.isInteger(inFeatures) || !Number.isInteger(outFeatures) || inFeatures < 1 || outFeatures < 1) {
      throw new Error(`Linear: bad sizes ${inFeatures} -> ${outFeatures}`);
    }
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.activation = options.activation ?? 'linear';
    const fans = { fanIn: inFeatures, fanOut: outFeatures };
    const w = initValues(options.weightInit ?? TORCH_DEFAULT_WEIGHT_INIT, inFeatures * outFeatures, fans, options.rng);
    this.weight = tf.variable(tf.tensor2d(w, [outFeatures, inFeatures]), true);
    if (options.bias ?? true) {
      this.bias = tf.variable(
        tf.tensor1d(initValues(options.biasInit ?? torchDefaultBias(inFeatures), outFeatures, fans, options.rng)),
        true,
      );
    }
    this.name = `Linear(${inFeatures}->${outFeatures})`;
  }

  parameters(): NamedVariable[] {
    const list: NamedVariable[] = [{ name: 'weight', variable: this.weight }];
    if (this.bias) list.push({ name: 'bias', variable: this.bias });
    return list;
  }

  buffers(): NamedVariable[] {
    return [];
  }

  apply(x: Activation, _ctx: ForwardContext): Activation {
    const t = asTensor(x, this.name, 2) as tf.Tensor2D;
    if (t.shape[1] !== this.inFeatures) throw new Error(`${this.name}: input has ${t.shape[1]} features`);
    // Not tf.fused.matMul: with transposeB and a bias, tfjs-backend-wasm 4.22 adds the bias wrongly
    // (rows after the first get bias[1], bias[2], ...; checked by the PyTorch parity test).
    return tf.tidy(() => {
      const y = tf.matMul(t, this.weight, false, true);
      const yb = this.bias ? tf.add(y, this.bias) : y;
      return this.activation === 'relu' ? tf.relu(yb) : yb;
    });
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    if (input.kind !== 'matrix' || input.features !== this.inFeatures) {
      throw new Error(`${this.name}: ONNX input must be a [B, ${this.inFeatures}] matrix`);
    }
    const w = graph.addInitializer('weight', this.weight.dataSync() as Float32Array, [this.outFeatures, this.inFeatures]);
    const inputs = [input.name, w];
    if (this.bias) inputs.push(graph.addInitializer('bias', this.bias.dataSync() as Float32Array, [this.outFeatures]));
    let out = graph.addNode('Gemm', inputs, { transB: attr.i(1) });
    if (this.activation === 'relu') out = graph.addNode('Relu', [out]);
    return { kind: 'matrix', name: out, features: this.outFeatures };
  }
}
