import { HelpRequested, UsageError } from './args.js';

/** One subcommand of a command line (`pnpm cmc -- train ...`): its arguments in, an exit status out. */
export type Subcommand = (argv: readonly string[], print: (line: string) => void) => Promise<number>;

/** "a, b or c". */
function listNames(names: readonly string[]): string {
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
}

/**
 * Runs the subcommand `argv[0]` names (pnpm's `--` skipped) with the rest of the arguments.
 * Throws `HelpRequested(usage)` for `--help` / `-h`, and a `UsageError` naming the valid
 * subcommands when none or an unknown one is given.
 */
export async function runSubcommand(
  argv: readonly string[],
  commands: Readonly<Record<string, Subcommand>>,
  usage: string,
  print: (line: string) => void,
): Promise<number> {
  const args = argv[0] === '--' ? argv.slice(1) : argv;
  const [command, ...rest] = args;
  const names = listNames(Object.keys(commands));
  if (command === undefined) throw new UsageError(`a command is required: ${names}\n${usage}`);
  if (command === '--help' || command === '-h') throw new HelpRequested(usage);
  const run = Object.hasOwn(commands, command) ? commands[command] : undefined;
  if (run === undefined) throw new UsageError(`unknown command "${command}": expected ${names} (see --help)`);
  return run(rest, print);
}
