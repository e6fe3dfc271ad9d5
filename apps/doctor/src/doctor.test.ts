import { UsageError } from '@covsev/cli';
import type { DoctorReport } from '@covsev/engine';
import { describe, expect, it } from 'vitest';
import { main } from './doctor.js';

describe('pnpm run doctor', () => {
  it('prints the report on this machine: wasm runs, every skipped backend with a reason and a fix', async () => {
    const out: string[] = [];
    expect(await main([], (l) => out.push(l))).toBe(0);
    const text = out.join('\n');
    expect(text).toMatch(/^\[RUNS\] wasm: /m);
    expect(text).toMatch(/^\[skipped\] tensorflow-gpu: /m);
    expect(text).toMatch(/^ {4}why: .*tfjs-node-gpu/m);
    expect(text).toMatch(/^ {6}fix: /m);
    expect(text).toContain('covsev trains here on: wasm');
  });

  it('--json prints the report as JSON for scripts; an unknown option is a usage error', async () => {
    const out: string[] = [];
    await main(['--', '--json'], (l) => out.push(l));
    const report = JSON.parse(out.join('\n')) as DoctorReport;
    expect(report.wouldRun).toBe('wasm');
    expect(report.backends.map((b) => b.name)).toEqual([
      'tensorflow-gpu',
      'tensorflow',
      'wasm',
      'cpu',
      'onnxruntime-cpu',
      'onnxruntime-cuda',
    ]);
    await expect(main(['--jsn'])).rejects.toThrow(UsageError);
  });
});
