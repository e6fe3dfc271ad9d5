/**
 * The CMC network (docs/method.md, "Classifier"): a 3D ResNeSt backbone, a projection head
 * P = Linear(F, F) -> ReLU -> Linear(F, 128) -> L2 normalisation for the contrastive loss, a
 * classifier C = Linear(F, 4) initialised N(0, 0.001) with zero bias, and the two learnable
 * log-variances (s1, s2) of the joint loss, initialised to 0.
 */

import {
  type Activation,
  Container,
  type ForwardContext,
  Linear,
  type MicroBatchModel,
  type Module,
  type NamedVariable,
  type OnnxGraphBuilder,
  type OnnxValue,
  ReLU,
  Sequential,
} from '@covsev/engine';
import type { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { createResNeSt3d, ResNeSt3d, type ResNeSt3dConfig, type ResNeSt3dName } from './resnest3d.js';

export interface CmcNetworkConfig {
  /** A registered backbone name, or a custom configuration. */
  readonly backbone: ResNeSt3dName | Omit<ResNeSt3dConfig, 'inChannels'>;
  /** 1: CT alone (CMC); 2: [infection mask, CT] (infection-aware CMC). */
  readonly inChannels: number;
  readonly classes?: number;
  readonly projectionDim?: number;
}

/** True for the backbone's parameters and buffers (names under `backbone.`). */
export const isBackbone = (name: string): boolean => name.startsWith('backbone.');

/** The network; as a `MicroBatchModel`, its micro-batches run the backbone (`features`). */
export class CmcNetwork extends Container implements MicroBatchModel {
  readonly name: string;
  readonly backbone: ResNeSt3d;
  readonly projection: Sequential;
  readonly classifier: Linear;
  /** [s1, s2] of eq. (8). */
  readonly logVars: tf.Variable<tf.Rank.R1>;

  constructor(
    readonly config: CmcNetworkConfig,
    rng: Rng,
  ) {
    super();
    this.backbone =
      typeof config.backbone === 'string'
        ? createResNeSt3d(config.backbone, config.inChannels, rng)
        : new ResNeSt3d({ ...config.backbone, inChannels: config.inChannels }, rng);
    const f = this.backbone.outChannels;
    this.projection = new Sequential([
      new Linear({ inFeatures: f, outFeatures: f, rng }),
      new ReLU(),
      new Linear({ inFeatures: f, outFeatures: config.projectionDim ?? 128, rng }),
    ]);
    this.classifier = new Linear({
      inFeatures: f,
      outFeatures: config.classes ?? 4,
      rng,
      weightInit: { kind: 'normal', mean: 0, std: 0.001 },
      biasInit: { kind: 'constant', value: 0 },
    });
    this.logVars = tf.variable(tf.zeros([2]), true);
    this.name = `CmcNetwork(${typeof config.backbone === 'string' ? config.backbone : 'custom'}, in ${config.inChannels})`;
  }

  children(): ReadonlyArray<readonly [string, Module]> {
    return [
      ['backbone', this.backbone],
      ['projection', this.projection],
      ['classifier', this.classifier],
    ];
  }

  override parameters(): NamedVariable[] {
    return [...super.parameters(), { name: 'log_vars', variable: this.logVars }];
  }

  /** Pooled backbone features `[B, F]`. */
  features(x: Activation, ctx: ForwardContext): tf.Tensor2D {
    return this.backbone.apply(x, ctx) as tf.Tensor2D;
  }

  /** The backbone's parameters: what a micro-batch's backward pass differentiates. */
  featureVariables(): tf.Variable[] {
    return this.parameters()
      .filter((p) => isBackbone(p.name))
      .map((p) => p.variable);
  }

  /** L2-normalised projections `[B, 128]`. */
  project(features: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D {
    const z = this.projection.apply(features, ctx) as tf.Tensor2D;
    return tf.tidy(() => tf.div(z, tf.maximum(tf.norm(z, 'euclidean', 1, true), 1e-12)) as tf.Tensor2D);
  }

  /** Class logits `[B, classes]` (no softmax). */
  classify(features: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D {
    return this.classifier.apply(features, ctx) as tf.Tensor2D;
  }

  /** Logits of a volume batch: what inference and ONNX export compute. */
  apply(x: Activation, ctx: ForwardContext): Activation {
    return this.classify(this.features(x, ctx), ctx);
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    const f = this.childToOnnx(graph, 'backbone', this.backbone, input);
    return this.childToOnnx(graph, 'classifier', this.classifier, f);
  }
}
