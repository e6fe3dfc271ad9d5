/**
 * The training process `pnpm tui -- train cmc` forks, so the dashboard never waits on a step: it
 * takes one message `{ type: 'start', request }` from its parent, writes a phantom cohort first
 * when asked (`@covsev/phantom`), and runs the classifier's pipeline (`@covsev/pipeline`'s
 * `classifyCohort`, config checked by `parseClassifierRun`). Events go to the run folder's logs,
 * which the dashboard follows; the parent hears `note`, `started` and `done` / `failed`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TRUTH_FILE, type TruthManifest, writeCohort } from '@covsev/phantom';
import { classifyCohort, parseClassifierRun } from '@covsev/pipeline';
import type { ChildMessage, TrainRequest } from './protocol.js';

function send(message: ChildMessage): void {
  process.send?.(message);
}

async function phantomCohort(out: string, scans: number, seed: number): Promise<void> {
  try {
    const truth = JSON.parse(await readFile(join(out, TRUTH_FILE), 'utf8')) as TruthManifest;
    if (truth.layout === 'cov19-ct-db' && truth.seed === seed && truth.scans.length === scans) {
      send({ type: 'note', note: `phantom cohort: ${scans} scans already in ${out}, reused` });
      return;
    }
  } catch {
    // none yet
  }
  await writeCohort({
    layout: 'cov19-ct-db',
    out,
    scans,
    seed,
    slices: [24, 40],
    rows: 128,
    cols: 128,
    onProgress: (p) => send({ type: 'note', note: `phantom cohort: scan ${p.done}/${p.total} written to ${out}` }),
  });
}

export async function runTrainRequest(request: TrainRequest): Promise<void> {
  const config = parseClassifierRun(request.config, 'the command line');
  if (request.phantom !== undefined) await phantomCohort(config.cohort, request.phantom, config.training.seed);
  send({ type: 'started' });
  const result = await classifyCohort(config);
  send({
    type: 'note',
    note: result.stopped
      ? 'stopped with a checkpoint: the same command resumes it'
      : `done: val Macro F1 ${result.valMacroF1.toFixed(3)}`,
  });
}

process.once('message', (message: unknown) => {
  const m = message as { type?: string; request?: TrainRequest };
  if (m.type !== 'start' || m.request === undefined) return;
  // Exit once the last message is out: worker threads or timers must not keep a finished run alive.
  const finish = (message: ChildMessage, code: number): void => {
    if (process.send === undefined) process.exit(code);
    else process.send(message, () => process.exit(code));
  };
  runTrainRequest(m.request).then(
    () => finish({ type: 'done' }, 0),
    (error: unknown) =>
      finish({ type: 'failed', message: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }, 1),
  );
});
