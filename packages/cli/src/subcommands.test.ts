import { describe, expect, it } from 'vitest';
import { HelpRequested, UsageError } from './args.js';
import { runSubcommand } from './subcommands.js';

describe('runSubcommand', () => {
  const seen: string[][] = [];
  const commands = {
    train: async (argv: readonly string[]) => {
      seen.push([...argv]);
      return 0;
    },
    predict: async () => 3,
    cam: async () => 0,
  };

  it('runs the named subcommand with the rest of the arguments (pnpm -- skipped) and returns its status', async () => {
    expect(await runSubcommand(['--', 'train', '--epochs', '2'], commands, 'usage', () => {})).toBe(0);
    expect(seen.at(-1)).toEqual(['--epochs', '2']);
    expect(await runSubcommand(['predict'], commands, 'usage', () => {})).toBe(3);
  });

  it('refuses none or an unknown subcommand, listing the valid ones; --help is help', async () => {
    await expect(runSubcommand([], commands, 'USAGE TEXT', () => {})).rejects.toThrow(
      /^a command is required: train, predict or cam\nUSAGE TEXT$/,
    );
    await expect(runSubcommand(['fit'], commands, 'u', () => {})).rejects.toThrow(UsageError);
    await expect(runSubcommand(['fit'], commands, 'u', () => {})).rejects.toThrow(
      'unknown command "fit": expected train, predict or cam (see --help)',
    );
    // Not an inherited property of the commands object.
    await expect(runSubcommand(['toString'], commands, 'u', () => {})).rejects.toThrow(/unknown command "toString"/);
    await expect(runSubcommand(['-h'], commands, 'the usage', () => {})).rejects.toThrow(HelpRequested);
  });
});
