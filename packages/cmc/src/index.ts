export * from './cam/index.js';
export type { CmcScan } from './input/cmcScan.js';
export { CMC_FULL_SHAPE, CMC_INTENSITY, scansToInput, scansToNcdhw } from './input/modelInput.js';
export { SplitAttention3d, type SplitAttention3dOptions } from './layers/splitAttention3d.js';
export * from './losses/index.js';
export { CmcNetwork, type CmcNetworkConfig, isBackbone } from './models/cmcNetwork.js';
export { inspectResNeStWeights, RESNEST50_MAP, resnestKey, resnestSourceKey } from './models/pretrained.js';
export { createResNeSt3d, RESNEST3D_CONFIGS, ResNeSt3d, type ResNeSt3dConfig, type ResNeSt3dName } from './models/resnest3d.js';
export { cmcOnnxSession, releaseCmcOnnxSessions } from './predict/onnxSession.js';
export {
  argmax,
  CMC_TTA_DEFAULTS,
  type CmcEngine,
  type CmcPredictOptions,
  drawTtaViews,
  predictCmc,
  predictCmcTta,
  ttaRng,
} from './predict/predict.js';
export { backbonePasses, type CmcBatch, checkBatch, mapPasses, type Passes } from './train/batch.js';
export { CmcDataParallel, type DataParallelOptions } from './train/dataParallel.js';
export { type CmcGradientOptions, type CmcGradients, cmcGradients, headGradients } from './train/gradients.js';
export type { GradientWorkers } from './train/gradientWorkers.js';
export {
  type CmcObjectiveOptions,
  lossFromFeatures,
  type ObjectiveTerms,
  type PassFeatures,
  stepMixup,
} from './train/objective.js';
export {
  type CmcRunConfig,
  type CmcTraining,
  cmcNetworkOptionsSchema,
  cmcRunConfigSchema,
  cmcTrainingSchema,
  pretrainedInitSchema,
  resNeSt3dConfigSchema,
} from './train/runConfig.js';
export {
  classCounts,
  describeCmcModel,
  recalibrateCmcStatistics,
  type TrainCmcOptions,
  type TrainCmcResult,
  trainCmc,
} from './train/trainer.js';
export { type CmcStepLosses, type CmcStepOptions, cmcTrainStep, stepEventLosses } from './train/trainStep.js';
export {
  CMC_VARIANT_SPECS,
  CMC_VARIANTS,
  type CmcVariant,
  type CmcVariantSpec,
  cmcVariantSpec,
  DEFAULT_CMC_VARIANT,
  resolveCmcVariant,
  storesCmcVariant,
} from './train/variants.js';
export { ViewPool } from './train/viewPool.js';
export { applyView, drawView, type View, type ViewJob } from './train/views.js';
