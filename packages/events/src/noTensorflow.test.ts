import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));
const hook = join(here, '..', 'test', 'forbid-tensorflow.mjs');
const dist = pathToFileURL(join(here, '..', 'dist', 'index.js')).href;
const repoRoot = join(here, '..', '..', '..');

/** Runs an ESM snippet in a fresh node with the hook that refuses `@tensorflow/*` imports. */
const node = (code: string) =>
  run(process.execPath, ['--import', pathToFileURL(hook).href, '--input-type=module', '-e', code], { cwd: repoRoot });

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covsev-events-light-'));
  const lines = [
    {
      type: 'run-start',
      time: 1,
      version: 1,
      backend: 'wasm',
      config: null,
      seed: 1,
      epochs: 1,
      stepsPerEpoch: 1,
      startEpoch: 0,
      startStep: 0,
      pid: 1,
    },
    { type: 'step', time: 2, epoch: 0, step: 0, globalStep: 1, losses: { total: 1 }, lr: 0.1, ms: 3 },
    { type: 'stage-end', time: 3, stage: 'preprocess', ms: 4, outputs: [] },
  ];
  await writeFile(join(dir, 'events.jsonl'), `${lines.map((l) => JSON.stringify(l)).join('\n')}\n{"type":"ep`);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('@covsev/events without TensorFlow.js', () => {
  it('reads and follows an event log in a process that cannot load @tensorflow/*', async () => {
    const path = JSON.stringify(join(dir, 'events.jsonl'));
    const { stdout } = await node(`
      const { readEvents, followEvents } = await import(${JSON.stringify(dist)});
      const events = await readEvents(${path});
      const seen = [];
      const follower = followEvents(${path}, (e) => seen.push(e.type), { intervalMs: 10 });
      await follower.poll();
      follower.close();
      const loaded = process.moduleLoadList.filter((m) => /tensorflow|tfjs/i.test(m));
      console.log(JSON.stringify({ types: events.map((e) => e.type), seen, loaded }));
    `);
    const result = JSON.parse(stdout.trim()) as { types: string[]; seen: string[]; loaded: string[] };
    expect(result.types).toEqual(['run-start', 'step', 'stage-end']);
    expect(result.seen).toEqual(['run-start', 'step', 'stage-end']);
    expect(result.loaded).toEqual([]);
  });

  it('the same hook stops a process that does load TensorFlow.js (the check can fail)', async () => {
    await expect(node(`await import('@tensorflow/tfjs');`)).rejects.toThrow(/forbidden import: @tensorflow\/tfjs/);
  });
});
