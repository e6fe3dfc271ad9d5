/**
 * Progress with an ETA for long work (reading a cohort, generating phantoms, preprocessing).
 * Pure formatting plus a tiny reporter that writes one updating line to a TTY, or a line per
 * `every` items elsewhere (CI logs stay readable).
 */

/** "1m 05s", "12s", "1h 02m". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

/** The line for `done` of `total` after `elapsedMs`: count, percent, rate-based ETA. */
export function progressLine(label: string, done: number, total: number, elapsedMs: number, detail = ''): string {
  const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
  const eta = done > 0 && done < total ? ` ETA ${formatDuration((elapsedMs / done) * (total - done))}` : '';
  const width = 20;
  const filled = total > 0 ? Math.round((width * done) / total) : width;
  return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${pct}% ${formatDuration(elapsedMs)}${eta}${detail ? `  ${detail}` : ''}`;
}

export interface ProgressReporter {
  update(done: number, detail?: string): void;
  finish(detail?: string): void;
}

/** A reporter on a stream (default stderr). */
export function createProgress(
  label: string,
  total: number,
  stream: NodeJS.WriteStream = process.stderr,
  every = Math.max(1, Math.ceil(total / 10)),
): ProgressReporter {
  const start = performance.now();
  const tty = stream.isTTY === true;
  let last = -1;
  return {
    update(done, detail) {
      if (tty) {
        stream.write(`\r${progressLine(label, done, total, performance.now() - start, detail)}\x1b[K`);
      } else if (done === total || done - last >= every) {
        stream.write(`${progressLine(label, done, total, performance.now() - start, detail)}\n`);
        last = done;
      }
    },
    finish(detail) {
      const line = progressLine(label, total, total, performance.now() - start, detail);
      stream.write(tty ? `\r${line}\x1b[K\n` : last === total ? '' : `${line}\n`);
    },
  };
}
