/**
 * torchvision checkpoints into covsev's encoders (issue 13's round trip): bench/reference/pretrained_twin.py
 * writes a randomly initialised ResNet-34 / DenseNet-121 with torchvision's names (plain torch,
 * at the encoders' 1/16 width) as safetensors, with smp's encoder features on a fixed input;
 * `loadPretrained` loads the file strictly through the map and every feature map must agree to
 * 1e-4. Skips with a message where Debian's python3 has no torch.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { disposeModule, initBackend, loadPretrained } from '@covsev/engine';
import { Rng } from '@covsev/io';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SegmentationEncoder } from '../models/contract.js';
import { DENSENET121_BLOCKS, DenseNetEncoder } from './densenet.js';
import { expectFeaturesMatch } from './featureParity.test-helpers.js';
import { TORCHVISION_DENSENET121_MAP, TORCHVISION_RESNET34_MAP } from './pretrained.js';
import { RESNET34_LAYERS, ResNetEncoder } from './resnet.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../../../../bench/reference/pretrained_twin.py', import.meta.url));
const HAVE_TORCH = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'covsev-seg-pretrained-'));

describe('torchvision name maps', () => {
  it('ResNet-34: names pass through, the ImageNet head is dropped', () => {
    expect(TORCHVISION_RESNET34_MAP.rename('layer2.0.downsample.1.running_var')).toBe('layer2.0.downsample.1.running_var');
    expect(TORCHVISION_RESNET34_MAP.rename('fc.weight')).toBeNull();
    expect(TORCHVISION_RESNET34_MAP.stem).toBe('conv1.weight');
  });

  it("DenseNet-121: the classifier is dropped and pre-0.4 keys are rewritten as torchvision's loader does", () => {
    const r = TORCHVISION_DENSENET121_MAP.rename;
    expect(r('features.denseblock1.denselayer1.norm.1.weight')).toBe('features.denseblock1.denselayer1.norm1.weight');
    expect(r('features.denseblock4.denselayer16.conv.2.weight')).toBe('features.denseblock4.denselayer16.conv2.weight');
    expect(r('features.denseblock1.denselayer1.norm1.running_mean')).toBe('features.denseblock1.denselayer1.norm1.running_mean');
    expect(r('features.transition1.norm.weight')).toBe('features.transition1.norm.weight');
    expect(r('classifier.bias')).toBeNull();
  });
});

interface TwinOutput {
  features: { shape: number[]; data: number[] }[];
  keys: string[];
}

function twin(args: Record<string, unknown>): TwinOutput {
  const run = spawnSync(PYTHON, [SCRIPT], { input: JSON.stringify(args), encoding: 'utf8', maxBuffer: 1 << 28 });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as TwinOutput;
}

const [N, H, W] = [2, 64, 64];
/** NCHW input, 3 channels (torchvision's RGB stem loads as is). */
const X = Float32Array.from({ length: N * 3 * H * W }, (_, i) => Math.sin(0.37 * i) * Math.cos(0.011 * i));

function compareFeatures(encoder: SegmentationEncoder, ref: TwinOutput): void {
  expectFeaturesMatch(encoder, X, [N, 3, H, W], ref.features);
}

beforeAll(async () => {
  await initBackend({ prefer: 'wasm', log: false });
});

describe.skipIf(!HAVE_TORCH)(
  HAVE_TORCH
    ? 'torchvision checkpoints round trip'
    : `torchvision checkpoints round trip (SKIPPED: ${PYTHON} cannot import torch)`,
  () => {
    it('ResNet-34 at 1/16 width: the safetensors file loads strictly by the map and all six features agree to 1e-4', async () => {
      const encoder = new ResNetEncoder({ inChannels: 3, width: 1 / 16, layers: RESNET34_LAYERS, rng: Rng.fromSeed(1) });
      const path = join(dir, 'resnet34.safetensors');
      const ref = twin({ kind: 'resnet34', widths: encoder.outChannels.slice(1), out: path, shape: [N, H, W], x: [...X] });
      expect(ref.keys).toContain('fc.weight');
      const result = await loadPretrained(encoder, path, { map: TORCHVISION_RESNET34_MAP });
      expect(result.dropped).toEqual(['fc.weight', 'fc.bias']);
      expect(result.stem).toBe('loaded');
      expect(result.report.loaded.length).toBe(ref.keys.length - 2);
      compareFeatures(encoder, ref);
      disposeModule(encoder);

      // A CT encoder (1 channel): the RGB stem is kept random by default and the rest loads strictly.
      const ct = new ResNetEncoder({ inChannels: 1, width: 1 / 16, layers: RESNET34_LAYERS, rng: Rng.fromSeed(1) });
      const ctResult = await loadPretrained(ct, path, { map: TORCHVISION_RESNET34_MAP });
      expect([ctResult.stem, ctResult.report.kept]).toEqual(['random', ['conv1.weight']]);
      const mean = await loadPretrained(ct, path, { map: TORCHVISION_RESNET34_MAP, stemInit: 'mean' });
      expect([mean.stem, mean.report.kept, mean.sha256]).toEqual(['mean', [], ctResult.sha256]);
      disposeModule(ct);
    });

    it('DenseNet-121 at 1/16 width (growth 4): loads strictly by the map and all six features agree to 1e-4', async () => {
      const encoder = new DenseNetEncoder({ inChannels: 3, width: 1 / 16, blocks: DENSENET121_BLOCKS, rng: Rng.fromSeed(1) });
      const path = join(dir, 'densenet121.safetensors');
      const ref = twin({ kind: 'densenet121', growth: 4, init: 4, out: path, shape: [N, H, W], x: [...X] });
      const result = await loadPretrained(encoder, path, { map: TORCHVISION_DENSENET121_MAP });
      expect(result.dropped).toEqual(['classifier.weight', 'classifier.bias']);
      expect(result.report.loaded.length).toBe(ref.keys.length - 2);
      compareFeatures(encoder, ref);
      disposeModule(encoder);
    });
  },
);
