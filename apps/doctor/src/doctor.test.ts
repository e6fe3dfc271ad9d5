import { UsageError } from '@covsev/cli';
import type { DoctorReport } from '@covsev/engine';
import { describe, expect, it } from 'vitest';
import { main } from './doctor.js';

describe('pnpm run doctor', () => {
  it('prints the report on this machine: what runs, every skipped backend with a reason and a fix', async () => {
    const json: string[] = [];
    await main(['--json'], (l) => json.push(l));
    const report = JSON.parse(json.join('\n')) as DoctorReport;
    const out: string[] = [];
    expect(await main([], (l) => out.push(l))).toBe(0);
    const text = out.join('\n');
    // Whatever this machine has: the backend covsev would train on runs, and is said last.
    expect(text).toMatch(new RegExp(`^\\[RUNS\\] ${report.wouldRun}: `, 'm'));
    expect(text).toContain(`covsev trains here on: ${report.wouldRun}`);
    if (report.backends.find((b) => b.name === 'tensorflow-gpu')?.usable === true) return; // a GPU machine set up
    // No tfjs-node-gpu (this project's machines and CI): wasm runs, the GPU backend is skipped with why and a fix.
    expect(report.wouldRun).toBe('wasm');
    expect(text).toMatch(/^\[RUNS\] wasm: /m);
    expect(text).toMatch(/^\[skipped\] tensorflow-gpu: /m);
    expect(text).toMatch(/^ {4}why: .*tfjs-node-gpu/m);
    expect(text).toMatch(/^ {6}fix: /m);
  });

  it('--json prints the report as JSON for scripts; an unknown option is a usage error', async () => {
    const out: string[] = [];
    await main(['--', '--json'], (l) => out.push(l));
    const report = JSON.parse(out.join('\n')) as DoctorReport;
    expect(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']).toContain(report.wouldRun);
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
