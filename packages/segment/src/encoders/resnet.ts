/**
 * ResNet-34 (He et al. 2016) as segmentation_models_pytorch v0.3.3's `ResNetEncoder`
 * (`segmentation_models_pytorch/encoders/resnet.py`): torchvision's ResNet with `fc` and `avgpool`
 * removed, its features being
 *
 *   [input, relu(bn1(conv1(x))) (/2), layer1(maxpool(.)) (/4), layer2 (/8), layer3 (/16), layer4 (/32)]
 *
 * with 64, 64, 128, 256, 512 channels (times the width multiplier). Variable names are
 * torchvision's (`conv1.weight`, `bn1.*`, `layer1.0.conv1.weight`, `layer2.0.downsample.0.weight`),
 * so torchvision / smp state dicts load by name (under `encoder.` in a model).
 *
 * `inChannels` other than 3: smp patches conv1's pretrained weight; here conv1 simply has
 * `inChannels` inputs. Initialisation: torchvision's (convs kaiming-normal fan_out, batch norm 1 / 0).
 *
 * Output stride 16 / 8 (DeepLabV3), as smp's `EncoderMixin.make_dilated`: every conv of layer4
 * (OS 16), or of layer3 and layer4 (OS 8), gets stride 1 and dilation 2 (layer3) / 2 or 4 (layer4),
 * padding = dilation for 3 x 3 convs; the downsample 1 x 1 convs of those stages get stride 1.
 */
