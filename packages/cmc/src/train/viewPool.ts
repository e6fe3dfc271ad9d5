/**
 * The classifier's augmented views (method.md, augmentation A), made on this thread or by a pool
 * of worker threads that runs ahead of training.
 *
 * Every draw is made on the main thread, in the order serial training makes them, from the
 * `augment` stream; only the deterministic resampling (`applyViewParams`) runs in the workers. The
 * views are therefore the same bytes whether or not a pool makes them, and a resumed run stays
 * reproducible.
 */
import { Worker } from 'node:worker_threads';
import { applyImageView, applyViewParams, drawViewParams, makeVolume, type Rng, type ViewParams, type Volume } from '@covsev/io';

/** One scan's view: the source volumes and the drawn parameters. */
export interface ViewJob {
  readonly image: Volume<Uint8Array>;
  readonly mask?: Volume<Uint8Array>;
  readonly params: ViewParams;
}

/** An augmented view: image, and mask where the scan has one. */
export interface View {
  readonly image: Volume<Uint8Array>;
  readonly mask?: Volume<Uint8Array>;
}

/** Draws one view of a scan (crop, rotation, contrast) from `rng`. */
export function drawView(scan: { image: Volume<Uint8Array>; mask?: Volume<Uint8Array> }, rng: Rng): ViewJob {
  const [, rows, cols] = scan.image.shape;
  const params = drawViewParams(rng, rows, cols);
  return scan.mask === undefined ? { image: scan.image, params } : { image: scan.image, mask: scan.mask, params };
}

/** Applies a drawn view (what the pool's workers run). */
export function applyView(job: ViewJob): View {
  if (job.mask === undefined) return { image: applyImageView(job.image, job.params) };
  return applyViewParams({ image: job.image, mask: job.mask }, job.params);
}

/** The wire form of a view job and its answer. */
interface WireVolume {
  readonly data: Uint8Array;
  readonly shape: readonly [number, number, number];
}
export interface ViewRequest {
  readonly id: number;
  readonly image: WireVolume;
  readonly mask?: WireVolume;
  readonly params: ViewParams;
}
export interface ViewAnswer {
  readonly id: number;
  readonly image?: WireVolume;
  readonly mask?: WireVolume;
  readonly error?: string;
}

export function fromWire(v: WireVolume, intensity: 'uint8-windowed' | 'label'): Volume<Uint8Array> {
  return makeVolume({ data: v.data, shape: v.shape, intensity });
}

/** Worker threads applying drawn views; `apply` resolves with the views in the jobs' order. */
export class ViewPool {
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (v: View) => void; reject: (e: Error) => void }>();
  private failure: Error | undefined;

  private constructor(private readonly workers: readonly Worker[]) {
    for (const [i, w] of workers.entries()) {
      w.on('message', (answer: ViewAnswer) => this.settle(answer, i));
      w.on('error', (e) => this.fail(new Error(`view worker ${i} failed: ${e.message}`, { cause: e })));
      w.on('exit', (code) => {
        if (code !== 0) this.fail(new Error(`view worker ${i} exited with code ${code}`));
      });
    }
  }

  /** Starts `workers` threads (the compiled worker, from src/train in tests and dist/train alike). */
  static start(workers: number): ViewPool {
    if (!Number.isInteger(workers) || workers < 1)
      throw new RangeError(`view workers must be a whole number >= 1, got ${workers}`);
    const url = new URL('../../dist/train/viewWorker.js', import.meta.url);
    return new ViewPool(Array.from({ length: workers }, () => new Worker(url)));
  }

  get size(): number {
    return this.workers.length;
  }

  /** The views of `jobs`, shared round-robin over the workers. */
  apply(jobs: readonly ViewJob[]): Promise<View[]> {
    return Promise.all(
      jobs.map(
        (job) =>
          new Promise<View>((resolve, reject) => {
            if (this.failure !== undefined) return reject(this.failure);
            const id = this.next++;
            this.waiting.set(id, { resolve, reject });
            const wire = (v: Volume<Uint8Array>): WireVolume => ({ data: v.data, shape: v.shape });
            const request: ViewRequest = {
              id,
              image: wire(job.image),
              ...(job.mask === undefined ? {} : { mask: wire(job.mask) }),
              params: job.params,
            };
            (this.workers[id % this.workers.length] as Worker).postMessage(request);
          }),
      ),
    );
  }

  private settle(answer: ViewAnswer, worker: number): void {
    const pending = this.waiting.get(answer.id);
    if (pending === undefined) return;
    this.waiting.delete(answer.id);
    if (answer.error !== undefined || answer.image === undefined) {
      pending.reject(new Error(`view worker ${worker}: ${answer.error ?? 'no image'}`));
      return;
    }
    const image = fromWire(answer.image, 'uint8-windowed');
    pending.resolve(answer.mask === undefined ? { image } : { image, mask: fromWire(answer.mask, 'label') });
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const { reject } of this.waiting.values()) reject(error);
    this.waiting.clear();
  }

  /** Stops the workers; views still awaited are rejected. */
  async close(): Promise<void> {
    this.fail(new Error('the view pool is closed'));
    for (const w of this.workers) w.removeAllListeners();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
