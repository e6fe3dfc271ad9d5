/**
 * A 2D ResNeSt checkpoint (the release's names, = timm's resnest50d) inflated into the 3D ResNeSt
 * (issue 13): bench/reference/pretrained_twin.py writes a randomly initialised 2D network at
 * resnest-tiny-3d's sizes as safetensors, inflates it into the PyTorch CMC twin by its own name map
 * with the `mean` stem, and runs the twin on a volume; covsev loads the same file with
 * RESNEST50_MAP and `stemInit: 'mean'` and must give the same pooled features to 1e-4. Skips with
 * a message where Debian's python3 has no torch.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { disposeModule, initBackend, loadPretrained, volumeFromNcdhw } from '@covsev/engine';
import { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { RESNEST50_MAP, resnestKey } from './pretrained.js';
import { RESNEST3D_CONFIGS, ResNeSt3d } from './resnest3d.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../../../../bench/reference/pretrained_twin.py', import.meta.url));
const HAVE_TORCH = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

describe('RESNEST50_MAP', () => {
  it("maps the release's / timm's names onto the 3D ResNeSt's", () => {
    expect(
      [
        'conv1.0.weight',
        'conv1.1.running_mean',
        'conv1.3.weight',
        'conv1.4.bias',
        'conv1.6.weight',
        'bn1.num_batches_tracked',
        'layer1.0.downsample.1.weight',
        'layer1.0.downsample.2.running_var',
        'layer3.0.downsample.1.weight',
        'layer4.2.conv2.fc1.bias',
        'layer2.3.conv2.bn0.weight',
        'layer2.0.conv3.weight',
        'fc.weight',
      ].map(resnestKey),
    ).toEqual([
      'stem.0.weight',
      'stem.1.running_mean',
      'stem.3.weight',
      'stem.4.bias',
      'stem.6.weight',
      'stem.7.num_batches_tracked',
      'layers.0.0.downsample.0.weight',
      'layers.0.0.downsample.1.running_var',
      'layers.2.0.downsample.1.weight',
      'layers.3.2.conv2.fc1.bias',
      'layers.1.3.conv2.bn0.weight',
      'layers.1.0.conv3.weight',
      null,
    ]);
    expect(RESNEST50_MAP.inflate).toBe(true);
  });
});

beforeAll(async () => {
  await initBackend({ prefer: 'wasm', log: false });
});

describe.skipIf(!HAVE_TORCH)(
  HAVE_TORCH
    ? 'ResNeSt checkpoint inflated into the 3D ResNeSt'
    : `ResNeSt checkpoint inflated into the 3D ResNeSt (SKIPPED: ${PYTHON} cannot import torch)`,
  () => {
    it("resnest-tiny-3d sizes, 2 input channels, stemInit 'mean': strict load, pooled features equal the inflated PyTorch twin's to 1e-4", async () => {
      const config = RESNEST3D_CONFIGS['resnest-tiny-3d'];
      const shape: readonly number[] = [1, 2, 16, 64, 64];
      const n = shape.reduce((a, b) => a * b, 1);
      const x = Float32Array.from({ length: n }, (_, i) => Math.sin(0.37 * i) * Math.cos(0.011 * i));
      const path = join(mkdtempSync(join(tmpdir(), 'covsev-resnest-')), 'resnest.safetensors');
      const run = spawnSync(PYTHON, [SCRIPT], {
        input: JSON.stringify({ kind: 'resnest', ...config, inChannels: 2, out: path, shape: [1, 16, 64, 64], x: [...x] }),
        encoding: 'utf8',
        maxBuffer: 1 << 28,
      });
      expect(run.status, run.stderr).toBe(0);
      const ref = JSON.parse(run.stdout) as { features: { shape: number[]; data: number[] }; keys: string[] };
      const model = new ResNeSt3d({ ...config, inChannels: 2 }, Rng.fromSeed(1));
      const result = await loadPretrained(model, path, { map: RESNEST50_MAP, stemInit: 'mean' });
      expect(result.stem).toBe('mean');
      expect(result.dropped).toEqual(['fc.weight', 'fc.bias']);
      expect(result.report.loaded.length).toBe(ref.keys.length - 2);
      const input = volumeFromNcdhw(x, [...shape]);
      const y = model.apply(input, { training: false }) as tf.Tensor2D;
      expect(y.shape).toEqual(ref.features.shape);
      const got = y.dataSync();
      let worst = 0;
      let scale = 1;
      for (let i = 0; i < got.length; i++) {
        worst = Math.max(worst, Math.abs((got[i] as number) - (ref.features.data[i] as number)));
        scale = Math.max(scale, Math.abs(ref.features.data[i] as number));
      }
      expect(worst).toBeLessThan(1e-4 * scale);
      tf.dispose([input.tensor, y]);
      disposeModule(model);
    });
  },
);
