/**
 * `runCli(name, main)`: the one place a covsev command line turns errors into exit statuses.
 * Usage mistakes and bad input data print `pnpm <name>: <message>` and exit 2; `--help` prints
 * the usage and exits 0; anything else is a bug and prints its stack with exit status 1.
 */
import { isInputError } from '@covsev/io/core';
import { HelpRequested, UsageError } from './args.js';

/** Where a command line writes (injectable for tests). */
export interface CliStreams {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

export interface RunCliOptions {
  /** Default `process.argv.slice(2)`. */
  readonly argv?: readonly string[];
  /** Default stdout / stderr, a newline after each text. */
  readonly streams?: CliStreams;
  /** Default sets `process.exitCode` (pending output is still flushed). */
  readonly exit?: (code: number) => void;
}

/** A command's body: resolves to its exit status, or to anything else for 0. */
export type CliMain = (argv: readonly string[]) => unknown;

export const processStreams: CliStreams = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

/** True for errors that are the user's to fix: print the message alone, exit 2. */
export function isUsageOrInputError(error: unknown): error is Error {
  return error instanceof UsageError || isInputError(error);
}

/**
 * Runs `main(argv)` and sets the exit status: its return value (default 0), 0 after help, 2 for a
 * `UsageError` or `CovsevInputError`, 1 for anything else. Resolves to that status.
 */
export async function runCli(name: string, main: CliMain, options: RunCliOptions = {}): Promise<number> {
  const streams = options.streams ?? processStreams;
  const exit =
    options.exit ??
    ((code: number) => {
      process.exitCode = code;
    });
  let code: number;
  try {
    const status = await main(options.argv ?? process.argv.slice(2));
    code = typeof status === 'number' ? status : 0;
  } catch (error) {
    if (error instanceof HelpRequested) {
      streams.out(error.usage);
      code = 0;
    } else if (isUsageOrInputError(error)) {
      streams.err(`pnpm ${name}: ${error.message}`);
      code = 2;
    } else {
      streams.err(`pnpm ${name}: failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      code = 1;
    }
  }
  exit(code);
  return code;
}
