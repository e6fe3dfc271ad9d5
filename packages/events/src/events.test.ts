import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type CovsevEvent,
  EventLog,
  followEvents,
  isCovsevEvent,
  isStageEvent,
  isTrainEvent,
  parseEventLines,
  readEvents,
  type TrainEvent,
} from './events.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covsev-events-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const step = (i: number) => ({
  type: 'step' as const,
  epoch: 0,
  step: i,
  globalStep: i + 1,
  losses: { total: 1 / (i + 1), con: Number.NaN },
  lr: 1e-3,
  ms: 5,
});

describe('EventLog and readEvents', () => {
  it('writes one JSON line per event with a time, NaN as null', async () => {
    const path = join(dir, 'run', 'events.jsonl');
    const seen: TrainEvent[] = [];
    const log = EventLog.open<TrainEvent>(path, (e) => seen.push(e));
    log.emit({
      type: 'run-start',
      version: 1,
      backend: 'cpu',
      config: { a: 1 },
      seed: 3,
      epochs: 2,
      stepsPerEpoch: 1,
      startEpoch: 0,
      startStep: 0,
      pid: 1,
    });
    log.emit(step(0));
    log.emit({ type: 'run-end', epochs: 2, globalStep: 1, ms: 10 });
    log.close();
    expect(() => log.emit(step(1))).toThrow(/closed/);
    const text = await readFile(path, 'utf8');
    expect(text.split('\n')).toHaveLength(4);
    const events = await readEvents(path);
    expect(events.map((e) => e.type)).toEqual(['run-start', 'step', 'run-end']);
    expect(events).toEqual(seen.map((e) => JSON.parse(JSON.stringify(e))));
    expect(events[1]).toMatchObject({ losses: { total: 1, con: null } });
    expect(events.every((e) => typeof e.time === 'number' && e.time > 1.7e12)).toBe(true);
  });

  it('tolerates a half-written last line, and a reopened log starts on a fresh line', async () => {
    const path = join(dir, 'events.jsonl');
    const log = EventLog.open(path);
    log.emit(step(0));
    log.close();
    await appendFile(path, '{"type":"step","epoch":0,"st'); // kill -9 mid-write
    expect((await readEvents(path)).map((e) => e.type)).toEqual(['step']);
    const again = EventLog.open(path);
    again.emit(step(1));
    again.close();
    expect((await readEvents(path)).map((e) => (e as { step: number }).step)).toEqual([0, 1]);
    expect(parseEventLines(await readFile(path, 'utf8')).skipped).toBe(1);
  });

  it('parses a complete unterminated last line only at the end of a file', () => {
    const line = JSON.stringify({ ...step(2), time: 1 });
    expect(parseEventLines(line).events).toHaveLength(0);
    expect(parseEventLines(line, true).events).toHaveLength(1);
    expect(isTrainEvent({ type: 'nope', time: 1 })).toBe(false);
    expect(isTrainEvent({ type: 'epoch' })).toBe(false);
  });
});

describe('followEvents', () => {
  it('tails a file that appears later and grows in pieces, delivering each line once', async () => {
    const path = join(dir, 'events.jsonl');
    const got: CovsevEvent[] = [];
    const f = followEvents(path, (e) => got.push(e), { intervalMs: 10 });
    await f.poll();
    expect(got).toHaveLength(0);
    const lines = [0, 1, 2].map((i) => `${JSON.stringify({ ...step(i), time: i })}\n`);
    await writeFile(path, lines[0] as string);
    await f.poll();
    expect(got).toHaveLength(1);
    const half = (lines[1] as string).length >> 1;
    await appendFile(path, (lines[1] as string).slice(0, half));
    await f.poll();
    expect(got).toHaveLength(1);
    await appendFile(path, (lines[1] as string).slice(half) + (lines[2] as string));
    await f.poll();
    expect(got.map((e) => (e as { step: number }).step)).toEqual([0, 1, 2]);
    // The timer also picks up appends by itself.
    await appendFile(path, `${JSON.stringify({ type: 'run-end', epochs: 1, globalStep: 3, ms: 1, time: 9 })}\n`);
    await expect.poll(() => got.length, { timeout: 2000, interval: 20 }).toBe(4);
    // A replaced (shorter) file is read from the start.
    await writeFile(path, lines[2] as string);
    await f.poll();
    expect(got.map((e) => e.time)).toEqual([0, 1, 2, 9, 2]);
    f.close();
  });

  it('fromStart: false reports only what is appended later', async () => {
    const path = join(dir, 'events.jsonl');
    await writeFile(path, `${JSON.stringify({ ...step(0), time: 0 })}\n`);
    const got: CovsevEvent[] = [];
    const f = followEvents(path, (e) => got.push(e), { intervalMs: 10, fromStart: false });
    await f.poll();
    await appendFile(path, `${JSON.stringify({ ...step(1), time: 1 })}\n`);
    await f.poll();
    f.close();
    expect(got.map((e) => e.time)).toEqual([1]);
  });
});

describe('pipeline stage events', () => {
  it('share the stream with training events and are told apart by type', async () => {
    const path = join(dir, 'events.jsonl');
    const log = EventLog.open(path);
    log.emit({ type: 'stage-start', stage: 'preprocess', total: 2 });
    log.emit({ type: 'stage-progress', stage: 'preprocess', done: 1, total: 2, item: 'ct_scan_0', cached: true });
    log.emit({ type: 'stage-end', stage: 'preprocess', ms: 5, outputs: ['cache'], summary: { cacheHits: 1 } });
    log.emit(step(0));
    log.close();
    const events = await readEvents(path);
    expect(events.map((e) => e.type)).toEqual(['stage-start', 'stage-progress', 'stage-end', 'step']);
    expect(events.filter(isStageEvent).map((e) => e.stage)).toEqual(['preprocess', 'preprocess', 'preprocess']);
    expect(events.filter(isTrainEvent).map((e) => e.type)).toEqual(['step']);
    expect(isCovsevEvent({ type: 'stage-nonsense', time: 1 })).toBe(false);
  });
});
