/**
 * @covsev/events: the event stream of training runs and pipeline stages, readable and writable
 * without TensorFlow.js (this package imports only Node's built-ins).
 */
export {
  type CheckpointEvent,
  type CovsevEvent,
  type CovsevEventType,
  type EpochEvent,
  EVENTS_FILE,
  EVENTS_VERSION,
  type EventFollower,
  type EventInput,
  EventLog,
  type FollowOptions,
  followEvents,
  isCovsevEvent,
  isStageEvent,
  isTrainEvent,
  type Numbers,
  PIPELINE_STAGES,
  type PipelineStage,
  parseEventLines,
  type RecoveredFragment,
  type RunEndEvent,
  type RunErrorEvent,
  type RunStartEvent,
  readEventLog,
  readEvents,
  type StageEndEvent,
  type StageEvent,
  type StageProgressEvent,
  type StageStartEvent,
  type StepEvent,
  type TrainEvent,
  type TrainEventInput,
  type TrainEventType,
} from './events.js';
export type { JsonObject, JsonPrimitive, JsonValue } from './json.js';
