import { mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runDemo } from './demo.js';

describe('pnpm demo', () => {
  it('runs end to end on a small phantom cohort; a second run reads everything from the cache', async () => {
    const out = await mkdtemp(join(tmpdir(), 'covsev-demo-'));
    const lines: string[] = [];
    const options = { out, seed: 5, scans: 6, grid: [8, 32, 32] as const, log: (l: string) => lines.push(l) };
    const first = await runDemo(options);
    expect(first.preprocessed).toBe(6);
    expect(first.cacheHits).toBe(0);
    expect(first.montages).toHaveLength(3);
    for (const m of first.montages) expect((await stat(m)).size).toBeGreaterThan(1000);
    expect(first.labelMacroF1).toBeGreaterThan(0);
    expect(first.labelMacroF1).toBeLessThanOrEqual(1);
    const second = await runDemo(options);
    expect(second.cacheHits).toBe(6);
    expect(lines.some((l) => l.includes('already in'))).toBe(true);
    expect(lines.some((l) => l.startsWith('6. not built yet'))).toBe(true);
  });
});
