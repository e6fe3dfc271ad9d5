import { mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runDemo } from './demo.js';

describe('pnpm demo', () => {
  it('runs end to end on a small phantom cohort; a second run reads everything from the cache', async () => {
    const out = await mkdtemp(join(tmpdir(), 'covsev-demo-'));
    const lines: string[] = [];
    const options = { out, seed: 5, scans: 8, grid: [16, 64, 64] as const, epochs: 1, log: (l: string) => lines.push(l) };
    const first = await runDemo(options);
    expect(first.preprocessed).toBe(8);
    expect(first.cacheHits).toBe(0);
    expect(first.montages).toHaveLength(3);
    for (const m of first.montages) expect((await stat(m)).size).toBeGreaterThan(1000);
    expect((await stat(first.cam as string)).size).toBeGreaterThan(1000); // the CAM montage of a validation scan
    expect(first.labelMacroF1).toBeGreaterThan(0);
    expect(first.labelMacroF1).toBeLessThanOrEqual(1);
    const second = await runDemo(options);
    expect(second.cacheHits).toBe(8);
    expect(first.submission).toHaveLength(4);
    expect(first.cmcValMacroF1).toBeGreaterThanOrEqual(0);
    expect(second.cmcValMacroF1).toBe(first.cmcValMacroF1); // weights restored from the finished run's checkpoint
    expect(lines.some((l) => l.includes('already in'))).toBe(true);
    expect(lines.some((l) => l.includes('already complete'))).toBe(true);
    // The second run says where its weights came from.
    const restored = `   restored from ${join(out, 'runs', 'cmc', 'checkpoints', 'epoch-1')} (all 1 epoch done)`;
    expect(lines.filter((l) => /^ {3}(resumed|restored) from /.test(l))).toEqual([restored]);
    expect(lines.some((l) => l.startsWith('8. not built yet'))).toBe(true);
  });
});
