import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@covsev/engine';
import { CAPTION_HEIGHT, makeVolume, Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CmcScan } from '../input/cmcScan.js';
import { scansToInput } from '../input/modelInput.js';
import { CmcNetwork } from '../models/cmcNetwork.js';
import { type ClassActivation, classActivationMap, classActivationVolume, normaliseCam } from './cam.js';
import { camCaption, writeCamMontage } from './montage.js';
import { decodePngRgb } from './png.test-helpers.js';

const SHAPE = [16, 64, 96] as const; // layer-4 grid [2, 2, 3]: three different sizes catch a transposition

function tinyModel(): CmcNetwork {
  const model = new CmcNetwork(
    { backbone: { layers: [1, 1, 1, 1], base: 4, stemWidth: 4, radix: 2 }, inChannels: 2 },
    Rng.fromSeed(3),
  );
  // The classifier starts at N(0, 0.001) with zero bias: give it weights and a bias that matter.
  const f = model.backbone.outChannels;
  const rng = Rng.fromSeed(11);
  model.classifier.weight.assign(
    tf.tensor2d(
      Float32Array.from({ length: 4 * f }, () => rng.uniform() * 2 - 1),
      [4, f],
    ),
  );
  model.classifier.bias?.assign(tf.tensor1d([0.3, -0.2, 0.1, 0.5]));
  return model;
}

function tinyScan(): Pick<CmcScan, 'image' | 'mask'> {
  const [d, h, w] = SHAPE;
  const rng = Rng.fromSeed(5);
  return {
    image: makeVolume({
      data: Uint8Array.from({ length: d * h * w }, () => Math.floor(rng.uniform() * 256)),
      shape: SHAPE,
      spacing: [2.5, 0.7, 0.8],
      intensity: 'uint8-windowed',
    }),
    mask: makeVolume({
      data: Uint8Array.from({ length: d * h * w }, (_, i) => (i % w < w / 3 ? 1 : 0)),
      shape: SHAPE,
      intensity: 'label',
    }),
  };
}

beforeAll(async () => {
  await initBackend({ prefer: 'wasm' });
});

