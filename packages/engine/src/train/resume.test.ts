// THE resume test: a child process trains, is killed with SIGKILL mid-epoch, and a second child
// resumes it. The result must equal an uninterrupted run bit for bit, the event log must show
// the resume, and only the interrupted epoch may be run twice.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CovsevEvent, type EpochEvent, followEvents, readEvents, type StepEvent, type TrainEvent } from '@covsev/events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadLatestCheckpoint } from './checkpoint.js';

const here = dirname(fileURLToPath(import.meta.url));
const engineRoot = join(here, '..', '..');
const require = createRequire(import.meta.url);
const viteNode = join(
  dirname(require.resolve('vite-node/package.json', { paths: [dirname(require.resolve('vitest/package.json'))] })),
  'vite-node.mjs',
);

const EPOCHS = 6;
const STEPS = 4;

interface Child {
  process: ChildProcess;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>;
}

const children = new Set<Child>();

function trainChild(args: Record<string, unknown>): Child {
  const child = spawn(
    process.execPath,
    [viteNode, '--config', join(here, 'testing', 'vite-node.config.mjs'), join(here, 'testing', 'trainChild.mjs')],
    {
      cwd: engineRoot,
      env: { ...process.env, COVSEV_TINY_RUN: JSON.stringify({ epochs: EPOCHS, stepsPerEpoch: STEPS, ...args }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, output }));
  });
  const handle = { process: child, exit };
  children.add(handle);
  void exit.finally(() => children.delete(handle));
  return handle;
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'covsev-resume-'));
});
afterAll(async () => {
  // A failed assertion can leave children running: stop them before removing their folders.
  for (const c of children) c.process.kill('SIGKILL');
  await Promise.allSettled([...children].map((c) => c.exit));
  await rm(root, { recursive: true, force: true });
});

describe('kill -9 mid-epoch, then resume', () => {
  it('ends with exactly the weights of an uninterrupted run, redoing only the interrupted epoch', async () => {
    const runA = join(root, 'uninterrupted');
    const runB = join(root, 'interrupted');

    // The uninterrupted reference and the run to be killed, side by side.
    const reference = trainChild({ runDir: runA });
    const victim = trainChild({ runDir: runB, sleepMs: 150 });
    let exited = false;
    void victim.exit.then(() => {
      exited = true;
    });
    // Poll the victim's log; once two epochs are checkpointed and the latest event is a step in
    // the middle of an epoch (at least one step done and one to go), kill it. Deciding on the
    // latest event, not on the first match, keeps the kill mid-epoch however late a poll runs.
    const seen: CovsevEvent[] = [];
    const follower = followEvents(join(runB, 'events.jsonl'), (e) => seen.push(e), { intervalMs: 60_000 });
    let killedAt: StepEvent | undefined;
    while (!exited && killedAt === undefined) {
      await follower.poll();
      const last = seen.at(-1);
      if (last?.type === 'step' && last.epoch >= 2 && last.step >= 1 && last.step <= STEPS - 2) {
        killedAt = last;
        victim.process.kill('SIGKILL');
      } else {
        await new Promise((resolve) => setTimeout(resolve, 15));
      }
    }
    const [a, killed] = await Promise.all([reference.exit, victim.exit]);
    follower.close();
    expect(a.code, a.output).toBe(0);
    expect(killed.signal, killed.output).toBe('SIGKILL');
    expect(killedAt).toBeDefined();
    const k = (killedAt as StepEvent).epoch; // the interrupted epoch (0-based) = epochs checkpointed
    expect((await loadLatestCheckpoint(runB))?.epoch).toBe(k);

    const before = await readEvents(join(runB, 'events.jsonl'));
    expect(before.some((e) => e.type === 'run-end' || e.type === 'error')).toBe(false);
    const partialSteps = before.filter((e): e is StepEvent => e.type === 'step' && e.epoch === k).length;
    expect(partialSteps).toBeGreaterThanOrEqual(2);
    expect(partialSteps).toBeLessThan(STEPS);

    // Resume.
    const resumed = await trainChild({ runDir: runB }).exit;
    expect(resumed.code, resumed.output).toBe(0);
    expect(resumed.output).toContain(`"resumedFrom":${JSON.stringify(join(runB, 'checkpoints', `epoch-${k}`))}`);

    // Same final state as the uninterrupted run, bit for bit.
    const finalA = await loadLatestCheckpoint(runA);
    const finalB = await loadLatestCheckpoint(runB);
    if (finalA === undefined || finalB === undefined) throw new Error('no final checkpoint');
    expect([finalA.epoch, finalB.epoch]).toEqual([EPOCHS, EPOCHS]);
    expect(finalB.globalStep).toBe(finalA.globalStep);
    expect([...finalB.weights.keys()]).toEqual([...finalA.weights.keys()]);
    for (const [name, t] of finalA.weights) {
      const u = finalB.weights.get(name);
      expect(Buffer.from((u as typeof t).data.buffer).equals(Buffer.from(t.data.buffer)), `weights ${name}`).toBe(true);
    }
    expect(finalB.optimizer).toEqual(finalA.optimizer);
    expect(finalB.rng).toEqual(finalA.rng);

    // The event log shows the resume, and only epoch k ran twice.
    const eventsA = await readEvents(join(runA, 'events.jsonl'));
    const events = await readEvents(join(runB, 'events.jsonl'));
    const starts = events.filter((e) => e.type === 'run-start');
    expect(starts).toHaveLength(2);
    expect(starts[0]).not.toHaveProperty('resumedFrom');
    expect(starts[1]).toMatchObject({
      startEpoch: k,
      startStep: k * STEPS,
      resumedFrom: join(runB, 'checkpoints', `epoch-${k}`),
    });
    const afterResume = events.slice(events.indexOf(starts[1] as TrainEvent));
    const resumedSteps = afterResume.filter((e): e is StepEvent => e.type === 'step');
    expect(resumedSteps).toHaveLength((EPOCHS - k) * STEPS);
    expect(resumedSteps[0]).toMatchObject({ epoch: k, step: 0, globalStep: k * STEPS + 1 });
    const epochsOf = (list: CovsevEvent[]) => list.filter((e): e is EpochEvent => e.type === 'epoch');
    expect(epochsOf(events).map((e) => e.epoch)).toEqual([...Array(EPOCHS).keys()]);
    expect(events.filter((e) => e.type === 'checkpoint').map((e) => (e as { epoch: number }).epoch)).toEqual(
      [...Array(EPOCHS).keys()].map((e) => e + 1),
    );
    expect(events.at(-1)?.type).toBe('run-end');
    // Identical per-epoch losses and metrics to the uninterrupted run.
    expect(epochsOf(events).map((e) => e.metrics)).toEqual(epochsOf(eventsA).map((e) => e.metrics));
    const stepLosses = (list: CovsevEvent[]) =>
      list.filter((e): e is StepEvent => e.type === 'step').map((e) => [e.globalStep, e.losses.total]);
    expect(stepLosses(afterResume)).toEqual(stepLosses(eventsA).slice(k * STEPS));
    const stateA = JSON.parse(await readFile(join(finalA.path, 'state.json'), 'utf8'));
    expect(stateA.extra).toEqual(finalB.extra);
  });
});
