import { describe, expect, it } from 'vitest';
import { formatDuration, progressLine } from './progress.js';

describe('progress lines', () => {
  it('formats durations', () => {
    expect(formatDuration(4_400)).toBe('4s');
    expect(formatDuration(65_000)).toBe('1m 05s');
    expect(formatDuration(3_720_000)).toBe('1h 02m');
  });

  it('estimates the time left from the rate so far', () => {
    // 10 of 40 done in 20 s: 30 left at 2 s each = 60 s.
    expect(progressLine('read', 10, 40, 20_000)).toBe('read [#####...............] 10/40 25% 20s ETA 1m 00s');
    expect(progressLine('read', 40, 40, 80_000, 'ok')).toBe('read [####################] 40/40 100% 1m 20s  ok');
  });
});