describe('class activation maps', () => {
  let model: CmcNetwork;
  const scan = tinyScan();
  beforeAll(() => {
    model = tinyModel();
  });

  it('equals sum_k w_ck F_k computed by hand from the feature map and the weights (1e-5)', () => {
    const x = scansToInput([scan], 2);
    const map = model.backbone.featureMap(x, { training: false });
    if (map instanceof tf.Tensor) throw new Error('expected a volume');
    const [n, h, w, f] = map.tensor.shape;
    expect([map.depth, h, w]).toEqual([2, 2, 3]);
    const features = map.tensor.dataSync();
    const weights = model.classifier.weight.dataSync();
    for (const c of [0, 1, 2, 3]) {
      const got = classActivationMap(model, x, c);
      expect(got.shape).toEqual([2, 2, 3]);
      expect(got.classId).toBe(c);
      for (let p = 0; p < n * h * w; p++) {
        let s = 0;
        for (let k = 0; k < f; k++) s += (weights[c * f + k] as number) * (features[p * f + k] as number);
        expect(Math.abs((got.raw[p] as number) - s)).toBeLessThan(1e-5 * Math.max(1, Math.abs(s)));
      }
    }
    map.tensor.dispose();
    x.tensor.dispose();
  });

  it('averages to the logit minus its bias (the CAM identity of GAP + linear, 1e-4)', () => {
    const x = scansToInput([scan], 2);
    const logits = tf.tidy(() => Array.from((model.apply(x, { training: false }) as tf.Tensor).dataSync()));
    const bias = Array.from(model.classifier.bias?.dataSync() ?? []);
    for (const c of [0, 1, 2, 3]) {
      const { raw, logits: own } = classActivationMap(model, x, c);
      const mean = raw.reduce((a, v) => a + v, 0) / raw.length;
      expect(Math.abs(mean - ((logits[c] as number) - (bias[c] as number)))).toBeLessThan(1e-4);
      expect(Math.abs((own[c] as number) - (logits[c] as number))).toBeLessThan(1e-5); // the same pass as apply
    }
    x.tensor.dispose();
  });

  it("is upsampled to the scan's grid and geometry with values in [0, 1]; predicted class and probability", () => {
    const x = scansToInput([scan], 2);
    const probs = tf.tidy(() => Array.from(tf.softmax(model.apply(x, { training: false }) as tf.Tensor).dataSync()));
    x.tensor.dispose();
    const top = probs.indexOf(Math.max(...probs));
    const result = classActivationVolume(model, scan, { inChannels: 2 });
    expect(result.predicted).toBe(top);
    expect(result.classId).toBe(top);
    expect(Math.abs(result.probability - (probs[top] as number))).toBeLessThan(1e-5);
    const { cam } = result;
    expect(cam.shape).toEqual(scan.image.shape);
    expect(cam.spacing).toEqual(scan.image.spacing);
    expect(cam.affine).toEqual(scan.image.affine);
    expect(cam.data).toBeInstanceOf(Float32Array);
    let min = Infinity;
    let max = -Infinity;
    for (const v of cam.data) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBe(Math.max(...result.lowRes.raw) > 0 ? 1 : 0);
    // A chosen class; the hottest voxel lies in the layer-4 cell of the hottest feature (orientation kept).
    const [d, h, w] = SHAPE;
    let checked = 0;
    for (const c of [0, 1, 2, 3]) {
      const other = classActivationVolume(model, scan, { inChannels: 2, classId: c });
      expect(other.classId).toBe(c);
      expect(other.predicted).toBe(top);
      const low = normaliseCam(other.lowRes.raw);
      if (Math.max(...low) === 0) continue;
      const cell = low.indexOf(1);
      const hottest = other.cam.data.indexOf(1);
      const [z, y, x] = [Math.floor(hottest / (h * w)), Math.floor(hottest / w) % h, hottest % w];
      expect((Math.floor((z * 2) / d) * 2 + Math.floor((y * 2) / h)) * 3 + Math.floor((x * 3) / w)).toBe(cell);
      checked++;
    }
    expect(checked).toBeGreaterThan(0);
    expect(() => classActivationVolume(model, scan, { inChannels: 2, classId: 4 })).toThrow(/classId/);
  });

  it('Grad-CAM on layers 1-3: finer grids, alpha_k the mean gradient (checked by central differences along each channel)', () => {
    const x = scansToInput([scan], 2);
    const ctx = { training: false };
    const logit = (a: tf.Tensor4D, layer: number, c: number): number =>
      tf.tidy(() => {
        const map = model.backbone.stagesAfter({ tensor: a, batch: 1, depth: a.shape[0] }, ctx, layer);
        if (map instanceof tf.Tensor) throw new Error('expected a volume');
        const [n, h, w, f] = map.tensor.shape;
        return model.classify(tf.mean(tf.reshape(map.tensor, [1, n * h * w, f]), 1) as tf.Tensor2D, ctx).dataSync()[c] as number;
      });
    const grids: Record<number, number[]> = { 1: [16, 16, 24], 2: [8, 8, 12], 3: [4, 4, 6] };
    for (const layer of [1, 2, 3] as const) {
      const got = classActivationMap(model, x, 2, layer);
      expect(got.layer).toBe(layer);
      expect(got.shape).toEqual(grids[layer]);
      // The same logits as the plain pass, whatever layer the map is on.
      const plain = classActivationMap(model, x, 2);
      for (let c = 0; c < 4; c++) expect(Math.abs((got.logits[c] as number) - (plain.logits[c] as number))).toBeLessThan(1e-5);
      const a = model.backbone.stageMap(x, ctx, layer);
      if (a instanceof tf.Tensor) throw new Error('expected a volume');
      const [n, h, w, f] = a.tensor.shape;
      const values = a.tensor.dataSync() as Float32Array;
      // alpha_k = (1 / N) d y_c / d eps at eps = 0, where eps is added to channel k everywhere.
      const alpha = (k: number): number => {
        const eps = 1e-3; // smaller is float32 noise, larger the ReLU and max-pool kinks (measured: 3-5e-3 at 1e-3)
        const shifted = (sign: number): number =>
          tf.tidy(() => {
            const moved = Float32Array.from(values, (v, i) => (i % f === k ? v + sign * eps : v));
            return logit(tf.tensor4d(moved, [n, h, w, f]), layer, 2);
          });
        return (shifted(1) - shifted(-1)) / (2 * eps) / (n * h * w);
      };
      const alphas = Array.from({ length: f }, (_, k) => alpha(k));
      let worst = 0;
      let scale = 0;
      for (let p = 0; p < n * h * w; p++) {
        let s = 0;
        for (let k = 0; k < f; k++) s += (alphas[k] as number) * (values[p * f + k] as number);
        worst = Math.max(worst, Math.abs((got.raw[p] as number) - s));
        scale = Math.max(scale, Math.abs(s));
      }
      expect(scale).toBeGreaterThan(0);
      expect(worst / scale).toBeLessThan(1e-2);
      a.tensor.dispose();
    }
    x.tensor.dispose();
  });

  it('layer 4 is the CAM; layers outside 1-4 are refused; a Grad-CAM volume lies on the scan grid', () => {
    const x = scansToInput([scan], 2);
    expect(Array.from(classActivationMap(model, x, 1, 4).raw)).toEqual(Array.from(classActivationMap(model, x, 1).raw));
    expect(() => classActivationMap(model, x, 1, 5 as 4)).toThrow(/layer must be an integer in 1..4/);
    expect(() => classActivationMap(model, x, 1, 0 as 4)).toThrow(/layer must be an integer in 1..4/);
    x.tensor.dispose();
    const fine = classActivationVolume(model, scan, { inChannels: 2, layer: 2 });
    expect(fine.lowRes.layer).toBe(2);
    expect(fine.cam.shape).toEqual(scan.image.shape);
    expect(Math.max(...fine.cam.data)).toBe(Math.max(...fine.lowRes.raw) > 0 ? 1 : 0);
  });

  it('normaliseCam: ReLU then division by the maximum', () => {
    expect(Array.from(normaliseCam([-1, 0, 2, 4]))).toEqual([0, 0, 0.5, 1]);
    expect(Array.from(normaliseCam([-1, -2]))).toEqual([0, 0]);
  });
});

