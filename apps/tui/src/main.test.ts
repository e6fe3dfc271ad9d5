import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '@covsev/cli';
import { afterEach, describe, expect, it } from 'vitest';
import { classifierRun, failedRun, jsonl } from './events.fixture.js';
import { main } from './main.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

async function cli(argv: string[], deps: Parameters<typeof main>[1] = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(
    'tui',
    (a) => main(a, { print: (l) => out.push(l), printError: (l) => err.push(l), interactive: false, ...deps }),
    {
      argv,
      streams: { out: (t) => out.push(t), err: (t) => err.push(t) },
      exit: () => {},
    },
  );
  return { code, out, err };
}

describe('pnpm tui', () => {
  it('train seg is refused: stage 1 is not built yet (exit 2)', async () => {
    const { code, err } = await cli(['--', 'train', 'seg']);
    expect(code).toBe(2);
    expect(err[0]).toMatch(/^pnpm tui: train seg: stage 1 \(segmentation, packages\/segment\) is not built yet/);
  });

  it('refuses bad train options and misplaced ones with usage errors', async () => {
    expect((await cli(['train', 'cmc'])).err[0]).toContain('needs one of --cohort DIR');
    expect((await cli(['train', 'cmc', '--phantom', '8', '--grid', '16x64'])).err[0]).toContain('--grid expects DxHxW');
    expect((await cli(['train', 'cmc', '--phantom', '8', '--backbone', 'nope', '--run', '/tmp/x'])).err[0]).toContain(
      'network.backbone',
    );
    expect((await cli(['follow', 'x', '--epochs', '2'])).err[0]).toContain('--epochs belongs to "train cmc"');
    expect((await cli(['follow'])).code).toBe(2);
  });

  it('lists the runs newest first with their state when not a terminal', async () => {
    dir = await mkdtemp(join(tmpdir(), 'covsev-tui-list-'));
    await mkdir(join(dir, 'runs', 'a'), { recursive: true });
    await mkdir(join(dir, 'runs', 'b', 'runs', 'cmc'), { recursive: true });
    await writeFile(join(dir, 'runs', 'a', 'events.jsonl'), jsonl(failedRun()));
    await new Promise((r) => setTimeout(r, 20));
    await writeFile(join(dir, 'runs', 'b', 'events.jsonl'), jsonl([{ type: 'stage-start', time: 1, stage: 'load-cohort' }]));
    await writeFile(join(dir, 'runs', 'b', 'runs', 'cmc', 'events.jsonl'), jsonl(classifierRun(process.pid)));
    const { code, out } = await cli([], { cwd: dir, env: {} });
    expect(code).toBe(0);
    expect(out).toHaveLength(2);
    expect(out[0]).toMatch(/runs\/b {2}finished, 2\/2 epochs, best valMacroF1 0\.6 \(epoch 2\)/);
    expect(out[1]).toMatch(/runs\/a {2}failed, 0\/2 epochs/);
  });

  it('follow --plain prints a finished run and exits', async () => {
    dir = await mkdtemp(join(tmpdir(), 'covsev-tui-follow-'));
    await writeFile(join(dir, 'events.jsonl'), jsonl(classifierRun()));
    const { code, out } = await cli(['follow', dir, '--plain', '--every', '3']);
    expect(code).toBe(0);
    expect(out[0]).toMatch(/^run-start: CMC resnest-tiny-3d/);
    expect(out.at(-1)).toMatch(/^run finished: 2 epochs, 6 steps/);
  });
});
