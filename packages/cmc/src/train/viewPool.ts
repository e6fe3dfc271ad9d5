/**
 * The classifier's augmented views (docs/method.md, augmentation A), made on this thread or by a pool
 * of worker threads that runs ahead of training.
 *
 * Every draw is made on the main thread, in the order serial training makes them, from the
 * `augment` stream; only the deterministic resampling (`applyViewParams`) runs in the workers. The
 * views are therefore the same bytes whether or not a pool makes them, and a resumed run stays
 * reproducible.
 */
import { WorkerPool } from '@covsev/engine';
import { fromWire, toWire, type View, type ViewAnswer, type ViewJob, type ViewRequest } from './views.js';

/** Worker threads applying drawn views (the engine's `WorkerPool`); `apply` resolves with the views in the jobs' order. */
export class ViewPool {
  private constructor(private readonly pool: WorkerPool<ViewRequest, ViewAnswer>) {}

  /** Starts `workers` threads (the compiled worker, from src/train in tests and dist/train alike). */
  static start(workers: number): ViewPool {
    const url = new URL('../../dist/train/viewWorker.js', import.meta.url);
    return new ViewPool(WorkerPool.start<ViewRequest, ViewAnswer>(url, workers, { name: 'view' }));
  }

  get size(): number {
    return this.pool.size;
  }

  /** The views of `jobs`, shared round-robin over the workers. */
  async apply(jobs: readonly ViewJob[]): Promise<View[]> {
    const answers = await this.pool.runAll(
      jobs.map((job) => ({
        image: toWire(job.image),
        ...(job.mask === undefined ? {} : { mask: toWire(job.mask) }),
        params: job.params,
      })),
    );
    return answers.map((answer) => {
      const image = fromWire(answer.image, 'uint8-windowed');
      return answer.mask === undefined ? { image } : { image, mask: fromWire(answer.mask, 'label') };
    });
  }

  /** Stops the workers; views still awaited are rejected. */
  close(): Promise<void> {
    return this.pool.close();
  }
}
