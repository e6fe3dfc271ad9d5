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

// The whole method twice (two stage 1 models, two classifiers, the report): 25 s alone, but over
// 120 s when CI runs every package's tests at once on 2 cores.
const END_TO_END_TIMEOUT_MS = 480_000;

describe('pnpm demo', () => {
  it('runs end to end on a small phantom cohort; a second run reads everything from the cache', {
    timeout: END_TO_END_TIMEOUT_MS,
  }, async () => {
    const out = await mkdtemp(join(tmpdir(), 'covsev-demo-'));
    // A classifier run an earlier demo left in runs/cmc: trained on another cohort (this one is
    // made now), so it is moved aside, kept.
    const earlier = join(out, 'runs', 'cmc');
    await mkdir(earlier, { recursive: true });
    const runStart = {
      type: 'run-start',
      version: 1,
      backend: 'wasm',
      config: { network: { backbone: 'resnest-tiny-3d' }, inChannels: 2, batchSize: 2 },
      model: 'resnest-tiny-3d, 2 channel(s)',
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
      grid: [8, 32, 32] as const,
      epochs: 1,
      segEpochs: 2,
      log: (l: string) => lines.push(l),
    };
    const first = await runDemo(options);
    expect(lines).toContain(`   ${earlier}: trained on an earlier cohort, moved to ${join(out, 'runs', 'cmc-other-cohort')}`);
    expect(await readFile(join(out, 'runs', 'cmc-other-cohort', 'events.jsonl'), 'utf8')).toContain('"inChannels":2');

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
    // Two classifiers: plain CMC on CT alone, infection-aware CMC on [infection mask, CT].
    expect(first.classifierInChannels).toEqual({ cmc: 1, 'infection-cmc': 2 });
    expect(first.classifierEpochsRun).toEqual({ cmc: 1, 'infection-cmc': 1 });
    expect(lines.some((l) => l.startsWith('6. plain CMC (CT alone): resnest-tiny-3d, 1 input channel(s)'))).toBe(true);
    expect(
      lines.some((l) =>
        l.startsWith('7. infection-aware CMC ([infection mask, CT], eq. 2): resnest-tiny-3d, 2 input channel(s)'),
      ),
    ).toBe(true);

    expect(first.preprocessed).toBe(8);
    expect(first.cacheHits).toBe(0);
    expect(first.montages).toHaveLength(4);
    for (const m of first.montages) expect((await stat(m)).size).toBeGreaterThan(1000);
    // Stage 1's overlay of one COV19-CT-DB scan is among them.
    expect(first.montages.filter((m) => m.startsWith(join(out, 'masks', 'overlays')))).toHaveLength(1);
    expect((await stat(first.cam as string)).size).toBeGreaterThan(1000); // the CAM montage of a validation scan
    expect(first.labelMacroF1).toBeGreaterThan(0);
    expect(first.labelMacroF1).toBeLessThanOrEqual(1);

    // The report: every model on the validation split, the ensemble last; its Macro F1 is the pipeline's.
    expect(first.models.map((m) => m.name)).toEqual(['cmc', 'infection-cmc', 'involvement', 'ensemble']);
    const ensemble = first.models.at(-1);
    expect(ensemble?.published.macroF1.estimate).toBeCloseTo(first.ensembleValMacroF1, 12);
    expect(ensemble?.published.scans).toBe(truth.scans.filter((s) => s.split === 'val').length);
    const report = await readFile(first.report.path, 'utf8');
    expect(report).toContain(first.report.table);
    expect(first.report.table).toContain('ensemble (mean of CMC and infection-aware CMC)');
    expect(first.report.figures.map((f) => f.slice(out.length + 1))).toEqual([
      join('figures', 'confusion-ensemble-val.png'),
      join('figures', 'training-curves-cmc.png'),
      join('figures', 'training-curves-infection-cmc.png'),
    ]);
    for (const f of first.report.figures) expect((await stat(f)).size).toBeGreaterThan(1000);
    // The demo ends with the table.
    expect(lines.slice(-first.report.table.split('\n').length)).toEqual(first.report.table.split('\n'));
    // The submission: the ensemble's test table, checked against the test folder.
    expect(first.submission).toHaveLength(4);
    expect(first.submissionChecked).toBe(true);

    lines.length = 0;
    const second = await runDemo(options);
    expect(second.cacheHits).toBe(8);
    // Weights restored from the finished runs' checkpoints: the same predictions, the same scores.
    expect(second.classifierEpochsRun).toEqual({ cmc: 0, 'infection-cmc': 0 });
    expect(second.ensembleValMacroF1).toBe(first.ensembleValMacroF1);
    expect(second.report.table).toBe(first.report.table);
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
    // The second run says where each classifier's weights came from.
    const restored = ['cmc', 'infection-cmc'].map(
      (name) => `   restored from ${join(out, 'runs', name, 'checkpoints', 'epoch-1')} (all 1 epoch done)`,
    );
    expect(lines.filter((l) => /^ {3}(resumed|restored) from /.test(l))).toEqual(restored);
  });
});
