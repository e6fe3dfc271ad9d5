/**
 * The name map from a 2D ResNeSt-50 ImageNet checkpoint onto covsev's 3D ResNeSt (the CMC
 * backbone), for `loadPretrained(network.backbone, path, { map: RESNEST50_MAP })` from
 * `@covsev/engine`. Two sources share these names: the ResNeSt release
 * (zhanghang1989/ResNeSt, `resnest/torch/models/{resnet,splat}.py`: `resnest50-528c19ca.pth`)
 * and timm's `resnest50d` (`ResNestBottleneck` + `SplitAttn`, whose `bn2` / `act2` are parameterless
 * Identities, and `downsample_avg` = `Sequential(pool or Identity, conv, bn)`).
 *
 * | checkpoint                                   | covsev                                   |
 * | -------------------------------------------- | ---------------------------------------- |
 * | `conv1.0` (3 x 3 stride 2, RGB)              | `stem.0` (7 x 7 stride 2, 1 or 2 channels: `stemInit`) |
 * | `conv1.1`, `conv1.3`, `conv1.4`, `conv1.6`   | `stem.1`, `stem.3`, `stem.4`, `stem.6`   |
 * | `bn1`                                        | `stem.7`                                 |
 * | `layerK.J.{conv1,bn1,conv3,bn3}`             | `layers.(K-1).J.` the same               |
 * | `layerK.J.conv2.{conv,bn0,fc1,bn1,fc2}`      | `layers.(K-1).J.conv2.` the same (fc1/fc2 are 1 x 1 convs, covsev's Linear) |
 * | `layer1.0.downsample.{1,2}`                  | `layers.0.0.downsample.{0,1}` (covsev has no stride-1 pool there) |
 * | `layerK.0.downsample.{1,2}`, K > 1           | `layers.(K-1).0.downsample.{1,2}`        |
 * | `fc.*`                                       | dropped (the CMC heads are new)          |
 *
 * Every 2D kernel is inflated to 1 x k x k (`inflate`). The release's stem conv is 3 x 3 where
 * covsev's (the paper's) is 7 x 7, so only `stemInit: 'mean'` (centred) or the default random stem
 * fit it.
 */
import { disposeModule, inspectWeights, type StemInit, type WeightMap, type WeightsInspection } from '@covsev/engine';
import { Rng } from '@covsev/io';
import { createResNeSt3d, type ResNeSt3dName } from './resnest3d.js';

const STEM: Record<string, string> = {
  'conv1.0': 'stem.0',
  'conv1.1': 'stem.1',
  'conv1.3': 'stem.3',
  'conv1.4': 'stem.4',
  'conv1.6': 'stem.6',
  bn1: 'stem.7',
};

/** One checkpoint key to covsev's name (null: dropped); unknown keys pass through, for the strict load to report. */
export function resnestKey(key: string): string | null {
  if (key.startsWith('fc.')) return null;
  const dot = key.lastIndexOf('.');
  const stem = STEM[key.slice(0, dot)];
  if (stem) return `${stem}${key.slice(dot)}`;
  const m = /^layer(\d+)\.(\d+)\.(.*)$/.exec(key);
  if (!m) return key;
  const [, layer, block, rest] = m as unknown as [string, string, string, string];
  let tail = rest;
  const down = /^downsample\.(\d+)\.(.*)$/.exec(rest);
  if (down && layer === '1' && block === '0') tail = `downsample.${Number(down[1]) - 1}.${down[2]}`;
  return `layers.${Number(layer) - 1}.${block}.${tail}`;
}

const STEM_SOURCE = Object.fromEntries(Object.entries(STEM).map(([from, to]) => [to, from]));

/**
 * covsev's backbone name to the release's (the inverse of {@link resnestKey}): a covsev backbone
 * written as a release-named checkpoint (tests, fixtures; `torchStateDict` gives the 2D kernels).
 */
export function resnestSourceKey(name: string): string {
  const dot = name.lastIndexOf('.');
  const stem = STEM_SOURCE[name.slice(0, dot)];
  if (stem) return `${stem}${name.slice(dot)}`;
  const m = /^layers\.(\d+)\.(\d+)\.(.*)$/.exec(name);
  if (!m) return name;
  const [, layer, block, rest] = m as unknown as [string, string, string, string];
  const down = /^downsample\.(\d+)\.(.*)$/.exec(rest);
  const tail = down && layer === '0' && block === '0' ? `downsample.${Number(down[1]) + 1}.${down[2]}` : rest;
  return `layer${Number(layer) + 1}.${block}.${tail}`;
}

/** ResNeSt-50 (release or timm `resnest50d`) onto `ResNeSt3d` (any depth / width with these names). */
export const RESNEST50_MAP: WeightMap = {
  name: 'resnest50',
  source: "the ResNeSt release's resnest50 or timm's resnest50d state_dict",
  rename: resnestKey,
  stem: 'stem.0.weight',
  inflate: true,
};

/**
 * What a ResNeSt-50 checkpoint holds and where each tensor goes in covsev's 3D ResNeSt (the
 * `pnpm cmc -- inspect` command): engine's `inspectWeights` on a throwaway backbone.
 */
export async function inspectResNeStWeights(
  path: string,
  options: { readonly backbone: ResNeSt3dName; readonly inChannels: 1 | 2; readonly stemInit?: StemInit },
): Promise<WeightsInspection> {
  const backbone = createResNeSt3d(options.backbone, options.inChannels, Rng.fromSeed(0));
  try {
    return await inspectWeights(backbone, path, RESNEST50_MAP, options.stemInit ?? 'random');
  } finally {
    disposeModule(backbone);
  }
}
