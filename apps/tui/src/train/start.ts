/**
 * `train cmc` and `train seg`: the options, the child's request, and the forked training child
 * (`child.ts`). The dashboard only follows the run folder's event logs and listens to the child's
 * notes and exit.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ClassifierRunConfig } from '@covsev/pipeline';
import type {
  ChildMessage,
  ClassifierTrainRequest,
  SegmentationRunConfig,
  SegmentationTrainRequest,
  TrainRequest,
} from './protocol.js';

export type TrainMessage =
  | { readonly type: 'note'; readonly note: string }
  | { readonly type: 'started' }
  | { readonly type: 'exit'; readonly code: number; readonly error?: string };

/** The running training child as the dashboard sees it. */
export interface TrainChild {
  /** Listens to its notes and its exit; returns the unsubscribe. Messages before a subscription are replayed. */
  subscribe(listener: (message: TrainMessage) => void): () => void;
  /** Resolves with its exit (code, error message). */
  readonly exited: Promise<{ code: number; error?: string }>;
  /** Ends it (SIGTERM). */
  kill(): void;
}

/** The compiled child script beside this module (dist/train/child.js). */
export const CHILD_SCRIPT = fileURLToPath(new URL('./child.js', import.meta.url));

/** Forks `script` and sends it the request. The child's output is kept (last lines) for its error. */
export function startTraining(request: TrainRequest, script = CHILD_SCRIPT): TrainChild {
  const child: ChildProcess = fork(script, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const history: TrainMessage[] = [];
  const listeners = new Set<(message: TrainMessage) => void>();
  const emit = (message: TrainMessage): void => {
    history.push(message);
    if (history.length > 50) history.splice(0, history.length - 50);
    for (const l of listeners) l(message);
  };
  let failure: string | undefined;
  const output: string[] = [];
  const keep = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') output.push(line);
    if (output.length > 20) output.splice(0, output.length - 20);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('message', (raw: unknown) => {
    const m = raw as ChildMessage;
    if (m.type === 'note') emit({ type: 'note', note: m.note });
    else if (m.type === 'started') emit({ type: 'started' });
    else if (m.type === 'failed') failure = m.message;
  });
  const exited = new Promise<{ code: number; error?: string }>((resolve) => {
    child.on('error', (error) => {
      failure ??= error.message;
    });
    child.on('exit', (code, signal) => {
      const status = code ?? (signal === null ? 1 : 128);
      let error = failure;
      if (error === undefined && status !== 0)
        error = `training process exited with ${signal ?? `code ${status}`}${output.length > 0 ? `: ${output.slice(-3).join(' | ')}` : ''}`;
      const result = error === undefined ? { code: status } : { code: status, error };
      emit({ type: 'exit', ...result });
      resolve(result);
    });
  });
  child.send({ type: 'start', request });
  return {
    subscribe(listener) {
      for (const m of history) listener(m);
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    exited,
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}

export interface TrainOptions {
  readonly cohort?: string;
  readonly phantom?: number;
  readonly run: string;
  readonly grid: readonly [number, number, number];
  readonly backbone: string;
  readonly epochs: number;
  readonly batch: number;
  readonly lr?: number;
  readonly seed: number;
  readonly workers: number;
}

/** The classifier's request for the child: a phantom cohort goes to `<run>/cohort`. */
export function trainRequest(options: TrainOptions): ClassifierTrainRequest {
  const cohort = options.cohort ?? `${options.run}/cohort`;
  const config = {
    cohort,
    run: options.run,
    grid: options.grid,
    training: {
      network: { backbone: options.backbone },
      inChannels: 1,
      epochs: options.epochs,
      batchSize: options.batch,
      seed: options.seed,
      workers: options.workers,
      ...(options.lr === undefined ? {} : { lr: options.lr }),
    },
  } as unknown as ClassifierRunConfig;
  return options.phantom === undefined ? { config } : { config, phantom: options.phantom };
}

/** `train seg`'s options: the run's config, with `cohort` left out for a phantom cohort. */
export type SegTrainOptions = Omit<SegmentationRunConfig, 'cohort'> & {
  readonly cohort?: string;
  readonly phantom?: number;
};

/** A segmentation model's request for the child: a phantom cohort goes to `<run>/cohort`. */
export function segTrainRequest(options: SegTrainOptions): SegmentationTrainRequest {
  const { phantom, cohort, ...rest } = options;
  const seg: SegmentationRunConfig = { ...rest, cohort: cohort ?? `${options.run}/cohort` };
  return phantom === undefined ? { model: 'seg', seg } : { model: 'seg', seg, phantom };
}
