import { mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readVolume } from '@covsev/io';
import type { TruthManifest } from '@covsev/phantom';
import { describe, expect, it } from 'vitest';
import { runDemo } from './demo.js';

/** Voxels above 0 in a mask NIfTI. */
async function foreground(path: string): Promise<number> {
  let n = 0;
  for (const v of (await readVolume(path)).data) if (v > 0) n++;
  return n;
}

describe('pnpm demo', () => {
  it('runs end to end on a small phantom cohort; a second run reads everything from the cache', async () => {
    const out = await mkdtemp(join(tmpdir(), 'covsev-demo-'));
    // A classifier run an earlier demo (CT alone, 1 input channel) left behind: moved aside, kept.
    const earlier = join(out, 'runs', 'cmc');
    await mkdir(earlier, { recursive: true });
    const runStart = {
      type: 'run-start',
      version: 1,
      backend: 'wasm',
      config: { network: { backbone: 'resnest-tiny-3d' }, inChannels: 1, batchSize: 2 },
      model: 'resnest-tiny-3d, 1 channel(s)',
      kind: 'classifier',
      seed: 5,
      epochs: 1,
      stepsPerEpoch: 1,
      startEpoch: 0,
      startStep: 0,
      time: 1,
    };
    await writeFile(join(earlier, 'events.jsonl'), `${JSON.stringify(runStart)}\n`);

    const lines: string[] = [];
    const options = {
      out,
      seed: 5,
      scans: 8,
      grid: [16, 64, 64] as const,
      epochs: 1,
      segEpochs: 2,
      log: (l: string) => lines.push(l),
    };
    const first = await runDemo(options);
    expect(lines).toContain(
      `   an earlier demo's cmc classifier run (resnest-tiny-3d, 1 channel(s)) moved to ${join(out, 'runs', 'cmc-earlier')}: this demo trains infection-cmc`,
    );
    expect(await readFile(join(out, 'runs', 'cmc-earlier', 'events.jsonl'), 'utf8')).toContain('"inChannels":1');

    // Stage 1: both models trained, every COV19-CT-DB scan segmented, the summary read from the files.
    const seg = first.segmentation;
    expect([seg.lungEpochsRun, seg.lesionEpochsRun]).toEqual([2, 2]);
    for (const task of ['lung', 'lesion']) expect(lines.filter((l) => l.startsWith(`   ${task} epoch `))).toHaveLength(2);
    const truth = JSON.parse(await readFile(join(out, 'cov19-ct-db', 'phantom_truth.json'), 'utf8')) as TruthManifest;
    const names = truth.scans.map((s) => s.name).sort();
    expect(seg.scans.map((s) => s.name).sort()).toEqual(names);
    expect(seg.cached).toBe(0);
    for (const folder of ['lung', 'infection'])
      expect((await readdir(join(out, 'masks', folder))).sort()).toEqual(names.map((n) => `${n}.nii.gz`).sort());
    const rows = [];
    for (const report of seg.scans) {
      expect(report.lungPath).toBe(join(out, 'masks', 'lung', `${report.name}.nii.gz`));
      expect(await foreground(report.lungPath)).toBe(report.lungVoxels);
      expect(await foreground(report.infectionPath as string)).toBe(report.lesionVoxels);
      const t = truth.scans.find((s) => s.name === report.name) as TruthManifest['scans'][number];
      rows.push({ predicted: (report.lesionVoxels ?? 0) / Math.max(1, report.lungVoxels), truth: t.involvement });
    }
    // The printed check is the mean |predicted - true| involvement of these files.
    const meanAbsDiff = rows.reduce((s, r) => s + Math.abs(r.predicted - r.truth), 0) / rows.length;
    expect(seg.involvement.meanAbsDiff).toBeCloseTo(meanAbsDiff, 10);
    expect(lines.some((l) => l.includes(`mean |difference| ${meanAbsDiff.toFixed(3)}`))).toBe(true);
    // The classifier is the infection-aware one: [infection mask, CT].
    expect(first.classifierInChannels).toBe(2);
    expect(lines.some((l) => l.startsWith('6. infection-aware CMC (resnest-tiny-3d, 2 input channels'))).toBe(true);

    expect(first.preprocessed).toBe(8);
    expect(first.cacheHits).toBe(0);
    expect(first.montages).toHaveLength(4);
    for (const m of first.montages) expect((await stat(m)).size).toBeGreaterThan(1000);
    // Stage 1's overlay of one COV19-CT-DB scan is among them.
    expect(first.montages.filter((m) => m.startsWith(join(out, 'masks', 'overlays')))).toHaveLength(1);
    expect((await stat(first.cam as string)).size).toBeGreaterThan(1000); // the CAM montage of a validation scan
    expect(first.labelMacroF1).toBeGreaterThan(0);
    expect(first.labelMacroF1).toBeLessThanOrEqual(1);

    lines.length = 0;
    const second = await runDemo(options);
    expect(second.cacheHits).toBe(8);
    expect(first.submission).toHaveLength(4);
    expect(first.cmcValMacroF1).toBeGreaterThanOrEqual(0);
    expect(second.cmcValMacroF1).toBe(first.cmcValMacroF1); // weights restored from the finished run's checkpoint
    expect(second.classifierInChannels).toBe(2);
    // Stage 1 reused: no epoch trained, every scan's masks from the cache, the same check.
    expect([second.segmentation.lungEpochsRun, second.segmentation.lesionEpochsRun]).toEqual([0, 0]);
    expect(second.segmentation.cached).toBe(8);
    expect(second.segmentation.involvement).toEqual(seg.involvement);
    expect(lines.filter((l) => / epoch \d+: /.test(l))).toEqual([]);
    expect(lines).toContain('   all 8 scans from the cache (same scan files, same models): nothing segmented again');
    for (const task of ['lung', 'lesion'])
      expect(lines).toContain(
        `   ${task}: restored from ${join(out, 'runs', `seg-${task}`, 'checkpoints', 'epoch-2')} (all 2 epochs done)`,
      );
    expect(lines.some((l) => l.includes('already in'))).toBe(true);
    expect(lines.some((l) => l.includes('already complete'))).toBe(true);
    expect(lines.some((l) => l.includes('moved to'))).toBe(false);
    // The second run says where the classifier's weights came from.
    const restored = `   restored from ${join(out, 'runs', 'cmc', 'checkpoints', 'epoch-1')} (all 1 epoch done)`;
    expect(lines.filter((l) => /^ {3}(resumed|restored) from /.test(l))).toEqual([restored]);
    expect(lines.at(-1)).toBe('10. not built yet: the ensemble (the average of plain CMC and infection-aware CMC)');
  });
});
