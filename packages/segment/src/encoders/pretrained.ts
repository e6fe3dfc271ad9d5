/**
 * Name maps from torchvision's ImageNet checkpoints onto covsev's segmentation encoders
 * (docs/method.md, "Segmentation": the paper starts both encoders from ImageNet weights), for
 * `loadPretrained(model.encoder, path, { map })` from `@covsev/engine`.
 *
 * covsev's encoders already carry torchvision's names (`conv1.weight`, `layer1.0.bn1.running_mean`,
 * `features.denseblock1.denselayer1.norm1.weight`), so the maps only drop the ImageNet heads
 * (`fc.*`, `classifier.*`) and, for DenseNet, rename the pre-0.4 keys torchvision itself rewrites on
 * load (`denselayer1.norm.1.weight` -> `denselayer1.norm1.weight`). A whole smp model holds the
 * encoder under `encoder.`: load into the encoder module, not the model. The stem (`conv1` /
 * `features.conv0`) is RGB; covsev's CT encoders take 1 channel, so it follows `stemInit`.
 */
import type { WeightMap } from '@covsev/engine';
import type { EncoderName } from '../models/contract.js';

/** torchvision's `resnet34` (e.g. `resnet34-b627a593.pth` converted to safetensors). */
export const TORCHVISION_RESNET34_MAP: WeightMap = {
  name: 'torchvision-resnet34',
  source: "torchvision.models.resnet34's state_dict (IMAGENET1K_V1)",
  rename: (key) => (key.startsWith('fc.') ? null : key),
  stem: 'conv1.weight',
};

/** torchvision's pre-0.4 DenseNet keys (its `_load_state_dict` pattern). */
const LEGACY_DENSELAYER = /^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$/;

/** torchvision's `densenet121` (e.g. `densenet121-a639ec97.pth` converted to safetensors). */
export const TORCHVISION_DENSENET121_MAP: WeightMap = {
  name: 'torchvision-densenet121',
  source: "torchvision.models.densenet121's state_dict (IMAGENET1K_V1)",
  rename: (key) => {
    if (key.startsWith('classifier.')) return null;
    const legacy = LEGACY_DENSELAYER.exec(key);
    return legacy ? `${legacy[1]}${legacy[2]}` : key;
  },
  stem: 'features.conv0.weight',
};

/** The map for each registered encoder. */
export const ENCODER_WEIGHT_MAPS: Record<EncoderName, WeightMap> = {
  resnet34: TORCHVISION_RESNET34_MAP,
  densenet121: TORCHVISION_DENSENET121_MAP,
};
