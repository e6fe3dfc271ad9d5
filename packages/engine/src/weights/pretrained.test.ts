/**
 * loadPretrained: SHA-256 pinning (a mismatch leaves the model untouched), a map's renames and
 * drops, inflation of 2D kernels, the stem's `random` and `mean` initialisations, strict errors
 * naming the file and the tensor.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CovsevInputError, Rng } from '@covsev/io/core';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchNorm, Conv1kk } from '../layers/index.js';
import { disposeModule, Sequential, variableMap } from '../module.js';
import { StateDictMismatchError, torchStateDict } from '../torchWeights.js';
import { formatWeightsInspection, inspectWeights } from './inspect.js';
import {
  inflate2dKernel,
  loadPretrained,
  mapWeights,
  meanStemKernel,
  sha256Hex,
  type WeightMap,
  weightsFileSha256,
} from './pretrained.js';
import { encodeSafetensors, readSafetensors, type SafetensorsInput, writeSafetensors } from './safetensors.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const dir = mkdtempSync(join(tmpdir(), 'covsev-pretrained-'));

/** covsev side: stem.0 (2 -> 4, 7 x 7), stem.1 bn, body (4 -> 4, 3 x 3). */
function net(): Sequential {
  const rng = Rng.fromSeed(5);
  return new Sequential({
    stem: new Sequential([
      new Conv1kk({ inChannels: 2, outChannels: 4, kernel: 7, stride: 2, padding: 3, bias: false, rng }),
      new BatchNorm({ channels: 4 }),
    ]),
    body: new Conv1kk({ inChannels: 4, outChannels: 4, kernel: 3, padding: 1, bias: false, rng }),
  });
}

/** A ResNeSt-like map: conv1 -> stem.0, bn1 -> stem.1, layer -> body, fc dropped. */
const MAP: WeightMap = {
  name: 'toy',
  source: 'this test',
  rename: (k) =>
    k.startsWith('fc.')
      ? null
      : k
          .replace(/^conv1\./, 'stem.0.')
          .replace(/^bn1\./, 'stem.1.')
          .replace(/^layer\./, 'body.'),
  stem: 'stem.0.weight',
  inflate: true,
};

const vals = (n: number, f: (i: number) => number): Float32Array => Float32Array.from({ length: n }, (_, i) => f(i));
/** The checkpoint: an RGB 3 x 3 stem (as ResNeSt's deep stem), batch norm, body, a head. */
function checkpoint(): SafetensorsInput[] {
  return [
    { name: 'conv1.weight', shape: [4, 3, 3, 3], data: vals(108, (i) => Math.sin(i)) },
    { name: 'bn1.weight', shape: [4], data: [1, 2, 3, 4] },
    { name: 'bn1.bias', shape: [4], data: [0.1, 0.2, 0.3, 0.4] },
    { name: 'bn1.running_mean', shape: [4], data: [0, 0, 0, 1] },
    { name: 'bn1.running_var', shape: [4], data: [1, 1, 1, 2] },
    { name: 'bn1.num_batches_tracked', shape: [], data: BigInt64Array.of(42n) },
    { name: 'layer.weight', shape: [4, 4, 3, 3], data: vals(144, (i) => Math.cos(i)) },
    { name: 'fc.weight', shape: [10, 4], data: vals(40, (i) => i) },
    { name: 'fc.bias', shape: [10], data: vals(10, (i) => i) },
  ];
}

async function file(name: string, tensors = checkpoint()): Promise<string> {
  const path = join(dir, name);
  await writeSafetensors(path, tensors);
  return path;
}

const torchWeight = (m: Sequential, key: 'stem' | 'body'): number[] => {
  const child = m.children().find(([k]) => k === key)?.[1];
  const conv = (key === 'stem' ? (child as Sequential).children()[0]?.[1] : child) as Conv1kk;
  return [...conv.torchWeight()];
};

