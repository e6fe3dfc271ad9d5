/**
 * ResNeSt (Zhang et al. 2020, "ResNeSt: Split-Attention Networks", arXiv:2004.08955) inflated to 3D
 * as the CMC network uses it (docs/method.md): every convolution is 1 x k x k, so no convolution mixes
 * neighbouring slices; depth is mixed only by the avd AvgPool3d(3, 2, 1) of the stride-2 blocks,
 * the avg_down AvgPool3d(2, 2) of their shortcuts, the split-attention global pools and the final
 * global pool. A 64 x 256 x 256 input gives a 2048 x 8 x 8 x 8 map after layer 4 (ResNeSt-50).
 *
 * Settings: radix 2, cardinality 1, bottleneck width 64, deep stem (1x7x7 stride (1,2,2) to the
 * stem width, then two 1x3x3), max-pool 1x3x3 stride (1,2,2), avd after the split-attention conv,
 * avg_down shortcuts. Names of variables follow the PyTorch twin (bench/reference/cmc_twin.py),
 * e.g. `stem.0.weight`, `layers.1.0.conv2.fc1.weight`, `layers.1.0.downsample.1.weight`.
 */

import {
  type Activation,
  AvgPool3d,
  BatchNorm,
  Container,
  Conv1kk,
  type ForwardContext,
  GlobalAvgPool3d,
  MaxPool1kk,
  type Module,
  type OnnxGraphBuilder,
  type OnnxValue,
  ReLU,
  Residual,
  Sequential,
} from '@covsev/engine';
import type { Rng } from '@covsev/io';
import { SplitAttention3d } from '../layers/splitAttention3d.js';

export interface ResNeSt3dConfig {
  /** 1 (CT) or 2 ([infection mask, CT]). */
  readonly inChannels: number;
  /** Blocks per stage; ResNeSt-50 is [3, 4, 6, 3]. */
  readonly layers: readonly [number, number, number, number];
  /** Planes of stage 1 (64 in ResNeSt-50); stage i has base * 2^i, outputs x4. */
  readonly base: number;
  /** Deep-stem width (32 in ResNeSt-50). */
  readonly stemWidth: number;
  readonly radix: number;
}

/** Block, as ResNeSt's Bottleneck with avd after the split-attention conv and avg_down. */
function bottleneck(inChannels: number, planes: number, stride: number, radix: number, rng: Rng): Residual {
  const width = planes; // bottleneck width 64 and cardinality 1: group width = planes
  const out = planes * 4;
  const main: Record<string, Module> = {
    conv1: new Conv1kk({ inChannels, outChannels: width, kernel: 1, bias: false, rng }),
    bn1: new BatchNorm({ channels: width }),
    relu: new ReLU(),
    conv2: new SplitAttention3d({ inChannels: width, channels: width, radix, rng }),
    ...(stride > 1 ? { pool: new AvgPool3d({ kernel: 3, stride, padding: 1 }) } : {}),
    conv3: new Conv1kk({ inChannels: width, outChannels: out, kernel: 1, bias: false, rng }),
    bn3: new BatchNorm({ channels: out }),
  };
  if (stride === 1 && inChannels === out) return new Residual({ main });
  const shortcut: Module[] = [
    ...(stride > 1 ? [new AvgPool3d({ kernel: stride, stride })] : []),
    new Conv1kk({ inChannels, outChannels: out, kernel: 1, bias: false, rng }),
    new BatchNorm({ channels: out }),
  ];
  return new Residual({ main, shortcut: new Sequential(shortcut) });
}

export class ResNeSt3d extends Container {
  readonly name: string;
  readonly outChannels: number;
  private readonly stem: Sequential;
  private readonly maxpool = new MaxPool1kk({ kernel: 3, stride: 2, padding: 1 });
  private readonly stages: Sequential;
  private readonly pool = new GlobalAvgPool3d();

