export { AvgPool3d, type AvgPool3dOptions, avgPoolGradCountsPadding } from './avgPool3d.js';
export { BatchNorm, type BatchNormOptions } from './batchNorm.js';
export { Conv1kk, type Conv1kkOptions, hwioToOihw } from './conv1kk.js';
export { Flatten } from './flatten.js';
export { GlobalAvgPool3d } from './globalAvgPool3d.js';
export { initValues, TORCH_DEFAULT_WEIGHT_INIT, torchDefaultBias, type WeightInit } from './init.js';
export { Linear, type LinearOptions } from './linear.js';
export { MaxPool1kk, type MaxPool1kkOptions, maxPoolGradHandlesNegatives } from './maxPool1kk.js';
export { ReLU } from './relu.js';
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
