/**
 * The worker side of a `WorkerPool`: a worker thread serves the pool's jobs with `serveJobs`. This
 * module loads no tfjs (a pool's workers import it through `@covsev/engine/worker`), so workers
 * that do not need tensors start light.
 */
import { parentPort } from 'node:worker_threads';

/** A job as the pool posts it. */
export interface PoolRequest<Job> {
  readonly id: number;
  readonly job: Job;
}

/** A worker's answer to the job `id`, or the message of the error it threw. */
export type PoolAnswer<Answer> =
  | { readonly id: number; readonly answer: Answer }
  | { readonly id: number; readonly error: string };

/** What a handler returns: the answer, and the buffers to move (not copy) back with it. */
export interface PoolReply<Answer> {
  readonly answer: Answer;
  readonly transfer?: readonly ArrayBuffer[];
}

/**
 * Serves a `WorkerPool`'s jobs in this worker thread: each job's answer goes back with its id; a
 * job whose handler throws sends the error's message instead, and the worker goes on serving.
 */
export function serveJobs<Job, Answer>(handle: (job: Job) => PoolReply<Answer> | Promise<PoolReply<Answer>>): void {
  const port = parentPort;
  if (port === null) throw new Error('serveJobs runs in a worker thread started by a WorkerPool');
  port.on('message', async (request: PoolRequest<Job>) => {
    try {
      const reply = await handle(request.job);
      const answer: PoolAnswer<Answer> = { id: request.id, answer: reply.answer };
      port.postMessage(answer, [...(reply.transfer ?? [])]);
    } catch (error) {
      const answer: PoolAnswer<Answer> = { id: request.id, error: error instanceof Error ? error.message : String(error) };
      port.postMessage(answer);
    }
  });
}
