import { CmcNetwork, predictCmc, predictCmcTta } from '@covsev/cmc';
import { initBackend } from '@covsev/engine';
import type { StageEvent } from '@covsev/events';
import { makeVolume, Rng } from '@covsev/io';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CohortScan } from './loadCohort.js';
import { predictScans } from './predict.js';

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
  const scans: CohortScan[] = [0, 1].map((i) => ({ name: `ct_scan_${i}`, split: 'val', folder: `/none/${i}`, category: 1 }));
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

  it("runs the method's TTA by default (3 passes, seed 0, onnxruntime) and says so in its start event", async () => {
    const events: StageEvent[] = [];
    const rows = await predictScans({ classifier: { model, inChannels: 1 }, scans, volumes }, { onEvent: (e) => events.push(e) });
    const expected = await predictCmcTta(model, cmcScans, { inChannels: 1, passes: 3, seed: 0, engine: 'onnx' });
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
    expect(probabilities(seeded)).toEqual(
      await predictCmcTta(model, cmcScans, { inChannels: 1, passes: 2, seed: 9, engine: 'tfjs' }),
    );
  });
});
