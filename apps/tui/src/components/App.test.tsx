import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanup, render } from 'ink-testing-library';
import { afterEach, describe, expect, it } from 'vitest';
import { CONTROL_FILE } from '../control.js';
import { classifierRun, jsonl, segmentationRun } from '../events.fixture.js';
import { trainingRunPaths } from '../run-folder.js';
import { App } from './App.js';

let dir: string | undefined;
afterEach(async () => {
  cleanup();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// CI runs every package's tests at once on 2 cores: a poll-and-render round trip that takes 50 ms
// alone has taken over 3 s there, so the wait is generous (a passing test never waits it out).
async function until(check: () => boolean, ms = 15_000): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await sleep(20);
  }
}

/** Renders at a terminal size: ink-testing-library's stdout says 100 columns; it is resized here. */
async function renderAt(element: React.ReactElement, columns: number, rows: number) {
  const r = render(element);
  // The size hook subscribes to 'resize' in an effect, which a loaded machine may run well after
  // render() returns (a fixed 10 ms wait lost the resize under CI load): wait for its listener.
  const stdout = r.stdout as unknown as NodeJS.EventEmitter;
  const before = stdout.listenerCount('resize');
  const t0 = Date.now();
  while (stdout.listenerCount('resize') <= before && Date.now() - t0 < 500) await sleep(5);
  resize(stdout, columns, rows);
  return r;
}

function resize(stdout: NodeJS.EventEmitter, columns: number, rows: number): void {
  Object.defineProperty(stdout, 'columns', { value: columns, configurable: true });
  Object.defineProperty(stdout, 'rows', { value: rows, configurable: true });
  stdout.emit('resize');
}

async function runFolder(events: readonly unknown[], truncate = false): Promise<string> {
  dir = await mkdtemp(join(tmpdir(), 'covsev-tui-app-'));
  await writeFile(join(dir, 'events.jsonl'), jsonl(events, truncate));
  return dir;
}

const live = () => true;
const visibleWidth = (frame: string) =>
  Math.max(...frame.split('\n').map((l) => l.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '').length));

