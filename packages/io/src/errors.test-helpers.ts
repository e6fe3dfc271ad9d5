// Test-only helpers (excluded from the build by tsconfig): shared by the readers' tests.
import { basename } from 'node:path';
import { expect } from 'vitest';
import { CovsevInputError } from './errors.js';

/**
 * Awaits `promise`, expects it to reject with a CovsevInputError whose message names the file
 * (its base name) and matches `pattern`; with `exactPath`, also that `error.path` is `path`.
 */
export async function expectInputError(
  promise: Promise<unknown>,
  path: string,
  pattern: RegExp,
  exactPath = false,
): Promise<CovsevInputError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CovsevInputError);
  const input = error as CovsevInputError;
  expect(input.message).toContain(basename(path));
  if (exactPath) expect(input.path).toBe(path);
  expect(input.message).toMatch(pattern);
  return input;
}