describe('CAM montage', () => {
  it('writes a PNG of the expected size: hot pixels redder than cold ones, the mask outlined', async () => {
    const shape = [4, 32, 32] as const;
    const ct = makeVolume({ data: new Uint8Array(4 * 32 * 32).fill(90), shape, intensity: 'uint8-windowed' });
    // Hot in the left half of every slice, cold in the right; a mask square at rows/cols 20..27.
    const heat = makeVolume({
      data: Float32Array.from({ length: 4 * 32 * 32 }, (_, i) => (i % 32 < 16 ? 1 : 0)),
      shape,
      intensity: 'unknown',
    });
    const mask = makeVolume({
      data: Uint8Array.from({ length: 4 * 32 * 32 }, (_, i) => {
        const y = Math.floor(i / 32) % 32;
        const x = i % 32;
        return y >= 20 && y < 28 && x >= 20 && x < 28 ? 1 : 0;
      }),
      shape,
      intensity: 'label',
    });
    const fake = { cam: heat, classId: 2, predicted: 3, probability: 0.61, lowRes: { layer: 4 } } as unknown as ClassActivation;
    const path = join(await mkdtemp(join(tmpdir(), 'covsev-cam-')), 'cam.png');
    await writeCamMontage(path, ct, fake, { mask, slices: [1, 2], columns: 2 });
    const { width, height, rgb } = decodePngRgb(await readFile(path));
    expect([width, height]).toEqual([64, 32 + CAPTION_HEIGHT]);
    const px = (y: number, x: number) =>
      Array.from(rgb.subarray(((CAPTION_HEIGHT + y) * width + x) * 3, ((CAPTION_HEIGHT + y) * width + x) * 3 + 3));
    const redness = ([r, g, b]: number[]) => (r as number) - ((g as number) + (b as number)) / 2;
    for (const tile of [0, 32]) {
      const hot = px(8, tile + 8);
      const cold = px(8, tile + 24);
      expect(redness(hot)).toBeGreaterThan(redness(cold) + 30);
      expect(cold).toEqual([90, 90, 90]);
      expect(px(20, tile + 23)).toEqual([255, 255, 255]); // top edge of the mask
      expect(px(23, tile + 23)).toEqual([90, 90, 90]); // inside: not drawn
    }
    expect(camCaption(fake)).toBe('CAM Severe | predicted Critical p 0.61');
    expect(camCaption(fake, ['a', 'b', 'c'])).toBe('CAM c | predicted class 3 p 0.61');
    expect(camCaption({ ...fake, lowRes: { ...fake.lowRes, layer: 2 } })).toBe(
      'Grad-CAM layer 2 Severe | predicted Critical p 0.61',
    );
    const plain = join(await mkdtemp(join(tmpdir(), 'covsev-cam-')), 'plain.png');
    await writeCamMontage(plain, ct, heat, { slices: 3 });
    const decoded = decodePngRgb(await readFile(plain));
    expect([decoded.width, decoded.height]).toEqual([64, 64]); // no caption without a ClassActivation; 2 x 2 tiles
  });
});
