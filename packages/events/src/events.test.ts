import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CONTROL_FILE,
  type ControlEvent,
  type ControlLine,
  type CovsevEvent,
  EventLog,
  followEvents,
  isCovsevEvent,
  isStageEvent,
  isTrainEvent,
  parseEventLines,
  readEventLog,
  readEvents,
  sendControl,
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
    // The fragment is cut off and kept aside, not left in the log.
    expect(parseEventLines(await readFile(path, 'utf8')).skipped).toBe(0);
  });

  it('on open, cuts a half-written last line off into <log>.crash and reports it', async () => {
    const path = join(dir, 'events.jsonl');
    const log = EventLog.open(path);
    log.emit(step(0));
    log.close();
    const clean = await readFile(path, 'utf8');
    await appendFile(path, '{"type":"step","epoch":0,"st'); // kill -9 mid-write
    const again = EventLog.open(path);
    expect(again.recovered).toEqual({ bytes: 28, crashFile: `${path}.crash` });
    expect(await readFile(path, 'utf8')).toBe(clean);
    again.emit(step(1));
    again.close();
    const text = await readFile(path, 'utf8');
    expect(
      text
        .split('\n')
        .filter((l) => l !== '')
        .every((l) => isCovsevEvent(JSON.parse(l))),
    ).toBe(true);
    const crash = (await readFile(`${path}.crash`, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(crash).toEqual([{ time: expect.any(Number), offset: clean.length, fragment: '{"type":"step","epoch":0,"st' }]);
    // A clean log, or one whose last line is a whole event without its newline, loses nothing.
    expect(EventLog.open(path).recovered).toBeUndefined();
    await appendFile(path, JSON.stringify({ ...step(2), time: 1 }));
    const whole = EventLog.open(path);
    expect(whole.recovered).toBeUndefined();
    whole.close();
    expect((await readEvents(path)).map((e) => (e as { step: number }).step)).toEqual([0, 1, 2]);
  });

  it('readEventLog counts mangled lines and reports an unfinished last line', async () => {
    const path = join(dir, 'events.jsonl');
    const line = (i: number) => `${JSON.stringify({ ...step(i), time: i })}\n`;
    await writeFile(path, `${line(0)}{"type":"st\n${line(1)}{"type":"step","ep`);
    const read = await readEventLog(path);
    expect(read.events.map((e) => e.time)).toEqual([0, 1]);
    expect(read.skipped).toBe(1);
    expect(read.fragment).toBe('{"type":"step","ep');
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

  it('delivers every event before and after a crash fragment that a reopened log cuts off', async () => {
    const path = join(dir, 'events.jsonl');
    const got: CovsevEvent[] = [];
    const skipped: string[] = [];
    const f = followEvents(path, (e) => got.push(e), { intervalMs: 60_000, onSkipped: (line) => skipped.push(line) });
    const first = EventLog.open(path);
    first.emit(step(0));
    first.emit(step(1));
    first.close();
    await appendFile(path, '{"type":"epoch","epoch":0,"metr'); // kill -9 mid-write
    await f.poll();
    expect(got.map((e) => (e as { step: number }).step)).toEqual([0, 1]);
    // The writer reopens (cutting the fragment off) and writes more than the fragment was long.
    const second = EventLog.open(path);
    for (const i of [2, 3, 4]) second.emit(step(i));
    await f.poll();
    expect(got.map((e) => (e as { step: number }).step)).toEqual([0, 1, 2, 3, 4]);
    // ... and once more, where the follower only sees the file after the cut, shorter than before.
    second.close();
    await appendFile(path, '{"type":"step","epoch":0,"step":5,"globalStep":6,"losses":{"total":1,"con":null},"lr":0.001');
    await f.poll();
    EventLog.open(path).close();
    await f.poll();
    const third = EventLog.open(path);
    third.emit(step(5));
    third.close();
    await f.poll();
    expect(got.map((e) => (e as { step: number }).step)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(f.skipped).toBe(2);
    expect(skipped).toHaveLength(2);
    expect(skipped[0]).toBe('{"type":"epoch","epoch":0,"metr');
    // A fragment that is, byte for byte, the start of what the reopened writer wrote over it
    // cannot be told from a line still being written: the events come out right, uncounted.
    await appendFile(path, '{"type":"step","epoch":0,"step":6,"glo');
    await f.poll();
    const fourth = EventLog.open(path);
    fourth.emit(step(6));
    fourth.close();
    await f.poll();
    expect(got.map((e) => (e as { step: number }).step)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(f.skipped).toBe(2);
    f.close();
  });

  it('counts and skips a complete line that is not an event, and goes on', async () => {
    const path = join(dir, 'events.jsonl');
    await writeFile(
      path,
      `${JSON.stringify({ ...step(0), time: 0 })}\n{"type":"st\n${JSON.stringify({ ...step(1), time: 1 })}\n`,
    );
    const got: CovsevEvent[] = [];
    const f = followEvents(path, (e) => got.push(e), { intervalMs: 60_000 });
    await f.poll();
    f.close();
    expect(got.map((e) => e.time)).toEqual([0, 1]);
    expect(f.skipped).toBe(1);
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

describe('control channel', () => {
  it('sendControl appends one line per command with a fresh id and the time; control answers are training events', async () => {
    const before = Date.now();
    const a = await sendControl(dir, 'checkpoint');
    const b = await sendControl(dir, 'stop');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[0-9a-f-]{36}$/);
    const lines = (await readFile(join(dir, CONTROL_FILE), 'utf8')).split('\n');
    expect(lines.at(-1)).toBe('');
    const sent = lines.slice(0, -1).map((l) => JSON.parse(l) as ControlLine);
    expect(sent).toEqual([
      { id: a, command: 'checkpoint', time: expect.any(Number) },
      { id: b, command: 'stop', time: expect.any(Number) },
    ]);
    expect(sent[0]?.time).toBeGreaterThanOrEqual(before);
    await expect(sendControl(dir, 'pause' as 'stop')).rejects.toThrow(/unknown control command "pause"/);

    const answer: ControlEvent = { type: 'control', time: 1, id: a, command: 'checkpoint', status: 'done', path: '/x' };
    expect(isTrainEvent(answer)).toBe(true);
    expect(isCovsevEvent(answer)).toBe(true);
    expect(isStageEvent(answer)).toBe(false);
    expect(parseEventLines(`${JSON.stringify(answer)}\n`).events).toEqual([answer]);
  });
});