describe('loadPretrained', () => {
  it('loads by the map, inflates, keeps a random stem, drops the head, and returns the SHA-256 to record', async () => {
    const path = await file('ok.safetensors');
    const m = net();
    const stemBefore = torchWeight(m, 'stem');
    const result = await loadPretrained(m, path, { map: MAP });
    expect(result.sha256).toBe(sha256Hex(encodeSafetensors(checkpoint())));
    expect(result.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(result.dropped).toEqual(['fc.weight', 'fc.bias']);
    expect(result.stem).toBe('random');
    expect(result.report.kept).toEqual(['stem.0.weight']);
    expect(result.report.loaded).toEqual([
      'stem.1.weight',
      'stem.1.bias',
      'stem.1.running_mean',
      'stem.1.running_var',
      'stem.1.num_batches_tracked',
      'body.weight',
    ]);
    expect(torchWeight(m, 'stem')).toEqual(stemBefore);
    expect(torchWeight(m, 'body')).toEqual([...vals(144, (i) => Math.cos(i))]);
    expect([...(variableMap(m).get('stem.1.running_var')?.dataSync() ?? [])]).toEqual([1, 1, 1, 2]);
    disposeModule(m);
  });

  it("stemInit 'mean': the RGB kernel averaged, centred in covsev's 7 x 7 and repeated over its 2 channels", async () => {
    const path = await file('mean.safetensors');
    const m = net();
    const result = await loadPretrained(m, path, { map: MAP, stemInit: 'mean' });
    expect(result.stem).toBe('mean');
    expect(result.report.kept).toEqual([]);
    const w = torchWeight(m, 'stem'); // [4, 2, 7, 7]
    const rgb = vals(108, (i) => Math.sin(i));
    for (const [o, c, y, x] of [
      [0, 0, 3, 3],
      [3, 1, 2, 4],
      [2, 0, 4, 2],
    ] as const) {
      const mean =
        ((rgb[((o * 3 + 0) * 3 + y - 2) * 3 + x - 2] as number) +
          (rgb[((o * 3 + 1) * 3 + y - 2) * 3 + x - 2] as number) +
          (rgb[((o * 3 + 2) * 3 + y - 2) * 3 + x - 2] as number)) /
        3;
      expect(w[((o * 2 + c) * 7 + y) * 7 + x]).toBeCloseTo(mean, 6);
    }
    expect(w[((1 * 2 + 1) * 7 + 0) * 7 + 0]).toBe(0);
    expect(w[((1 * 2 + 0) * 7 + 1) * 7 + 5]).toBe(0);
    disposeModule(m);
  });

  it('meanStemKernel: the centred kernel computes the same convolution as the original on a grey image', () => {
    // A 3-channel kernel on (x, x, x) equals 3 x mean-kernel on x; padded 7 x 7 with padding 3 = 3 x 3 with padding 1.
    const rgb = { shape: [2, 3, 3, 3], data: vals(54, (i) => Math.sin(3 * i)) };
    const mean = meanStemKernel(rgb, [2, 1, 7, 7], 'conv1.weight', 'f');
    const x = tf.tensor4d(
      vals(64, (i) => Math.cos(i)),
      [1, 8, 8, 1],
    );
    const toHwio = (t: { shape: number[]; data: ArrayLike<number> }) =>
      tf.tensor4d(Float32Array.from(t.data), t.shape as [number, number, number, number]).transpose([2, 3, 1, 0]) as tf.Tensor4D;
    const a = tf.conv2d(tf.concat([x, x, x], 3), toHwio(rgb), 2, [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ]);
    const b = tf
      .conv2d(x, toHwio(mean as { shape: number[]; data: ArrayLike<number> }), 2, [
        [0, 0],
        [3, 3],
        [3, 3],
        [0, 0],
      ])
      .mul(3);
    expect(a.shape).toEqual(b.shape);
    expect(tf.max(tf.abs(a.sub(b))).dataSync()[0]).toBeLessThan(1e-5);
    expect(() => meanStemKernel(rgb, [2, 1, 2, 2], 'conv1.weight', 'f.safetensors')).toThrow(
      /f.safetensors: tensor 'conv1.weight': stemInit 'mean' cannot make a \[2, 1, 2, 2\] stem from \[2, 3, 3, 3\]/,
    );
  });

  it('inflate2dKernel and mapWeights report every name and where it went', async () => {
    expect(inflate2dKernel({ shape: [8, 4, 3, 3], data: [] }).shape).toEqual([8, 4, 1, 3, 3]);
    expect(inflate2dKernel({ shape: [8], data: [] }).shape).toEqual([8]);
    const m = net();
    const f = await readSafetensors(await file('names.safetensors'));
    const mapped = mapWeights(m, f.tensors, MAP);
    expect(mapped.names).toContainEqual(['layer.weight', 'body.weight']);
    expect(mapped.names).toContainEqual(['fc.bias', null]);
    expect(mapped.state.get('body.weight')?.shape).toEqual([4, 4, 1, 3, 3]);
    expect(mapped.state.has('stem.0.weight')).toBe(false);
    disposeModule(m);
  });

  it('a pinned SHA-256 that differs stops before the model is touched; a matching one (any case, sha256: prefix) loads', async () => {
    const path = await file('pinned.safetensors');
    const m = net();
    const before = torchWeight(m, 'body');
    const good = sha256Hex(encodeSafetensors(checkpoint()));
    const bad = `${good.slice(0, 63)}${good.endsWith('0') ? '1' : '0'}`;
    const error = await loadPretrained(m, path, { map: MAP, sha256: bad }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CovsevInputError);
    expect((error as Error).message).toBe(
      `${path}: SHA-256 mismatch: the file is ${good}, the run pins ${bad}; the model was not touched`,
    );
    expect(torchWeight(m, 'body')).toEqual(before);
    await expect(loadPretrained(m, path, { map: MAP, sha256: 'abc' })).rejects.toThrow(/is not 64 hex digits/);
    const ok = await loadPretrained(m, path, { map: MAP, sha256: `sha256:${good.toUpperCase()}` });
    expect(ok.sha256).toBe(good);
    disposeModule(m);
  });

  it('strict: a missing, an extra and a wrongly shaped tensor are listed together, naming the file; partial loads the rest', async () => {
    const tensors = checkpoint()
      .filter((t) => t.name !== 'bn1.bias')
      .map((t) => (t.name === 'layer.weight' ? { name: t.name, shape: [4, 4, 2, 2], data: vals(64, () => 1) } : t));
    tensors.push({ name: 'layer.extra', shape: [2], data: [1, 2] });
    const path = await file('faulty.safetensors', tensors);
    const m = net();
    const before = [...(variableMap(m).get('stem.1.weight')?.dataSync() ?? [])];
    const error = await loadPretrained(m, path, { map: MAP }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateDictMismatchError);
    const message = (error as Error).message;
    expect(message).toContain(`${path}: the weights do not fit`);
    expect(message).toContain('missing (in the model, not in the file): stem.1.bias');
    expect(message).toContain('unexpected (in the file, not in the model): body.extra');
    expect(message).toContain('wrong shape: body.weight: file [4, 4, 1, 2, 2], model [4, 4, 3, 3]');
    expect([...(variableMap(m).get('stem.1.weight')?.dataSync() ?? [])]).toEqual(before);
    const partial = await loadPretrained(m, path, { map: MAP, partial: true });
    expect(partial.report.missing).toEqual(['stem.1.bias']);
    expect(partial.report.unexpected).toEqual(['body.extra']);
    expect(partial.report.mismatched.map((x) => x.name)).toEqual(['body.weight']);
    expect([...(variableMap(m).get('stem.1.weight')?.dataSync() ?? [])]).toEqual([1, 2, 3, 4]);
    disposeModule(m);
  });

  it('weightsFileSha256: the hash loadPretrained returns; a differing pin or an absent file is refused naming the file', async () => {
    const path = await file('hashed.safetensors');
    const good = sha256Hex(encodeSafetensors(checkpoint()));
    expect(await weightsFileSha256(path)).toBe(good);
    expect(await weightsFileSha256(path, `sha256:${good.toUpperCase()}`)).toBe(good);
    const bad = `${good.slice(0, 63)}${good.endsWith('0') ? '1' : '0'}`;
    await expect(weightsFileSha256(path, bad)).rejects.toThrow(
      `${path}: SHA-256 mismatch: the file is ${good}, the run pins ${bad}`,
    );
    await expect(weightsFileSha256(join(dir, 'absent.safetensors'))).rejects.toThrow(
      /absent.safetensors: cannot read the weights file/,
    );
  });

  it('torchStateDict writes a model in PyTorch layout that loads back exactly (2D kernels for 1 x k x k convs)', async () => {
    const a = net();
    const state = torchStateDict(a);
    expect(state.get('body.weight')?.shape).toEqual([4, 4, 3, 3]);
    expect([...(state.get('body.weight')?.data ?? [])]).toEqual(torchWeight(a, 'body'));
    const renamed = [...state].map(([name, t]) => ({
      name: name
        .replace(/^stem\.0\./, 'conv1.')
        .replace(/^stem\.1\./, 'bn1.')
        .replace(/^body\./, 'layer.'),
      shape: t.shape,
      data: t.data,
    }));
    const path = await file('roundtrip.safetensors', renamed);
    const b = new Sequential({
      stem: new Sequential([
        new Conv1kk({ inChannels: 2, outChannels: 4, kernel: 7, stride: 2, padding: 3, bias: false, rng: Rng.fromSeed(9) }),
        new BatchNorm({ channels: 4 }),
      ]),
      body: new Conv1kk({ inChannels: 4, outChannels: 4, kernel: 3, padding: 1, bias: false, rng: Rng.fromSeed(9) }),
    });
    expect(torchWeight(b, 'body')).not.toEqual(torchWeight(a, 'body'));
    const result = await loadPretrained(b, path, { map: MAP });
    expect(result.stem).toBe('loaded');
    expect(torchWeight(b, 'stem')).toEqual(torchWeight(a, 'stem'));
    expect(torchWeight(b, 'body')).toEqual(torchWeight(a, 'body'));
    disposeModule(a);
    disposeModule(b);
  });

  it('inspectWeights lists each tensor with its covsev layer and says whether a strict load would succeed', async () => {
    const ok = await inspectWeights(net(), await file('inspect.safetensors'), MAP);
    expect(ok.strict).toBe(true);
    expect(ok.tensors.map((t) => [t.name, t.status, t.target])).toEqual([
      ['conv1.weight', 'stem kept', 'stem.0.weight'],
      ['bn1.weight', 'loads', 'stem.1.weight'],
      ['bn1.bias', 'loads', 'stem.1.bias'],
      ['bn1.running_mean', 'loads', 'stem.1.running_mean'],
      ['bn1.running_var', 'loads', 'stem.1.running_var'],
      ['bn1.num_batches_tracked', 'loads', 'stem.1.num_batches_tracked'],
      ['layer.weight', 'loads', 'body.weight'],
      ['fc.weight', 'dropped', null],
      ['fc.bias', 'dropped', null],
    ]);
    const lines = formatWeightsInspection(ok);
    expect(lines[0]).toMatch(/inspect.safetensors: 9 tensors, sha256 [0-9a-f]{64}, map toy, into /);
    expect(lines).toContain('  bn1.num_batches_tracked  I64   []  -> stem.1.num_batches_tracked');
    expect(lines).toContain('  conv1.weight             F32   [4, 3, 3, 3]  -> stem.0.weight (stem kept)');
    expect(lines).toContain('  fc.bias                  F32   [10]  dropped');
    expect(lines.at(-1)).toMatch(/^strict load into .*: would succeed, 6 tensors \(stem: random\)$/);

    const tensors = checkpoint()
      .filter((t) => t.name !== 'bn1.bias')
      .map((t) => (t.name === 'layer.weight' ? { name: t.name, shape: [4, 4, 2, 2], data: vals(64, () => 1) } : t));
    tensors.push({ name: 'layer.extra', shape: [2], data: [1, 2] });
    const bad = await inspectWeights(net(), await file('inspect-bad.safetensors', tensors), MAP, 'mean');
    expect(bad.strict).toBe(false);
    expect(bad.tensors.find((t) => t.name === 'layer.extra')?.status).toBe('no match');
    expect(bad.tensors.find((t) => t.name === 'layer.weight')?.status).toBe('wrong shape');
    const text = formatWeightsInspection(bad);
    expect(text).toContain('  conv1.weight             F32   [4, 3, 3, 3]  -> stem.0.weight (stem: mean of its input channels)');
    expect(text.join('\n')).toContain('would fail (3 faults; --partial loads the 5 that fit)');
    expect(text).toContain('missing (in the model, not in the file): stem.1.bias');
  });

  it('a truncated file is refused with the file and the tensor named', async () => {
    const bytes = encodeSafetensors(checkpoint());
    const path = join(dir, 'truncated.safetensors');
    await import('node:fs/promises').then((fs) => fs.writeFile(path, bytes.subarray(0, bytes.length - 3)));
    const m = net();
    await expect(loadPretrained(m, path, { map: MAP })).rejects.toThrow(
      new RegExp(`${path}: tensor 'fc.bias': data_offsets .* run past the end`),
    );
    disposeModule(m);
  });
});
