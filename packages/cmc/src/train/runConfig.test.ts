import { describe, expect, it } from 'vitest';
import { cmcRunConfigSchema, cmcTrainingSchema } from './runConfig.js';

describe('cmcRunConfigSchema', () => {
  it('keeps the stored JSON of runs made before it (keys, order, values)', () => {
    const stored = {
      network: { backbone: 'resnest-tiny-3d' },
      inChannels: 2,
      batchSize: 4,
      lr: 0.001,
      scans: 56,
      workers: 2,
      microBatch: 'auto',
    };
    expect(JSON.stringify(cmcRunConfigSchema.parse(stored))).toBe(JSON.stringify(stored));
    const { microBatch: _, ...withoutMicroBatch } = stored;
    expect(JSON.stringify(cmcRunConfigSchema.parse(withoutMicroBatch))).toBe(
      '{"network":{"backbone":"resnest-tiny-3d"},"inChannels":2,"batchSize":4,"lr":0.001,"scans":56,"workers":2}',
    );
    const custom = {
      ...stored,
      network: { backbone: { layers: [1, 1, 1, 1], base: 8, stemWidth: 8, radix: 2 }, projectionDim: 64 },
    };
    expect(cmcRunConfigSchema.parse(custom)).toEqual(custom);
  });

  it('refuses an unknown backbone, a third channel, and a batch of one', () => {
    const good = { network: { backbone: 'resnest50-3d' }, inChannels: 1, batchSize: 2, lr: 1e-4, scans: 8, workers: 0 };
    expect(cmcRunConfigSchema.safeParse(good).success).toBe(true);
    const bad = (patch: object) => cmcRunConfigSchema.safeParse({ ...good, ...patch }).error?.issues[0]?.path;
    expect(bad({ network: { backbone: 'resnet18' } })).toEqual(['network', 'backbone']);
    expect(bad({ inChannels: 3 })).toEqual(['inChannels']);
    expect(bad({ batchSize: 1 })).toEqual(['batchSize']);
  });

  it('init: the stored hash and map; the training settings take a path, a pin, partial and the stem, refusing bad ones by name', () => {
    const good = { network: { backbone: 'resnest50-3d' }, inChannels: 1, batchSize: 2, lr: 1e-4, scans: 8, workers: 0 };
    const sha256 = 'ab'.repeat(32);
    expect(cmcRunConfigSchema.parse({ ...good, init: { sha256, map: 'resnest50' } }).init).toEqual({ sha256, map: 'resnest50' });
    expect(cmcRunConfigSchema.safeParse({ ...good, init: { sha256: 'abc', map: 'resnest50' } }).error?.issues[0]?.path).toEqual([
      'init',
      'sha256',
    ]);
    const training = { network: { backbone: 'resnest50-3d' }, batchSize: 2, epochs: 1, seed: 0 };
    const init = { path: 'w.safetensors', sha256: `sha256:${sha256.toUpperCase()}`, partial: true, stemInit: 'mean' };
    expect(cmcTrainingSchema.parse({ ...training, init }).init).toEqual(init);
    const issue = (patch: object) =>
      cmcTrainingSchema.safeParse({ ...training, init: { path: 'w.safetensors', ...patch } }).error?.issues[0];
    expect(issue({ sha256: 'nothex' })).toMatchObject({
      path: ['init', 'sha256'],
      message: expect.stringMatching(/64 hex digits/),
    });
    expect(issue({ stemInit: 'rgb' })?.path).toEqual(['init', 'stemInit']);
    expect(issue({ pin: sha256 })?.code).toBe('unrecognized_keys');
    expect(cmcTrainingSchema.safeParse({ ...training, init: { path: '' } }).success).toBe(false);
  });
});
