/**
 * The trainer's end of the control channel (docs/formats.md, "Control channel"): a front-end
 * appends JSON lines `{"id","command","time"}` to `<runDir>/control.jsonl` (`sendControl` in
 * `@covsev/events`); `runTraining` polls it at every step boundary. A poll costs a `stat` when
 * nothing was appended, and reads only the appended bytes otherwise.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CONTROL_FILE } from '@covsev/events';

/** A control line as read: `command` may be one this trainer does not know (it refuses it). */
export interface ControlRequest {
  id: string;
  command: string;
  time: number;
}

/**
 * Reads the commands appended to a run's `control.jsonl`. Lines whose `time` is older than
 * `since` (the run's start: commands meant for an earlier process, already answered or moot)
 * are ignored, as is an `id` seen before; a malformed line is skipped with a warning; an
 * unfinished last line waits for its newline. A file that shrank (replaced) is read again from
 * its start.
 */
export class ControlReader {
  readonly path: string;
  private offset = 0;
  private line = 0;
  private readonly seen = new Set<string>();

  constructor(
    runDir: string,
    private readonly since: number,
    private readonly onWarning: (message: string) => void,
  ) {
    this.path = join(runDir, CONTROL_FILE);
  }

  /** The new commands since the last poll, in file order. */
  poll(): ControlRequest[] {
    let size: number;
    try {
      size = statSync(this.path).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        this.onWarning(`${this.path}: cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
      return [];
    }
    if (size < this.offset) {
      this.offset = 0;
      this.line = 0;
    }
    if (size === this.offset) return [];
    const bytes = Buffer.alloc(size - this.offset);
    const fd = openSync(this.path, 'r');
    let read = 0;
    try {
      while (read < bytes.length) {
        const n = readSync(fd, bytes, read, bytes.length - read, this.offset + read);
        if (n === 0) break;
        read += n;
      }
    } finally {
      closeSync(fd);
    }
    const end = bytes.subarray(0, read).lastIndexOf(0x0a);
    if (end < 0) return [];
    this.offset += end + 1;
    const out: ControlRequest[] = [];
    for (const text of bytes.subarray(0, end).toString('utf8').split('\n')) {
      this.line++;
      if (text.trim() === '') continue;
      const request = parseRequest(text);
      if (request === undefined) {
        this.onWarning(
          `${this.path} line ${this.line} is not a control command ({"id","command","time"}); skipped: ${text.slice(0, 200)}`,
        );
        continue;
      }
      if (request.time < this.since || this.seen.has(request.id)) continue;
      this.seen.add(request.id);
      out.push(request);
    }
    return out;
  }
}

function parseRequest(text: string): ControlRequest | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  const { id, command, time } = value as Record<string, unknown>;
  if (typeof id !== 'string' || id === '' || typeof command !== 'string' || typeof time !== 'number' || !Number.isFinite(time))
    return undefined;
  return { id, command, time };
}
