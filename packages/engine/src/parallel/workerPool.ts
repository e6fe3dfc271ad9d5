/**
 * A pool of worker threads started from one module (which serves jobs with `serveJobs`, from
 * `@covsev/engine/worker`): jobs are shared round-robin, answers come back in the jobs' order, a
 * failed job is rejected with the worker's name and error, and the pool goes on after it. A
 * worker that crashes or exits fails the pool: every waiting job and every later one is rejected;
 * `close` does the same and stops the workers.
 */
import { Worker } from 'node:worker_threads';
import type { PoolAnswer, PoolRequest } from './worker.js';

export interface WorkerPoolOptions {
  /** Names the pool's workers in errors ("view" gives "view worker 0: ..."). */
  readonly name: string;
  /** Given to every worker (`workerData`). */
  readonly workerData?: unknown;
}

export class WorkerPool<Job, Answer> {
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (a: Answer) => void; reject: (e: Error) => void; worker: number }>();
  private failure: Error | undefined;

  private constructor(
    private readonly workers: readonly Worker[],
    readonly name: string,
  ) {
    for (const [i, w] of workers.entries()) {
      w.on('message', (answer: PoolAnswer<Answer>) => this.settle(answer));
      w.on('error', (e) => this.fail(new Error(`${name} worker ${i} failed: ${e.message}`, { cause: e })));
      w.on('exit', (code) => {
        if (code !== 0) this.fail(new Error(`${name} worker ${i} exited with code ${code}`));
      });
    }
  }

  /** Starts `workers` threads running the module at `url`. */
  static start<Job, Answer>(url: URL, workers: number, options: WorkerPoolOptions): WorkerPool<Job, Answer> {
    if (!Number.isInteger(workers) || workers < 1)
      throw new RangeError(`${options.name} workers must be a whole number >= 1, got ${workers}`);
    const init = options.workerData === undefined ? {} : { workerData: options.workerData };
    return new WorkerPool<Job, Answer>(
      Array.from({ length: workers }, () => new Worker(url, init)),
      options.name,
    );
  }

  get size(): number {
    return this.workers.length;
  }

  /** One job's answer, from the next worker in turn; `transfer` moves those buffers to it. */
  run(job: Job, transfer: readonly ArrayBuffer[] = []): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      if (this.failure !== undefined) return reject(this.failure);
      const id = this.next++;
      const worker = id % this.workers.length;
      this.waiting.set(id, { resolve, reject, worker });
      const request: PoolRequest<Job> = { id, job };
      (this.workers[worker] as Worker).postMessage(request, [...transfer]);
    });
  }

  /** The answers of `jobs`, in the jobs' order (shared round-robin over the workers). */
  runAll(jobs: readonly Job[]): Promise<Answer[]> {
    return Promise.all(jobs.map((job) => this.run(job)));
  }

  private settle(answer: PoolAnswer<Answer>): void {
    const pending = this.waiting.get(answer.id);
    if (pending === undefined) return;
    this.waiting.delete(answer.id);
    if ('error' in answer) pending.reject(new Error(`${this.name} worker ${pending.worker}: ${answer.error}`));
    else pending.resolve(answer.answer);
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const { reject } of this.waiting.values()) reject(error);
    this.waiting.clear();
  }

  /** Stops the workers; jobs still awaited, and any run after, are rejected. */
  async close(): Promise<void> {
    this.fail(new Error(`the ${this.name} pool is closed`));
    for (const w of this.workers) w.removeAllListeners();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
