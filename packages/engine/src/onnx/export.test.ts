/**
 * THE ONNX parity test: a small CMC-like network of covsev layers, exported to ONNX (batch norm
 * folded) and run in onnxruntime-node, gives the tfjs eval-mode output to 1e-4.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AvgPool3d } from '../layers/avgPool3d.js';
import { BatchNorm } from '../layers/batchNorm.js';
import { Conv1kk } from '../layers/conv1kk.js';
import { Flatten } from '../layers/flatten.js';
import { GlobalAvgPool3d } from '../layers/globalAvgPool3d.js';
import { Linear } from '../layers/linear.js';
import { MaxPool1kk } from '../layers/maxPool1kk.js';
import { ReLU } from '../layers/relu.js';
import { isVolume5, slicesToNcdhw, tensorOf, volumeFromNcdhw } from '../layers/volume.js';
import { type Module, namedVariables, Residual, Sequential } from '../module.js';
import { buildOnnxModel, exportOnnx } from './export.js';
import { onnx } from './proto.js';
import { OnnxSession } from './session.js';

/** Stem (conv 3x3 s2 + BN + ReLU + maxpool 1x3x3), a residual block with an avd pool, a grouped conv and an avg-pool shortcut, a depth pool, global pool, Linear. */
function smallNet(rng: Rng, cin: number): Sequential {
  const conv = (i: number, o: number, k: number, extra: { stride?: number; groups?: number } = {}) =>
    new Conv1kk({ inChannels: i, outChannels: o, kernel: k, padding: k >> 1, bias: false, rng, ...extra });
  return new Sequential({
    conv1: conv(cin, 8, 3, { stride: 2 }),
    bn1: new BatchNorm({ channels: 8 }),
    relu: new ReLU(),
    maxpool: new MaxPool1kk(),
    layer1: new Residual({
      main: {
        conv1: conv(8, 8, 1),
        bn1: new BatchNorm({ channels: 8 }),
        relu1: new ReLU(),
        conv2: conv(8, 8, 3, { groups: 2 }),
        bn2: new BatchNorm({ channels: 8 }),
        relu2: new ReLU(),
        avd: new AvgPool3d({ kernel: 3, stride: 2, padding: 1 }),
        conv3: conv(8, 16, 1),
        bn3: new BatchNorm({ channels: 16 }),
      },
      shortcut: new Sequential([new AvgPool3d({ kernel: 2, stride: 2 }), conv(8, 16, 1), new BatchNorm({ channels: 16 })]),
    }),
    pool: new AvgPool3d({ kernel: 3, stride: 2, padding: 1 }),
    gap: new GlobalAvgPool3d(),
    fc: new Linear({ inFeatures: 16, outFeatures: 4, rng }),
  });
}

