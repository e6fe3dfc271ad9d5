// Test-only helpers (excluded from the build by tsconfig): named pipes for the readers' tests.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';

/** Makes a FIFO at `path`; false (and a console message) where mkfifo is unavailable. */
export function makeFifo(path: string): boolean {
  try {
    execFileSync('mkfifo', [path], { stdio: 'ignore' });
    return true;
  } catch (error) {
    console.warn(`mkfifo unavailable (${(error as Error).message}); FIFO test skipped`);
    return false;
  }
}

/**
 * Opens and closes the FIFO's write end without blocking, so that a reader stuck in open() or
 * read() on it (the bug these tests guard against) gets end-of-file and the worker can exit.
 */
export function releaseFifo(path: string): void {
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    // ENXIO: nobody is reading it, nothing to release.
  }
}
