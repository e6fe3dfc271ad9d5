/**
 * @covsev/pipeline: covsev's stages over real cohorts, each reading and writing files under a
 * run folder and emitting events (`@covsev/events`). The apps (`pnpm demo`, `pnpm submit`) are
 * thin shells over these functions.
 */
export {
  type ClassifiedCohort,
  type ClassifierOutcome,
  type ClassifyCohortOptions,
  classifyCohort,
  type TrainAndPredictInputs,
  trainAndPredict,
} from './classifyCohort.js';
export {
  ENSEMBLE_MODEL,
  type GradeCohortOptions,
  type GradedClassifierSpec,
  type GradedCohort,
  type GradedModel,
  gradeCohort,
  INVOLVEMENT_MEMBER_SOFTNESS,
  INVOLVEMENT_MODEL,
} from './gradeCohort.js';
export {
  type GradedScans,
  type GradeScansOptions,
  gradeScans,
  readTrainedRunPlan,
  type TrainedRunPlan,
} from './gradeScans.js';
export { categoryOf, classIdOf, NUM_CLASSES, predictionRow } from './grades.js';
export { MASK_ASPECT_TOLERANCE, maskOnGrid, readMaskOnGrid, readMasksOnGrid, scanFolders, scanShape } from './masks.js';
export { type ClassifierRunConfig, classifierRunSchema, parseClassifierRun } from './runConfig.js';
export { type ModelFolder, type RunFolder, runFolder, SPLITS, type Split } from './runFolder.js';
export { beginStage, type StageContext, type StageRecorder } from './stage.js';
export {
  type EnsembleStageOptions,
  ensembleStage,
  type InvolvementStageOptions,
  involvementStage,
} from './stages/ensemble.js';
export {
  COV19_LABEL_FILES,
  type Cohort,
  type CohortScan,
  type LoadCohortOptions,
  loadCohort,
  splitScans,
} from './stages/loadCohort.js';
export {
  type PredictInputs,
  type PredictOptions,
  type PredictTta,
  partialSettingsPath,
  partialTablePath,
  predictScans,
  scorePredictions,
} from './stages/predict.js';
export { type Preprocessed, type PreprocessOptions, preprocessScans } from './stages/preprocess.js';
export { type SegmentCohortOptions, type SegmentedCohort, segmentCohort, segmentedInvolvement } from './stages/segment.js';
export {
  type EnvShard,
  type MergeOptions,
  mergePredictionParts,
  partTablePath,
  type ShardSpec,
  shardFromEnv,
  shardOf,
} from './stages/shard.js';
export {
  type CategoryCounts,
  checkChallengeSubmission,
  emptyClassWarnings,
  listTestScans,
  PREDICTION_TABLE_FILE,
  type Submission,
  type SubmissionCheck,
  type SubmissionCheckOptions,
  type SubmissionOptions,
  writeChallengeSubmission,
} from './stages/submission.js';
export {
  type ClassifierTraining,
  classifierScans,
  describeRunStart,
  type TrainClassifierInputs,
  type TrainedClassifier,
  trainClassifier,
} from './stages/trainClassifier.js';
export {
  type CheckpointChoice,
  type LoadedClassifier,
  type LoadTrainedClassifierOptions,
  loadTrainedClassifier,
  readClassifierGrid,
} from './trained.js';