/** Non-trivial batch norm statistics and affine parameters, so folding is really exercised. */
function randomiseBatchNorms(model: Module, rng: Rng): void {
  for (const { name, variable } of namedVariables(model)) {
    const n = variable.size;
    const values = (f: () => number) => tf.tensor(Float32Array.from({ length: n }, f), variable.shape);
    if (name.endsWith('running_mean')) variable.assign(values(() => rng.normal(0, 0.3)));
    else if (name.endsWith('running_var')) variable.assign(values(() => rng.range(0.5, 2)));
    else if (/bn\d?\.weight$|\.2\.weight$/.test(name)) variable.assign(values(() => rng.range(0.5, 1.5)));
    else if (/bn\d?\.bias$|\.2\.bias$/.test(name)) variable.assign(values(() => rng.normal(0, 0.2)));
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

function randomInput(rng: Rng, shape: readonly number[]): Float32Array {
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal());
}

describe('ONNX export + onnxruntime-node against tfjs (eval mode)', () => {
  let dir: string;
  beforeAll(async () => {
    await tf.setBackend('wasm');
    dir = await mkdtemp(join(tmpdir(), 'covsev-onnx-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a small CMC-like network: same logits to 1e-4, batch norm folded, file written atomically', async () => {
    const rng = Rng.fromSeed(7);
    const shape = [2, 2, 8, 32, 32] as const; // B, C, D, H, W
    const model = smallNet(rng, shape[1]);
    // A few train-mode passes give real running statistics; then spread them further.
    for (let i = 0; i < 2; i++) {
      tf.tidy(() => {
        model.apply(volumeFromNcdhw(randomInput(rng, shape), shape), { training: true });
      });
    }
    randomiseBatchNorms(model, rng);

    const path = join(dir, 'small.onnx');
    const info = await exportOnnx(model, shape, path);
    expect(await readdir(dir)).toEqual(['small.onnx']); // no temporary file left behind
    expect(info.opCounts.BatchNormalization ?? 0).toBe(0);
    expect(info.outputShape).toEqual(['batch', 4]);

    // The file itself: opset 17, IR 8, no BatchNormalization node, initializers named like PyTorch.
    const proto = onnx.ModelProto.decode(await readFile(path));
    expect(Number(proto.irVersion)).toBe(8);
    expect(Number(proto.opsetImport[0]?.version)).toBe(17);
    const ops = proto.graph?.node?.map((n) => n.opType) ?? [];
    expect(ops).not.toContain('BatchNormalization');
    expect(ops.filter((o) => o === 'Conv')).toHaveLength(5);
    const inits = proto.graph?.initializer?.map((t) => t.name) ?? [];
    expect(inits).toContain('conv1.weight');
    expect(inits).toContain('conv1.bias'); // the folded batch norm
    expect(inits).toContain('layer1.conv2.weight');
    expect(inits).toContain('layer1.downsample.1.weight');
    expect(inits.some((n) => n?.includes('running'))).toBe(false);

    const input = randomInput(rng, shape);
    const session = await OnnxSession.create(path, { intraOpNumThreads: 2 });
    expect(session.executionProviders).toContain('cpu');
    await session.runSingle(input, shape); // warm-up
    let t0 = performance.now();
    const ortOut = await session.runSingle(input, shape);
    const ortMs = performance.now() - t0;
    expect(ortOut.dims).toEqual([2, 4]);

    const x = volumeFromNcdhw(input, shape);
    tf.tidy(() => tensorOf(model.apply(x, { training: false }))).dispose(); // warm-up
    t0 = performance.now();
    const y = model.apply(x, { training: false });
    const tfData = await tensorOf(y).data();
    const tfMs = performance.now() - t0;

    const diff = maxAbsDiff(ortOut.data, tfData);
    console.info(
      `[onnx parity] input [${shape}]: max |onnxruntime - tfjs| = ${diff.toExponential(2)}; ` +
        `one forward: onnxruntime-node ${ortMs.toFixed(1)} ms (cpu, 2 threads), tfjs ${tf.getBackend()} ${tfMs.toFixed(1)} ms; ` +
        `ops ${JSON.stringify(info.opCounts)}`,
    );
    expect(diff).toBeLessThanOrEqual(1e-4);
    expect(Math.max(...tfData.map(Math.abs))).toBeGreaterThan(1e-3); // not a trivially zero output

    // The batch is symbolic: one volume through the same file.
    const one = await session.runSingle(input.subarray(0, input.length / 2), [1, ...shape.slice(1)]);
    expect(maxAbsDiff(one.data, tfData.subarray(0, 4))).toBeLessThanOrEqual(1e-4);
    await session.release();
    tf.dispose([x.tensor, tensorOf(y)]);
  });

  it('volume outputs come back as NCDHW (or as slices), 2D models need no transpose, Flatten keeps PyTorch order', async () => {
    const rng = Rng.fromSeed(11);
    const shape = [2, 3, 4, 6, 6] as const;
    const body = new Sequential([
      new Conv1kk({ inChannels: 3, outChannels: 5, kernel: 3, padding: 1, rng }),
      new BatchNorm({ channels: 5 }),
      new ReLU(),
      new AvgPool3d({ kernel: [3, 1, 1], stride: [1, 1, 1], padding: [1, 0, 0] }),
    ]);
    randomiseBatchNorms(body, rng);
    const input = randomInput(rng, shape);
    const y = body.apply(volumeFromNcdhw(input, shape), { training: false });
    expect(isVolume5(y)).toBe(true);
    const expected = slicesToNcdhw(await tensorOf(y).data(), [2, 5, 4, 6, 6]);

    for (const volumeOutput of ['ncdhw', 'slices'] as const) {
      const { bytes, info } = buildOnnxModel(body, shape, { volumeOutput });
      const session = await OnnxSession.create(bytes, { intraOpNumThreads: 1, executionProviders: ['cpu'] });
      const out = await session.runSingle(input, shape);
      if (volumeOutput === 'ncdhw') {
        expect(out.dims).toEqual([2, 5, 4, 6, 6]);
        expect(info.opCounts.Transpose).toBe(2);
        expect(maxAbsDiff(out.data, expected)).toBeLessThanOrEqual(1e-4);
      } else {
        expect(out.dims).toEqual([8, 5, 6, 6]);
        expect(info.opCounts.Transpose).toBe(1);
      }
      await session.release();
    }

    // Flatten after the volume: PyTorch's (C, D, H, W) order on both sides.
    const flat = new Sequential([body, new Flatten()]);
    const fy = await tensorOf(flat.apply(volumeFromNcdhw(input, shape), { training: false })).data();
    expect(maxAbsDiff(fy, expected)).toBeLessThanOrEqual(1e-5);
    const session = await OnnxSession.create(buildOnnxModel(flat, shape).bytes, { intraOpNumThreads: 1 });
    const out = await session.runSingle(input, shape);
    expect(out.dims).toEqual([2, 5 * 4 * 6 * 6]);
    expect(maxAbsDiff(out.data, fy)).toBeLessThanOrEqual(1e-4);
    await session.release();

    // A 2D model on [N, C, H, W]: no Transpose at all.
    const conv2d = new Sequential([
      new Conv1kk({ inChannels: 3, outChannels: 4, kernel: 3, stride: 2, padding: 1, rng }),
      new BatchNorm({ channels: 4 }),
      new MaxPool1kk(),
    ]);
    randomiseBatchNorms(conv2d, rng);
    const img = randomInput(rng, [2, 3, 9, 9]);
    const { bytes, info } = buildOnnxModel(conv2d, [2, 3, 9, 9]);
    expect(info.opCounts.Transpose ?? 0).toBe(0);
    expect(info.outputShape).toEqual(['batch', 4, 3, 3]);
    const s2 = await OnnxSession.create(bytes, { intraOpNumThreads: 1 });
    const o2 = await s2.runSingle(img, [2, 3, 9, 9]);
    const nhwc = tf.transpose(tf.tensor4d(img, [2, 3, 9, 9]), [0, 2, 3, 1]) as tf.Tensor4D;
    const t2 = tf.transpose(tensorOf(conv2d.apply(nhwc, { training: false })), [0, 3, 1, 2]);
    expect(maxAbsDiff(o2.data, await t2.data())).toBeLessThanOrEqual(1e-4);
    await s2.release();
  });

  it('a batch norm with no conv before it stays a BatchNormalization node, and is still right', async () => {
    const rng = Rng.fromSeed(3);
    const model = new Sequential([
      new Linear({ inFeatures: 5, outFeatures: 6, rng }),
      new BatchNorm({ channels: 6 }),
      new ReLU(),
      new Linear({ inFeatures: 6, outFeatures: 2, rng }),
    ]);
    randomiseBatchNorms(model, rng);
    const { bytes, info } = buildOnnxModel(model, [3, 5]);
    expect(info.opCounts.BatchNormalization).toBe(1);
    const input = randomInput(rng, [3, 5]);
    const session = await OnnxSession.create(bytes, { intraOpNumThreads: 1 });
    const out = await session.runSingle(input, [3, 5]);
    const expected = await tensorOf(model.apply(tf.tensor2d(input, [3, 5]), { training: false })).data();
    expect(maxAbsDiff(out.data, expected)).toBeLessThanOrEqual(1e-5);
    await session.release();
  });
});
