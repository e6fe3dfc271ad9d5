/**
 * A thin layer over node:util's parseArgs shared by every covsev command line: it skips the `--`
 * that `pnpm <script> -- ...` passes through, answers `--help` / `-h`, accepts negative numbers as
 * option values (so a checker can say what is wrong with them), and turns every mistake into a
 * one-line `UsageError` that names the option.
 */
import { parseArgs } from 'node:util';

/** A mistake on the command line: printed as one line, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Thrown by `parseCliArgs` for `--help` / `-h`; `runCli` prints `usage` and exits 0. */
export class HelpRequested extends Error {
  override readonly name = 'HelpRequested';
  constructor(readonly usage: string) {
    super('help requested');
  }
}

/** Turns the text of `flag` (e.g. `--scans`) into a value, or throws a `UsageError` naming it. */
export type ValueCheck<T> = (text: string, flag: string) => T;

export interface StringOption<T = string> {
  readonly type: 'string';
  readonly short?: string;
  /** Checks and converts the text; without one the value stays a string. */
  readonly parse?: ValueCheck<T>;
  /** The value when the option is absent (not checked). */
  readonly default?: T;
  /** Absent or blank is a usage error. */
  readonly required?: boolean;
  /** The placeholder in messages, e.g. `DIR` gives "--out DIR is required". */
  readonly valueName?: string;
}

export interface BooleanOption {
  readonly type: 'boolean';
  readonly short?: string;
}

export type CliOption = StringOption<unknown> | BooleanOption;

export interface CliSpec<O extends Record<string, CliOption>> {
  /** Printed for `--help`. */
  readonly usage: string;
  /** The options, by long name without dashes (`help` is added). */
  readonly options: O;
  /** Whether bare words are allowed (default false). */
  readonly positionals?: boolean;
}

type Present<S> = S extends { readonly default: unknown } ? true : S extends { readonly required: true } ? true : false;

/** The parsed type of one option. */
export type OptionValue<S> = S extends BooleanOption
  ? boolean
  : S extends { readonly parse: ValueCheck<infer T> }
    ? Present<S> extends true
      ? T
      : T | undefined
    : Present<S> extends true
      ? string
      : string | undefined;

export type CliValues<O> = { -readonly [K in keyof O]: OptionValue<O[K]> };

export interface ParsedCli<O> {
  readonly values: CliValues<O>;
  readonly positionals: string[];
}

/**
 * Parses `argv` (without node and the script) against `spec`. Throws `HelpRequested` for
 * `--help` / `-h` and `UsageError` for anything wrong.
 */
export function parseCliArgs<const O extends Record<string, CliOption>>(argv: readonly string[], spec: CliSpec<O>): ParsedCli<O> {
  // `pnpm name -- --flag ...` may pass the `--` through.
  const raw = argv[0] === '--' ? argv.slice(1) : argv.slice();
  const entries = Object.entries(spec.options) as [string, CliOption][];
  const stringFlags = new Set<string>();
  for (const [name, option] of entries) {
    if (option.type !== 'string') continue;
    stringFlags.add(`--${name}`);
    if (option.short !== undefined) stringFlags.add(`-${option.short}`);
  }
  // parseArgs calls `--seed -4` ambiguous; pass it as `--seed=-4` so the checker can say what is wrong.
  const args: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const arg = raw[i] as string;
    const next = raw[i + 1];
    if (arg === '--') {
      args.push(...raw.slice(i));
      break;
    }
    if (stringFlags.has(arg) && next !== undefined && /^-[\d.]/.test(next)) {
      args.push(arg.startsWith('--') ? `${arg}=${next}` : `${arg}${next}`);
      i++;
    } else {
      args.push(arg);
    }
  }
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, option] of entries) {
    options[name] = option.short === undefined ? { type: option.type } : { type: option.type, short: option.short };
  }
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: spec.positionals === true }) as typeof parsed;
  } catch (error) {
    const message = (error as Error).message.split('\n')[0] ?? 'bad arguments';
    throw new UsageError(`${message} (see --help)`);
  }
  if (parsed.values.help === true) throw new HelpRequested(spec.usage);
  const values: Record<string, unknown> = {};
  for (const [name, option] of entries) {
    const given = parsed.values[name];
    if (option.type === 'boolean') {
      values[name] = given === true;
      continue;
    }
    const flag = `--${name}`;
    if (typeof given !== 'string' || (option.required === true && given.trim() === '')) {
      if (option.required === true) {
        const placeholder = option.valueName === undefined ? '' : ` ${option.valueName}`;
        throw new UsageError(`${flag}${placeholder} is required (see --help)`);
      }
      values[name] = option.default;
      continue;
    }
    values[name] = option.parse === undefined ? given : option.parse(given, flag);
  }
  return { values: values as CliValues<O>, positionals: parsed.positionals };
}

