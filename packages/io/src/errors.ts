/**
 * Errors for bad input: every one names the file and the problem, so a user can fix the data
 * without reading a stack trace. CLIs print `error.message` alone for these.
 */
export class CovsevInputError extends Error {
  override readonly name = 'CovsevInputError';
  constructor(
    /** The file or folder at fault. */
    readonly path: string,
    /** What is wrong with it, in words. */
    readonly problem: string,
    options?: { cause?: unknown; line?: number },
  ) {
    super(
      `${path}${options?.line === undefined ? '' : `:${options.line}`}: ${problem}`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.line = options?.line;
  }
  readonly line: number | undefined;
}

/** True for errors covsev raised about a user's data (print the message, skip the stack). */
export function isInputError(error: unknown): error is CovsevInputError {
  return error instanceof CovsevInputError;
}
