import { describe, expect, it } from 'vitest';
import {
  HelpRequested,
  integerIn,
  nonNegativeInteger,
  numberIn,
  oneOf,
  parseCliArgs,
  path,
  positiveInteger,
  safetensorsPath,
  sha256Digest,
  UsageError,
} from './args.js';

const spec = {
  usage: 'Usage: pnpm thing -- --out DIR [--epochs N]',
  options: {
    out: { type: 'string', parse: path, required: true, valueName: 'DIR' },
    epochs: { type: 'string', parse: positiveInteger, default: 10 },
    seed: { type: 'string', parse: nonNegativeInteger },
    mode: { type: 'string', parse: oneOf(['fast', 'full']), default: 'fast' },
    rate: { type: 'string', parse: numberIn(0, 1) },
    name: { type: 'string', short: 'n' },
    quiet: { type: 'boolean', short: 'q' },
  },
} as const;

function usageError(argv: string[]): string {
  try {
    parseCliArgs(argv, spec);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error('no error');
}

describe('parseCliArgs', () => {
  it('parses, checks and defaults values, and skips a leading --', () => {
    const { values, positionals } = parseCliArgs(['--', '--out', 'd', '--seed', '7', '-n', 'x', '-q', '--rate', '0.5'], spec);
    expect(values).toEqual({ out: 'd', epochs: 10, seed: 7, mode: 'fast', rate: 0.5, name: 'x', quiet: true });
    expect(positionals).toEqual([]);
    // The types follow the spec: a default or `required` removes `undefined`.
    const epochs: number = values.epochs;
    const out: string = values.out;
    const seed: number | undefined = values.seed;
    const mode: 'fast' | 'full' = values.mode;
    expect([epochs, out, seed, mode]).toEqual([10, 'd', 7, 'fast']);
  });

  it('answers --help and -h with the usage', () => {
    for (const flag of ['--help', '-h']) {
      let thrown: unknown;
      try {
        parseCliArgs(['--out', 'd', flag], spec);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(HelpRequested);
      expect((thrown as HelpRequested).usage).toBe(spec.usage);
    }
  });

  it.each([
    [[], /^--out DIR is required \(see --help\)$/],
    [['--out', '  '], /^--out DIR is required/],
    [['--out', 'd', '--epochs', 'ten'], /^--epochs expects an integer, got "ten"$/],
    [['--out', 'd', '--epochs', '0'], /^--epochs must be a positive integer, got 0$/],
    [['--out', 'd', '--seed', '-4'], /^--seed must not be negative, got "-4"$/],
    [['--out', 'd', '--seed=-4'], /^--seed must not be negative/],
    [['--out', 'd', '--mode', 'slow'], /^--mode must be one of fast, full, got "slow"$/],
    [['--out', 'd', '--rate', '2'], /^--rate expects a number in \[0, 1\], got "2"$/],
    [['--out', 'd', '--rate', '-0.5'], /^--rate expects a number in \[0, 1\], got "-0.5"$/],
    [['--out', 'd', '--frobnicate'], /^Unknown option '--frobnicate'.* \(see --help\)$/],
    [['--out', 'd', 'stray'], /positional/i],
    [['--out'], /argument missing/],
  ])('refuses %j with a UsageError naming the option', (argv, message) => {
    expect(usageError(argv)).toMatch(message);
  });

  it('allows positionals when asked', () => {
    const r = parseCliArgs(['a', '--flag', 'b'], { usage: '', options: { flag: { type: 'boolean' } }, positionals: true });
    expect(r.positionals).toEqual(['a', 'b']);
    expect(r.values.flag).toBe(true);
  });
});

describe('value checks', () => {
  it('integerIn takes the bounds and negative ranges', () => {
    expect(integerIn(-5, 5)(' -3 ', '--x')).toBe(-3);
    expect(() => integerIn(1, 4)('5', '--x')).toThrow('--x must be in 1..4, got 5');
    expect(() => integerIn(0, 4)('1.5', '--x')).toThrow('--x expects an integer, got "1.5"');
  });

  it('path refuses blank text and NUL', () => {
    expect(path('a/b', '--out')).toBe('a/b');
    expect(() => path('', '--out')).toThrow(UsageError);
    expect(() => path('a\0b', '--out')).toThrow(/NUL/);
  });

  it('sha256Digest takes 64 hex digits (sha256: prefix, any case); safetensorsPath takes .safetensors files only', () => {
    const hex = 'aB'.repeat(32);
    expect(sha256Digest(` sha256:${hex} `, '--init-sha256')).toBe(`sha256:${hex}`);
    expect(() => sha256Digest('abc', '--init-sha256')).toThrow('--init-sha256 expects a SHA-256 (64 hex digits');
    expect(() => sha256Digest(`${hex.slice(1)}g`, '--init-sha256')).toThrow(UsageError);
    expect(safetensorsPath('w/resnet34.safetensors', '--init')).toBe('w/resnet34.safetensors');
    expect(() => safetensorsPath('resnet34.pth', '--init')).toThrow(/--init expects a .safetensors file \(convert a .pth/);
  });
});
