/** Training utilities: optimisers, schedule, seeded streams, checkpoints, event stream, loop. */

// The event stream lives in @covsev/events (no TensorFlow.js); re-exported for trainers.
export {
  type BestEpoch,
  type CheckpointEvent,
  type ClassReportSummary,
  CONTROL_FILE,
  type ControlCommand,
  type ControlEvent,
  type ControlLine,
  type CovsevEvent,
  type EpochEvent,
  EVENTS_FILE,
  EVENTS_VERSION,
  type EventFollower,
  type EventInput,
  EventLog,
  type FollowOptions,
  followEvents,
  isTrainEvent,
  type MemoryUsage,
  type Numbers,
  parseEventLines,
  type RunEndEvent,
  type RunErrorEvent,
  type RunStartEvent,
  readEvents,
  type StepEvent,
  sendControl,
  type TrainEvent,
  type TrainEventInput,
  type TrainEventType,
} from '@covsev/events';
export { ADAM_DEFAULTS, Adam, type AdamOptions } from './adam.js';
export {
  BEST_DIR,
  CHECKPOINTS_DIR,
  type CheckpointChoice,
  type CheckpointData,
  checkpointName,
  checkpointsDir,
  checkWeightsMatch,
  cleanCrashLeftovers,
  findIntactCheckpoint,
  type IntactCheckpoint,
  LATEST_FILE,
  type LoadCheckpointOptions,
  type LoadedCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  loadChosenCheckpoint,
  loadLatestCheckpoint,
  parseCheckpointName,
  pruneCheckpoints,
  type SaveCheckpointOptions,
  type SkippedCheckpoint,
  saveBestCheckpoint,
  saveCheckpoint,
  snapshotWeights,
  writeLatestPointer,
} from './checkpoint.js';
export { ControlReader, type ControlRequest } from './control.js';
export { canonicalJson, type JsonObject, type JsonPrimitive, type JsonValue } from './json.js';
export {
  type EpochContext,
  type EvaluateResult,
  type MonitorOptions,
  type RunTrainingOptions,
  type RunTrainingResult,
  runTraining,
  type StepContext,
  type StepOutput,
  type StepResult,
  type TrainerStateHook,
  type TrainModel,
} from './loop.js';
export { assertFiniteLosses, NonFiniteLossError, nonFiniteTerms, type StepPlace } from './nonFinite.js';
export { NamedOptimizer, type Optimizer, type OptimizerKind, type OptimizerState, type ParamState } from './optimizer.js';
export {
  type ResumeInfo,
  type ResumeOrStartOptions,
  restoreCheckpoint,
  resumeOrStart,
  type SkippedCheckpointInfo,
} from './resume.js';
export { type LrSchedule, milestoneEpochs, type StepScheduleOptions, stepSchedule } from './schedule.js';
export {
  missingRngStreams,
  RNG_STREAMS,
  type RngStates,
  type RngStreamName,
  type RngStreams,
  restoreRngs,
  rngStates,
  seedEverything,
  tfSeed,
} from './seed.js';
export { SGD, SGD_DEFAULTS, type SGDOptions } from './sgd.js';
export {
  decodeTensors,
  encodeTensors,
  type StoredDtype,
  type TensorData,
  type TensorEntry,
  type TensorManifest,
} from './tensorFile.js';
export { type NamedVariables, namedGrads, variableEntries } from './variables.js';
