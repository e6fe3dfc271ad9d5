/**
 * Tests only: a `TrainChild` that runs the request in this process (`runTrainRequest`, the code
 * the forked `child.ts` runs), for `main`'s `start` dependency: vitest runs the TypeScript
 * sources, and the forked child is the compiled `dist/train/child.js`.
 */
import type { TrainRequest } from './protocol.js';
import { runTrainRequest } from './run.js';
import type { TrainChild, TrainMessage } from './start.js';

export function startInProcess(request: TrainRequest): TrainChild {
  const history: TrainMessage[] = [];
  const listeners = new Set<(message: TrainMessage) => void>();
  const emit = (message: TrainMessage): void => {
    history.push(message);
    for (const l of listeners) l(message);
  };
  const exited = runTrainRequest(request, (m) => {
    if (m.type === 'note' || m.type === 'started') emit(m);
  }).then(
    () => ({ code: 0 }),
    (error: unknown) => ({ code: 1, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }),
  );
  void exited.then((result) => emit({ type: 'exit', ...result }));
  return {
    subscribe(listener) {
      for (const m of history) listener(m);
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    exited,
    kill() {},
  };
}
