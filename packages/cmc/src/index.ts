export { SplitAttention3d, type SplitAttention3dOptions } from './layers/splitAttention3d.js';
export * from './losses/index.js';
export { CmcNetwork, type CmcNetworkConfig } from './models/cmcNetwork.js';
export { createResNeSt3d, RESNEST3D_CONFIGS, ResNeSt3d, type ResNeSt3dConfig, type ResNeSt3dName } from './models/resnest3d.js';
export { assignMicroBatches, CmcDataParallel, type DataParallelOptions } from './train/dataParallel.js';
export { type CmcScan, predictCmc, scansToInput, type TrainCmcOptions, trainCmc } from './train/trainer.js';
export {
  backbonePasses,
  type CmcBatch,
  type CmcGradients,
  type CmcStepLosses,
  type CmcStepOptions,
  cmcGradients,
  cmcTrainStep,
  fitMicroBatch,
  lossFromFeatures,
  type MicroBatch,
  mixVolumes,
  type PassFeatures,
  planMicroBatches,
  sliceVolumes,
  trainingBytesPerVolume,
} from './train/trainStep.js';
export { applyView, drawView, type View, type ViewJob, ViewPool } from './train/viewPool.js';