/** An integer in `min..max` (both included); negative text gets its own message when `min >= 0`. */
export function integerIn(min: number, max: number): ValueCheck<number> {
  return (text, flag) => {
    const t = text.trim();
    if (!/^-?\d+$/.test(t)) throw new UsageError(`${flag} expects an integer, got "${text}"`);
    if (min >= 0 && t.startsWith('-')) throw new UsageError(`${flag} must not be negative, got "${text}"`);
    const n = Number(t);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${flag} must be in ${min}..${max}, got ${text}`);
    return n;
  };
}

/** An integer >= 1. */
export const positiveInteger: ValueCheck<number> = (text, flag) => {
  const n = integerIn(0, Number.MAX_SAFE_INTEGER)(text, flag);
  if (n < 1) throw new UsageError(`${flag} must be a positive integer, got ${text}`);
  return n;
};

/** An integer >= 0. */
export const nonNegativeInteger: ValueCheck<number> = integerIn(0, Number.MAX_SAFE_INTEGER);

/** A finite number in `[min, max]`. */
export function numberIn(min: number, max: number): ValueCheck<number> {
  return (text, flag) => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n) || n < min || n > max)
      throw new UsageError(`${flag} expects a number in [${min}, ${max}], got "${text}"`);
    return n;
  };
}

/** One of `choices`, spelled exactly. */
export function oneOf<const T extends string>(choices: readonly T[]): ValueCheck<T> {
  return (text, flag) => {
    if (!(choices as readonly string[]).includes(text))
      throw new UsageError(`${flag} must be one of ${choices.join(', ')}, got "${text}"`);
    return text as T;
  };
}

/** A file or folder path: not blank, no NUL; returned as given (relative paths stay relative). */
export const path: ValueCheck<string> = (text, flag) => {
  if (text.trim() === '') throw new UsageError(`${flag} expects a path, got an empty string`);
  if (text.includes('\0')) throw new UsageError(`${flag} expects a path, got text with a NUL character`);
  return text;
};

/** A SHA-256 digest: 64 hex digits, optionally `sha256:`-prefixed (any case); returned trimmed. */
export const sha256Digest: ValueCheck<string> = (text, flag) => {
  const digest = text.trim();
  if (!/^(sha256:)?[0-9a-fA-F]{64}$/.test(digest))
    throw new UsageError(`${flag} expects a SHA-256 (64 hex digits, optionally prefixed sha256:), got "${text}"`);
  return digest;
};

/** A `.safetensors` weights file (a `.pth` is converted first: packages/engine/README.md, "Pretrained weights"). */
export const safetensorsPath: ValueCheck<string> = (text, flag) => {
  const file = path(text, flag);
  if (!/\.safetensors$/i.test(file))
    throw new UsageError(
      `${flag} expects a .safetensors file (convert a .pth with the one-line recipe in packages/engine/README.md, "Pretrained weights"), got "${text}"`,
    );
  return file;
};