import {
  type Activation,
  asVolume,
  BatchNorm,
  Container,
  Conv1kk,
  type ForwardContext,
  MaxPool1kk,
  type Module,
  type OnnxGraphBuilder,
  type OnnxValue,
  ReLU,
  Residual,
  Sequential,
  type WeightInit,
} from '@covsev/engine';
import type { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { onnxImage, RESNET_CONV_INIT, scaledChannels } from '../models/common.js';
import type { SegmentationEncoder } from '../models/contract.js';

export interface ResNetEncoderOptions {
  readonly inChannels: number;
  /** Width multiplier, (0, 1]; see `scaledChannels`. */
  readonly width: number;
  /** Blocks per stage: ResNet-34 is [3, 4, 6, 3]. */
  readonly layers: readonly [number, number, number, number];
  readonly outputStride?: 8 | 16 | 32;
  readonly rng: Rng;
}

/** Stride and dilation of each of layer1..layer4 for an output stride (smp's make_dilated). */
export function resnetStageGeometry(outputStride: 8 | 16 | 32): { stride: number; dilation: number }[] {
  const geometry = [
    { stride: 1, dilation: 1 },
    { stride: 2, dilation: 1 },
    { stride: 2, dilation: 1 },
    { stride: 2, dilation: 1 },
  ];
  if (outputStride === 16) geometry[3] = { stride: 1, dilation: 2 };
  else if (outputStride === 8) {
    geometry[2] = { stride: 1, dilation: 2 };
    geometry[3] = { stride: 1, dilation: 4 };
  } else if (outputStride !== 32) throw new RangeError(`ResNetEncoder: outputStride must be 8, 16 or 32, got ${outputStride}`);
  return geometry;
}

/** A 3 x 3 conv without bias, padding = dilation (torchvision's conv3x3, smp's dilated version). */
export function conv3x3(
  inChannels: number,
  outChannels: number,
  stride: number,
  dilation: number,
  rng: Rng,
  weightInit: WeightInit = RESNET_CONV_INIT,
): Conv1kk {
  return new Conv1kk({ inChannels, outChannels, kernel: 3, stride, padding: dilation, dilation, bias: false, rng, weightInit });
}

/**
 * torchvision's BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + downsample(x)). `downsample`
 * is decided as torchvision builds it, from the stage's original stride (before smp's
 * `make_dilated` turns strides into dilations), so a dilated stage keeps its shortcut conv even
 * where its (width-scaled) channel counts happen to match.
 */
function basicBlock(
  inChannels: number,
  planes: number,
  stride: number,
  dilation: number,
  downsampled: boolean,
  rng: Rng,
): Residual {
  const main: Record<string, Module> = {
    conv1: conv3x3(inChannels, planes, stride, dilation, rng),
    bn1: new BatchNorm({ channels: planes }),
    relu: new ReLU(),
    conv2: conv3x3(planes, planes, 1, dilation, rng),
    bn2: new BatchNorm({ channels: planes }),
  };
  if (!downsampled) return new Residual({ main });
  const downsample = new Sequential([
    new Conv1kk({ inChannels, outChannels: planes, kernel: 1, stride, bias: false, rng, weightInit: RESNET_CONV_INIT }),
    new BatchNorm({ channels: planes }),
  ]);
  return new Residual({ main, shortcut: downsample });
}

export class ResNetEncoder extends Container implements SegmentationEncoder {
  readonly name: string;
  readonly outChannels: readonly number[];
  readonly outputStride: 8 | 16 | 32;
  private readonly conv1: Conv1kk;
  private readonly bn1: BatchNorm;
  private readonly maxpool = new MaxPool1kk({ kernel: 3, stride: 2, padding: 1 });
  private readonly stages: Sequential[];

  constructor(options: ResNetEncoderOptions) {
    super();
    const { inChannels, width, rng } = options;
    this.outputStride = options.outputStride ?? 32;
    const geometry = resnetStageGeometry(this.outputStride);
    const stem = scaledChannels(64, width);
    this.conv1 = new Conv1kk({
      inChannels,
      outChannels: stem,
      kernel: 7,
      stride: 2,
      padding: 3,
      bias: false,
      rng,
      weightInit: RESNET_CONV_INIT,
    });
    this.bn1 = new BatchNorm({ channels: stem });
    let channels = stem;
    this.stages = options.layers.map((blocks, i) => {
      const planes = scaledChannels(64 * 2 ** i, width);
      const { stride, dilation } = geometry[i] as { stride: number; dilation: number };
      const list: Module[] = [];
      for (let b = 0; b < blocks; b++) {
        // torchvision: stride != 1 (stages 2-4, strides 2 before dilation) or a channel change.
        const downsampled = b === 0 && (i > 0 || channels !== planes);
        list.push(basicBlock(channels, planes, b === 0 ? stride : 1, dilation, downsampled, rng));
        channels = planes;
      }
      return new Sequential(list);
    });
    this.outChannels = [inChannels, stem, ...this.stages.map((_, i) => scaledChannels(64 * 2 ** i, width))];
    this.name = `ResNetEncoder(in ${inChannels}, layers [${options.layers.join(', ')}], width ${width}, os ${this.outputStride})`;
  }

  children(): ReadonlyArray<readonly [string, Module]> {
    return [['conv1', this.conv1], ['bn1', this.bn1], ...this.stages.map((s, i) => [`layer${i + 1}`, s] as const)];
  }

  features(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D[] {
    const out: tf.Tensor4D[] = [x];
    let y = tf.tidy(() => tf.relu(this.bn1.apply(this.conv1.apply(x, ctx), ctx) as tf.Tensor4D));
    out.push(y);
    this.stages.forEach((stage, i) => {
      const input = y;
      y = tf.tidy(() => stage.apply(i === 0 ? (this.maxpool.apply(input, ctx) as tf.Tensor4D) : input, ctx) as tf.Tensor4D);
      out.push(y);
    });
    return out;
  }

  /** Features pass through the model's forward; a lone encoder's apply gives the deepest map. */
  apply(x: Activation, ctx: ForwardContext): Activation {
    const t = asVolume(x, this.name).tensor;
    return tf.tidy(() => this.features(t, ctx).at(-1) as tf.Tensor4D);
  }

  featuresToOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue[] {
    const out: OnnxValue[] = [onnxImage(input, this.name)];
    let y = this.childToOnnx(graph, 'conv1', this.conv1, input);
    y = this.childToOnnx(graph, 'bn1', this.bn1, y);
    y = { ...y, name: graph.addNode('Relu', [y.name]) };
    out.push(y);
    this.stages.forEach((stage, i) => {
      y = this.childToOnnx(graph, `layer${i + 1}`, stage, i === 0 ? this.maxpool.toOnnx(graph, y) : y);
      out.push(y);
    });
    return out;
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    return this.featuresToOnnx(graph, input).at(-1) as OnnxValue;
  }
}

/** ResNet-34's blocks per stage (torchvision `resnet34`). */
export const RESNET34_LAYERS = [3, 4, 6, 3] as const;