describe('App', () => {
  it('at 80x24 shows header, progress, one panel and the keys, within the terminal', async () => {
    const d = await runFolder(classifierRun());
    const r = await renderAt(<App paths={trainingRunPaths(d)} intervalMs={20} alive={live} />, 80, 24);
    await until(() => (r.lastFrame() ?? '').includes('weight exp(-s2)'));
    const frame = r.lastFrame() ?? '';
    expect(frame).toContain('CMC resnest-tiny-3d');
    expect(frame).toContain('[finished]');
    expect(frame).toContain('mask + CT (2 ch)');
    expect(frame).toContain('2 gradient workers + 1 view workers');
    expect(frame).toContain('config c0ffee12');
    expect(frame).toContain('classification (weighted CE)');
    expect(frame).toContain('epoch 2/2: loss 2.2, valMacroF1 0.6'); // the Static epoch log
    expect(frame).toContain('q quit · c checkpoint');
    expect(frame).not.toContain('Confusion');
    expect(visibleWidth(frame)).toBeLessThanOrEqual(80);
  });

  it('at 160x48 shows every panel: losses, classes, memory, chart with the best epoch, stages', async () => {
    const d = await runFolder(classifierRun());
    const r = await renderAt(<App paths={trainingRunPaths(d)} intervalMs={20} alive={live} />, 160, 48);
    await until(() => (r.lastFrame() ?? '').includes('best: epoch 2'));
    const frame = r.lastFrame() ?? '';
    for (const text of [
      'Losses',
      'Classes (last epoch)',
      'Moderate F1',
      'truth\\pred',
      'Memory',
      'RSS 512.0 MiB',
      'tensors 321',
      'volumes/s 2',
      'Loss per step',
      'val Macro F1 per epoch',
      '▲ best',
      'best: epoch 2, val Macro F1 0.6 -> run/checkpoints/epoch-2',
      'Stages',
    ])
      expect(frame).toContain(text);
    expect(visibleWidth(frame)).toBeLessThanOrEqual(160);
  });

  it('a segmentation run shows the Dice loss and valIoU; a narrow terminal (40 columns) and a resize do not crash', async () => {
    const d = await runFolder(segmentationRun());
    const r = await renderAt(<App paths={trainingRunPaths(d)} intervalMs={20} alive={live} />, 40, 12);
    await until(() => (r.lastFrame() ?? '').includes('Dice'));
    // The live area fits (the epoch log above it was printed once, at the width before the resize).
    const liveArea = (r.lastFrame() ?? '').split('\n').filter((l) => !/^epoch \d+\/\d+: /.test(l));
    expect(visibleWidth(liveArea.join('\n'))).toBeLessThanOrEqual(40);
    r.stdin.write('2');
    await until(() => (r.lastFrame() ?? '').includes('too small') || (r.lastFrame() ?? '').includes('valIoU'));
    resize(r.stdout, 160, 48);
    await until(() => (r.lastFrame() ?? '').includes('val IoU per epoch'));
    expect(r.lastFrame()).toContain('segmentation');
  });

  it('a segmentation run at 160x48: validation scores instead of classes, slices/s, the lung-masked input, the best val IoU', async () => {
    const d = await runFolder(segmentationRun());
    const r = await renderAt(<App paths={trainingRunPaths(d)} intervalMs={20} alive={live} />, 160, 48);
    await until(() => (r.lastFrame() ?? '').includes('best: epoch 1'));
    const frame = r.lastFrame() ?? '';
    for (const text of [
      'unetplusplus / resnet34 (width 0.0625), lesion · segmentation · lung-masked CT (1 ch)',
      'data 3 training + 1 validation scans',
      'Dice loss',
      'Validation (epoch 1)',
      'best val IoU 0.31 at epoch 1',
      'slices/s 40',
      'val IoU per epoch',
      'best: epoch 1, val IoU 0.31 -> seg/checkpoints/epoch-1',
    ])
      expect(frame).toContain(text);
    expect(frame).toMatch(/val IoU\s+0\.31 █/);
    expect(frame).toMatch(/val mIoU\s+0\.62 █/);
    expect(frame).toMatch(/val Dice\s+0\.47 █/);
    expect(frame).toMatch(/^ +0\.31 ┼─+/m); // one epoch: a flat line labelled with its value
    for (const text of ['Classes', 'volumes/s', 'no per-class report']) expect(frame).not.toContain(text);
    expect(visibleWidth(frame)).toBeLessThanOrEqual(160);
  });

  it('a segmentation run at 80x24: the third tab is Validation, and its help names it', async () => {
    const d = await runFolder(segmentationRun());
    const r = await renderAt(<App paths={trainingRunPaths(d)} intervalMs={20} alive={live} />, 80, 24);
    await until(() => (r.lastFrame() ?? '').includes('Dice loss'));
    expect(r.lastFrame()).toContain(' 3 Validation ');
    r.stdin.write('3');
    await until(() => (r.lastFrame() ?? '').includes('Validation (epoch 1)'));
    r.stdin.write('?');
    await until(() => (r.lastFrame() ?? '').includes('ask the trainer for a checkpoint'));
    // The help's own list of panels (a line of its own; the tabs are one line).
    expect(r.lastFrame()).toMatch(/^ {2}3 Validation\s*$/m);
    expect(r.lastFrame()).not.toContain('Classes');
  });

  it('follows a growing log (poll <= 200 ms): a truncated line and an unknown event do not stop it', async () => {
    const run = classifierRun();
    const d = await runFolder(run.slice(0, 2), false);
    await appendFile(join(d, 'events.jsonl'), '{"type":"step","time":1,"epo');
    const r = await renderAt(<App paths={trainingRunPaths(d)} intervalMs={50} alive={live} />, 80, 24);
    await until(() => (r.lastFrame() ?? '').includes('global step 1'));
    expect(r.lastFrame()).toContain('[running]');
    // The writer finishes the line differently (a reopened log cut the fragment off) and goes on.
    await writeFile(join(d, 'events.jsonl'), jsonl([...run.slice(0, 2), { type: 'mystery', time: 2 }, ...run.slice(2, 4)]));
    await until(() => (r.lastFrame() ?? '').includes('global step 3'));
  });

  it('keys: c writes a checkpoint command, ? shows help, tab switches panels, q sends stop and quits on the answer', async () => {
    const d = await runFolder(classifierRun().slice(0, 3));
    const r = await renderAt(<App paths={trainingRunPaths(d)} intervalMs={20} alive={live} />, 80, 24);
    await until(() => (r.lastFrame() ?? '').includes('global step 2'));
    r.stdin.write('c');
    await until(() => (r.lastFrame() ?? '').includes('checkpoint sent'));
    r.stdin.write('?');
    await until(() => (r.lastFrame() ?? '').includes('ask the trainer for a checkpoint'));
    r.stdin.write('?');
    r.stdin.write('\t');
    await until(() => (r.lastFrame() ?? '').includes('Loss per step'));
    r.stdin.write('q');
    await until(() => (r.lastFrame() ?? '').includes('stop sent'));
    const lines = (await readFile(join(d, CONTROL_FILE), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.command)).toEqual(['checkpoint', 'stop']);
    expect(typeof lines[1].id).toBe('string');
    expect(typeof lines[1].time).toBe('number');
    expect(r.lastFrame()).toContain('[stopping]');
    // The trainer answers; the app shows the run stopped and quits. Ink rewrites its last frame on
    // exit when CI is set (is-in-ci), so the frames are searched, and quitting is seen as the App's
    // tree unmounting: its size hook's resize listener goes away.
    const stdout = r.stdout as unknown as NodeJS.EventEmitter;
    expect(stdout.listenerCount('resize')).toBeGreaterThan(0);
    const seen = r.frames.length;
    await appendFile(
      join(d, 'events.jsonl'),
      jsonl([
        { type: 'control', time: 9, id: lines[1].id, command: 'stop', status: 'done' },
        { type: 'run-end', time: 10, epochs: 0, globalStep: 2, ms: 10, stopped: true },
      ]),
    );
    await until(() => r.frames.slice(seen).some((f) => f.includes('[stopped]')));
    await until(() => stdout.listenerCount('resize') === 0);
  });

  it('q on a finished run quits at once, writing nothing', async () => {
    const d = await runFolder(classifierRun());
    const r = await renderAt(<App paths={trainingRunPaths(d)} intervalMs={20} alive={live} />, 80, 24);
    await until(() => (r.lastFrame() ?? '').includes('[finished]'));
    r.stdin.write('q');
    await sleep(100);
    await expect(readFile(join(d, CONTROL_FILE), 'utf8')).rejects.toThrow();
    await mkdir(d, { recursive: true });
  });
});
