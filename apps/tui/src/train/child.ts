/**
 * The training process `pnpm tui -- train cmc|seg` forks, so the dashboard never waits on a step:
 * it takes one message `{ type: 'start', request }` from its parent and runs it (`run.ts`: a
 * phantom cohort first when asked, then the classifier's pipeline or a segmentation model).
 * Events go to the run folder's logs, which the dashboard follows; the parent hears `note`,
 * `started` and `done` / `failed`.
 */
import type { ChildMessage, TrainRequest } from './protocol.js';
import { runTrainRequest } from './run.js';

function send(message: ChildMessage): void {
  process.send?.(message);
}

process.once('message', (message: unknown) => {
  const m = message as { type?: string; request?: TrainRequest };
  if (m.type !== 'start' || m.request === undefined) return;
  // Exit once the last message is out: worker threads or timers must not keep a finished run alive.
  const finish = (message: ChildMessage, code: number): void => {
    if (process.send === undefined) process.exit(code);
    else process.send(message, () => process.exit(code));
  };
  runTrainRequest(m.request, send).then(
    () => finish({ type: 'done' }, 0),
    (error: unknown) =>
      finish({ type: 'failed', message: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }, 1),
  );
});
