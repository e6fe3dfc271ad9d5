export { AvgPool3d, type AvgPool3dOptions, avgPoolGradCountsPadding } from './avgPool3d.js';
export { BatchNorm, type BatchNormOptions, batchNormLayers, recalibrateBatchNorm } from './batchNorm.js';
export { concatChannels, concatOnnx } from './concat.js';
export { Conv1kk, type Conv1kkOptions, dilatedConv2d, hwioToOihw } from './conv1kk.js';
export { Flatten } from './flatten.js';
export { GlobalAvgPool3d } from './globalAvgPool3d.js';
export { Sigmoid, Softmax2d } from './heads.js';
export { initValues, TORCH_DEFAULT_WEIGHT_INIT, torchDefaultBias, type WeightInit } from './init.js';
export { Linear, type LinearOptions } from './linear.js';
export { MaxPool1kk, type MaxPool1kkOptions, maxPoolGradHandlesNegatives } from './maxPool1kk.js';
export { AvgPool2d, type AvgPool2dOptions, GlobalAvgPool2d } from './pool2d.js';
export { ReLU } from './relu.js';
export {
  interpolationTaps,
  resizeAdjoint,
  resizeOnnx,
  Upsample2d,
  type Upsample2dOptions,
  type UpsampleMode,
  upsample2d,
} from './upsample2d.js';
export {
  type Activation,
  asTensor,
  asVolume,
  isVolume5,
  mapSlices,
  ncdhwToSlices,
  slicesToNcdhw,
  tensorOf,
  type Volume5,
  volume,
  volumeFromNcdhw,
  volumeToNcdhw,
} from './volume.js';
