import { CovsevInputError } from '@covsev/io/core';
import { describe, expect, it } from 'vitest';
import { HelpRequested, parseCliArgs, UsageError } from './args.js';
import { runCli } from './run.js';

async function run(main: (argv: readonly string[]) => unknown, argv: string[] = []) {
  const out: string[] = [];
  const err: string[] = [];
  let exitCode: number | undefined;
  const code = await runCli('thing', main, {
    argv,
    streams: { out: (s) => out.push(s), err: (s) => err.push(s) },
    exit: (c) => {
      exitCode = c;
    },
  });
  expect(exitCode).toBe(code);
  return { code, out, err };
}

describe('runCli', () => {
  it('passes argv and exits with main’s status (0 by default)', async () => {
    const seen: (readonly string[])[] = [];
    expect((await run((argv) => void seen.push(argv), ['a'])).code).toBe(0);
    expect(seen).toEqual([['a']]);
    expect((await run(async () => 3)).code).toBe(3);
  });

  it('prints the usage for --help and exits 0', async () => {
    const r = await run((argv) => parseCliArgs(argv, { usage: 'Usage: pnpm thing', options: {} }), ['--', '--help']);
    expect(r).toEqual({ code: 0, out: ['Usage: pnpm thing'], err: [] });
    expect((await run(() => Promise.reject(new HelpRequested('u')))).out).toEqual(['u']);
  });

  it('prints usage and input errors as one line with exit 2', async () => {
    expect(
      await run(() => {
        throw new UsageError('--epochs must be a positive integer, got 0');
      }),
    ).toEqual({ code: 2, out: [], err: ['pnpm thing: --epochs must be a positive integer, got 0'] });
    const r = await run(async () => {
      throw new CovsevInputError('scan.nii', 'not a NIfTI file');
    });
    expect(r).toEqual({ code: 2, out: [], err: ['pnpm thing: scan.nii: not a NIfTI file'] });
  });

  it('prints a stack for anything else with exit 1', async () => {
    const r = await run(() => {
      throw new TypeError('boom');
    });
    expect(r.code).toBe(1);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(/^pnpm thing: failed: TypeError: boom\n\s+at /);
  });
});