  constructor(
    readonly config: ResNeSt3dConfig,
    rng: Rng,
  ) {
    super();
    const s = config.stemWidth;
    this.stem = new Sequential([
      new Conv1kk({ inChannels: config.inChannels, outChannels: s, kernel: 7, stride: 2, padding: 3, bias: false, rng }),
      new BatchNorm({ channels: s }),
      new ReLU(),
      new Conv1kk({ inChannels: s, outChannels: s, kernel: 3, padding: 1, bias: false, rng }),
      new BatchNorm({ channels: s }),
      new ReLU(),
      new Conv1kk({ inChannels: s, outChannels: s * 2, kernel: 3, padding: 1, bias: false, rng }),
      new BatchNorm({ channels: s * 2 }),
      new ReLU(),
    ]);
    let inChannels = s * 2;
    const stages: Sequential[] = [];
    config.layers.forEach((blocks, i) => {
      const planes = config.base * 2 ** i;
      const stride = i === 0 ? 1 : 2;
      const list: Module[] = [];
      for (let b = 0; b < blocks; b++) {
        list.push(bottleneck(inChannels, planes, b === 0 ? stride : 1, config.radix, rng));
        inChannels = planes * 4;
      }
      stages.push(new Sequential(list));
    });
    this.stages = new Sequential(stages);
    this.outChannels = inChannels;
    this.name = `ResNeSt3d(in ${config.inChannels}, layers [${config.layers.join(', ')}], base ${config.base}, stem ${s})`;
  }

  children(): ReadonlyArray<readonly [string, Module]> {
    return [
      ['stem', this.stem],
      ['layers', this.stages],
    ];
  }

  /** The layer-4 feature map (for CAM): a volume of `outChannels` channels. */
  featureMap(x: Activation, ctx: ForwardContext): Activation {
    return this.stages.apply(this.maxpool.apply(this.stem.apply(x, ctx), ctx), ctx);
  }

  /** How many stages (layers) the backbone has: 4. */
  get stageCount(): number {
    return this.stages.children().length;
  }

  /**
   * The map after stage `stage` (1-based: 1 is layer 1, `stageCount` is `featureMap`'s layer 4),
   * for Grad-CAM on an earlier, finer layer.
   */
  stageMap(x: Activation, ctx: ForwardContext, stage: number): Activation {
    this.checkStage(stage);
    let a = this.maxpool.apply(this.stem.apply(x, ctx), ctx);
    for (const [, module] of this.stages.children().slice(0, stage)) a = module.apply(a, ctx);
    return a;
  }

  /** From the map after stage `stage` (`stageMap`) to the layer-4 map: the remaining stages. */
  stagesAfter(map: Activation, ctx: ForwardContext, stage: number): Activation {
    this.checkStage(stage);
    let a = map;
    for (const [, module] of this.stages.children().slice(stage)) a = module.apply(a, ctx);
    return a;
  }

  private checkStage(stage: number): void {
    if (!(Number.isInteger(stage) && stage >= 1 && stage <= this.stageCount)) {
      throw new RangeError(`stage must be an integer in 1..${this.stageCount}, got ${stage}`);
    }
  }

  /** Pooled features `[B, outChannels]`. */
  apply(x: Activation, ctx: ForwardContext): Activation {
    return this.pool.apply(this.featureMap(x, ctx), ctx);
  }

  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    const stem = this.childToOnnx(graph, 'stem', this.stem, input);
    const layers = this.childToOnnx(graph, 'layers', this.stages, this.maxpool.toOnnx(graph, stem));
    return this.pool.toOnnx(graph, layers);
  }
}

/** Registered variants (timm-style `arch.tag` names). */
export const RESNEST3D_CONFIGS = {
  /** The paper's network (GPU users): ResNeSt-50. */
  'resnest50-3d': { layers: [3, 4, 6, 3], base: 64, stemWidth: 32, radix: 2 },
  /** Reduced depth and width for CPU demos and tests. */
  'resnest-tiny-3d': { layers: [1, 1, 1, 1], base: 16, stemWidth: 8, radix: 2 },
  /** Between the two, for medium CPU runs. */
  'resnest-small-3d': { layers: [1, 1, 1, 1], base: 32, stemWidth: 16, radix: 2 },
} as const satisfies Record<string, Omit<ResNeSt3dConfig, 'inChannels'>>;

export type ResNeSt3dName = keyof typeof RESNEST3D_CONFIGS;

/** Builds a registered variant; an unknown name lists the valid ones. */
export function createResNeSt3d(name: ResNeSt3dName, inChannels: number, rng: Rng): ResNeSt3d {
  const config = RESNEST3D_CONFIGS[name];
  if (config === undefined)
    throw new RangeError(`unknown ResNeSt3d "${name}"; known: ${Object.keys(RESNEST3D_CONFIGS).join(', ')}`);
  return new ResNeSt3d({ inChannels, ...config }, rng);
}
