/** Training utilities: optimisers, schedule, seeded streams, checkpoints, event stream, loop. */

// The event stream lives in @covsev/events (no TensorFlow.js); re-exported for trainers.
export {
  type CheckpointEvent,
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
  type Numbers,
  parseEventLines,
  type RunEndEvent,
  type RunErrorEvent,
  type RunStartEvent,
  readEvents,
  type StepEvent,
  type TrainEvent,
  type TrainEventInput,
  type TrainEventType,
} from '@covsev/events';
export { ADAM_DEFAULTS, Adam, type AdamOptions } from './adam.js';
export {
  CHECKPOINTS_DIR,
  type CheckpointData,
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
  loadLatestCheckpoint,
  pruneCheckpoints,
  type SaveCheckpointOptions,
  type SkippedCheckpoint,
  saveCheckpoint,
  snapshotWeights,
  writeLatestPointer,
} from './checkpoint.js';
export type { JsonObject, JsonPrimitive, JsonValue } from './json.js';
export {
  type EpochContext,
  type RunTrainingOptions,
  type RunTrainingResult,
  runTraining,
  type StepContext,
  type StepOutput,
  type TrainModel,
} from './loop.js';
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
