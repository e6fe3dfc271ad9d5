// A WorkerPool test worker: sums a job's values after an optional delay, or throws its `fail` text.
import { threadId, workerData } from 'node:worker_threads';
import { serveJobs } from '../../../dist/parallel/worker.js';

serveJobs(async (job) => {
  if (job.exit !== undefined) process.exit(job.exit);
  if (job.delayMs) await new Promise((resolve) => setTimeout(resolve, job.delayMs));
  if (job.fail !== undefined) throw new Error(job.fail);
  const sum = new Float64Array([job.values.reduce((s, v) => s + v, 0) * (workerData?.scale ?? 1)]);
  return { answer: { sum, thread: threadId }, transfer: [sum.buffer] };
});
