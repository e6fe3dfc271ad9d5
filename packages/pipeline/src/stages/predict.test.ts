import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CmcNetwork, predictCmc, predictCmcTta } from '@covsev/cmc';
import { initBackend } from '@covsev/engine';
import type { StageEvent } from '@covsev/events';
import { makeVolume, Rng, readPredictionCsv } from '@covsev/io';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CohortScan } from './loadCohort.js';
import { partialSettingsPath, partialTablePath, predictScans } from './predict.js';
import { mergePredictionParts, partTablePath, shardOf } from './shard.js';

beforeAll(async () => {
  await initBackend({ prefer: 'wasm', log: false });
});

describe('predict stage', () => {
  const rng = Rng.fromSeed(3);
  let model: CmcNetwork;
  beforeAll(() => {
    model = new CmcNetwork({ backbone: { layers: [1, 1, 1, 1], base: 8, stemWidth: 8, radix: 2 }, inChannels: 1 }, rng);
  });
  const shape = [16, 32, 32] as const;
  // Natural order (as scanFolders lists them): ct_scan_9 before ct_scan_10.
  const scans: CohortScan[] = [0, 1, 2, 3, 9, 10, 12].map((i) => ({
    name: `ct_scan_${i}`,
    split: 'val',
    folder: `/none/${i}`,
    category: 1,
  }));
  const volumes = new Map(
    scans.map((s) => [
      s.name,
      makeVolume({
        data: Uint8Array.from({ length: 16 * 32 * 32 }, () => Math.floor(256 * rng.uniform())),
        shape,
        intensity: 'uint8-windowed',
      }),
    ]),
  );
  const cmcScans = scans.map((s) => ({
    name: s.name,
    image: volumes.get(s.name) as NonNullable<ReturnType<typeof volumes.get>>,
  }));
  const probabilities = (rows: { probabilities: readonly number[] }[]) => rows.map((r) => [...r.probabilities]);
  /** `predictCmcTta` scan by scan, as the stage calls it (a batch never mixes scans). */
  const scanByScan = async (options: Parameters<typeof predictCmcTta>[2]) => {
    const out: number[][] = [];
    for (const scan of cmcScans) out.push(...(await predictCmcTta(model, [scan], options)));
    return out;
  };

  it("runs the method's TTA by default (3 passes, seed 0, onnxruntime) and says so in its start event", async () => {
    const events: StageEvent[] = [];
    const rows = await predictScans({ classifier: { model, inChannels: 1 }, scans, volumes }, { onEvent: (e) => events.push(e) });
    const expected = await scanByScan({ inChannels: 1, passes: 3, seed: 0, engine: 'onnx' });
    expect(probabilities(rows)).toEqual(expected);
    expect(events[0]).toMatchObject({ type: 'stage-start', stage: 'predict', detail: { passes: 3, seed: 0, engine: 'onnx' } });
  });

  it('passes tta and engine through: passes 0 on tfjs is the plain pass', async () => {
    const rows = await predictScans({
      classifier: { model, inChannels: 1 },
      scans,
      volumes,
      tta: { passes: 0, seed: 0 },
      engine: 'tfjs',
    });
    expect(probabilities(rows)).toEqual(predictCmc(model, cmcScans, 1));
    const seeded = await predictScans({
      classifier: { model, inChannels: 1 },
      scans,
      volumes,
      tta: { passes: 2, seed: 9 },
      engine: 'tfjs',
    });
    expect(probabilities(seeded)).toEqual(await scanByScan({ inChannels: 1, passes: 2, seed: 9, engine: 'tfjs' }));
  });

  describe('sharded and resumed', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'covsev-predict-shard-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });
    const classifier = {
      get model() {
        return model;
      },
      inChannels: 1 as const,
    };

    it('predicting every part and merging the parts writes the unsharded table byte for byte', async () => {
      // One pass: an odd part then has a view alone where the whole run has a batch of two scans.
      const once = join(dir, 'once.csv');
      await predictScans({ classifier, scans, volumes, out: once, tta: { passes: 1, seed: 0 } });
      for (let partId = 0; partId < 3; partId++) {
        const names = new Set(
          shardOf(
            scans.map((s) => s.name),
            { numParts: 3, partId },
          ),
        );
        const part = scans.filter((s) => names.has(s.name));
        await predictScans({
          classifier,
          scans: part,
          volumes,
          out: partTablePath(once, partId, 3),
          tta: { passes: 1, seed: 0 },
        });
      }
      await mergePredictionParts(once, { numParts: 3 });
      const onceText = await readFile(once, 'utf8');
      await predictScans({ classifier, scans, volumes, out: once, tta: { passes: 1, seed: 0 } });
      expect(onceText).toBe(await readFile(once, 'utf8'));

      const whole = join(dir, 'whole.csv');
      await predictScans({ classifier, scans, volumes, out: whole });
      const wholeText = await readFile(whole, 'utf8');
      expect(wholeText.split('\n').length).toBe(scans.length + 2);
      for (const numParts of [2, 3]) {
        const out = join(dir, `sharded-${numParts}.csv`);
        for (let partId = 0; partId < numParts; partId++) {
          const names = new Set(
            shardOf(
              scans.map((s) => s.name),
              { numParts, partId },
            ),
          );
          await predictScans({
            classifier,
            scans: scans.filter((s) => names.has(s.name)),
            volumes,
            out: partTablePath(out, partId, numParts),
            resume: true,
          });
        }
        await mergePredictionParts(out, { numParts, expectedScans: scans.map((s) => s.name) });
        expect(await readFile(out, 'utf8')).toBe(wholeText);
      }
    }, 120_000);

    it('a run stopped after its first chunk resumes from the partial table, predicts only the rest, same bytes', async () => {
      const whole = join(dir, 'uninterrupted.csv');
      await predictScans({ classifier, scans, volumes, out: whole, resume: true, chunk: 3 });
      const out = join(dir, 'resumed.csv');
      const partial = partialTablePath(out);
      const crash = (e: StageEvent) => {
        if (e.type === 'stage-progress') throw new Error('killed');
      };
      await expect(predictScans({ classifier, scans, volumes, out, resume: true, chunk: 3 }, { onEvent: crash })).rejects.toThrow(
        'killed',
      );
      expect(existsSync(out)).toBe(false);
      expect((await readPredictionCsv(partial)).map((r) => r.name)).toEqual(['ct_scan_0', 'ct_scan_1', 'ct_scan_2']);

      const events: StageEvent[] = [];
      await predictScans({ classifier, scans, volumes, out, resume: true, chunk: 3 }, { onEvent: (e) => events.push(e) });
      const predicted = events.flatMap((e) => (e.type === 'stage-progress' ? [e.item] : []));
      expect(predicted).toEqual(['ct_scan_3', 'ct_scan_9', 'ct_scan_10', 'ct_scan_12']);
      expect(events.at(-1)).toMatchObject({ type: 'stage-end', summary: { scans: 7, resumed: 3, predicted: 4 } });
      expect(existsSync(partial)).toBe(false);
      const text = await readFile(out, 'utf8');
      expect(text).toBe(await readFile(whole, 'utf8'));
      // ... and the same bytes as the plain, unchunked run.
      expect(text).toBe(await readFile(join(dir, 'whole.csv'), 'utf8'));
    }, 120_000);

    it('refuses a partial table made with other settings, or without its settings record', async () => {
      const out = join(dir, 'settings.csv');
      const partial = partialTablePath(out);
      const crash = (e: StageEvent) => {
        if (e.type === 'stage-progress') throw new Error('killed');
      };
      const run = { classifier, scans, volumes, out, resume: true, chunk: 3 };
      await expect(predictScans({ ...run, tta: { passes: 1, seed: 0 } }, { onEvent: crash })).rejects.toThrow('killed');
      expect(existsSync(partialSettingsPath(out))).toBe(true);
      await expect(predictScans({ ...run, tta: { passes: 1, seed: 5 } })).rejects.toThrow(
        `${partial}: was made with other settings (seed differ): remove it to start over`,
      );
      await expect(predictScans({ ...run, tta: { passes: 1, seed: 0 }, engine: 'tfjs' })).rejects.toThrow(/\(engine differ\)/);
      await rm(partialSettingsPath(out));
      await expect(predictScans({ ...run, tta: { passes: 1, seed: 0 } })).rejects.toThrow(
        `${partial}: has no settings record (${partialSettingsPath(out)})`,
      );
    }, 120_000);

    it('refuses a partial table naming a scan it is not predicting, naming the file', async () => {
      const out = join(dir, 'stray.csv');
      await predictScans({ classifier, scans, volumes, out: partialTablePath(out), tta: { passes: 0, seed: 0 } });
      await expect(predictScans({ classifier, scans: scans.slice(0, 2), volumes, out, resume: true })).rejects.toThrow(
        `${partialTablePath(out)}: scan "ct_scan_2" is not among the scans being predicted`,
      );
    });
  });
});
