/** Training machinery any model can use: micro-batches, heap fitting, worker pools, data-parallel exchange. */
export { assignValues, flatSpans, readValues } from './flatVariables.js';
export {
  awaitPhaseChange,
  ERROR_BYTES,
  failStep,
  handOver,
  readError,
  StepAborted,
  setPhase,
  WorkerPhase,
  type WorkerPhaseValue,
} from './handshake.js';
export { fitMicroBatch, type MicroBatchModel, trainingBytesPerVolume } from './heapFit.js';
export { assignMicroBatches, type MicroBatch, planMicroBatches, sliceVolumes } from './microBatch.js';
export {
  chainRunningStatistics,
  type StatisticsPart,
  type StatisticUpdate,
  statisticUpdates,
} from './runningStatistics.js';
export type { PoolAnswer, PoolReply, PoolRequest } from './worker.js';
export { WorkerPool, type WorkerPoolOptions } from './workerPool.js';
