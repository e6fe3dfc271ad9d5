/**
 * The 2D segmentation layers (dilated Conv1kk, Upsample2d / upsample2d, GlobalAvgPool2d, AvgPool2d,
 * concatChannels, Sigmoid, Softmax2d): values and gradients on wasm with covsev's kernels (both
 * convolution engines) against the cpu backend over a grid of shapes, without leaked tensors;
 * their ONNX export through onnxruntime-node against the tfjs forward. PyTorch parity is in
 * segmentTorchParity.test.ts.
 */
import { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { disableOnnxConv, enableOnnxConv, onnxConvStatus } from '../kernels/onnxConv.js';
import {
  expectNoLeaks,
  forEachConvEngine,
  itEachCase,
  randomValues,
  rng,
  useWasmAgainstCpu,
} from '../kernels/parity.test-helpers.js';
import { type ForwardContext, type Module, type NamedVariable, Sequential } from '../module.js';
import { buildOnnxModel } from '../onnx/export.js';
import type { OnnxGraphBuilder, OnnxValue, OnnxVolumeValue } from '../onnx/graph.js';
import { OnnxSession } from '../onnx/session.js';
import { concatChannels, concatOnnx } from './concat.js';
import { Conv1kk, hwioToOihw } from './conv1kk.js';
import { Sigmoid, Softmax2d } from './heads.js';
import { AvgPool2d, GlobalAvgPool2d } from './pool2d.js';
import { interpolationTaps, Upsample2d, type UpsampleMode, upsample2d } from './upsample2d.js';
import { type Activation, tensorOf } from './volume.js';

type Shape4 = [number, number, number, number];

/** The largest |a - b| / max(1, |b|). */
function worst(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < b.length; i++)
    m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)) / Math.max(1, Math.abs(b[i] as number)));
  return m;
}

/** y, dx and the parameter gradients of sum(module(x) * g) on `backend`. */
function forwardAndGrads(backend: string, module: Module, x: Float32Array, shape: Shape4, gSeed: number): Float32Array[] {
  tf.setBackend(backend);
  const init = tf.tensor4d(x, shape);
  const input = tf.variable(init, true);
  init.dispose();
  const vars = module.parameters().map((p) => p.variable);
  const y = tf.tidy(() => tensorOf(module.apply(input, { training: true })));
  const g = tf.tensor(randomValues(y.shape, rng(gSeed)), y.shape);
  const { value, grads } = tf.variableGrads(
    () => tf.sum(tf.mul(tensorOf(module.apply(input, { training: true })), g)),
    [input, ...vars],
  );
  const out = [y, ...[input, ...vars].map((v) => grads[v.name] as tf.Tensor)].map((t) => t.dataSync() as Float32Array);
  tf.dispose([input, y, g, value, ...Object.values(grads)]);
  return out;
}

/** Same weights on both backends: the module is built once, its variables live on whichever backend reads them. */
function expectWasmMatchesCpu(module: Module, shape: Shape4, seed: number, tol: number): void {
  const x = randomValues(shape, rng(seed));
  const ref = forwardAndGrads('cpu', module, x, shape, seed + 1);
  tf.setBackend('wasm');
  let got: Float32Array[] = [];
  forwardAndGrads('wasm', module, x, shape, seed + 1); // warm-up: moves the variables, builds sessions
  expectNoLeaks(() => {
    got = forwardAndGrads('wasm', module, x, shape, seed + 1);
  }, module.name);
  expect(got.length).toBe(ref.length);
  ref.forEach((r, i) => expect(worst(got[i] as Float32Array, r), `${module.name}: output ${i}`).toBeLessThanOrEqual(tol));
}

interface ConvCase {
  x: Shape4;
  out: number;
  k: number;
  stride: number;
  dilation: number;
  padding: number;
  groups?: number;
  bias?: boolean;
  activation?: 'relu';
}

const convCases: ConvCase[] = [
  { x: [2, 9, 7, 3], out: 4, k: 3, stride: 1, dilation: 1, padding: 1 },
  { x: [2, 9, 7, 3], out: 4, k: 3, stride: 2, dilation: 1, padding: 1, activation: 'relu' },
  { x: [2, 11, 9, 4], out: 5, k: 3, stride: 1, dilation: 2, padding: 2 },
  { x: [1, 13, 10, 6], out: 8, k: 3, stride: 1, dilation: 3, padding: 3, activation: 'relu' },
  { x: [2, 8, 8, 4], out: 6, k: 3, stride: 1, dilation: 2, padding: 2, groups: 2, bias: false },
  { x: [1, 7, 9, 5], out: 4, k: 3, stride: 1, dilation: 12, padding: 12 },
  { x: [2, 12, 11, 3], out: 4, k: 5, stride: 1, dilation: 2, padding: 1 },
  { x: [2, 6, 5, 8], out: 4, k: 1, stride: 2, dilation: 2, padding: 0 },
  // Padding beyond the dilated reach d(k-1): dx is computed unpadded and cropped.
  { x: [1, 6, 7, 3], out: 2, k: 3, stride: 1, dilation: 2, padding: 5, activation: 'relu' },
];

describe('wasm (covsev kernels) against cpu', () => {
  useWasmAgainstCpu();

  describe('Conv1kk with dilation: output, dx, dW, dbias', () => {
    forEachConvEngine(() =>
      itEachCase(convCases, (c, i) => {
        const conv = new Conv1kk({
          inChannels: c.x[3],
          outChannels: c.out,
          kernel: c.k,
          stride: c.stride,
          dilation: c.dilation,
          padding: c.padding,
          groups: c.groups,
          bias: c.bias,
          activation: c.activation,
          rng: Rng.fromSeed(i + 1),
        });
        expectWasmMatchesCpu(conv, c.x, 100 + i, 2e-5);
      }),
    );
  });

  it('a dilated forward runs on onnxruntime when its convolutions are on (a session of its own)', () => {
    tf.setBackend('wasm');
    expect(enableOnnxConv().enabled).toBe(true);
    try {
      const conv = new Conv1kk({ inChannels: 4, outChannels: 4, kernel: 3, dilation: 5, padding: 5, rng: Rng.fromSeed(9) });
      const before = onnxConvStatus().sessions;
      const y = tf.tidy(() => tensorOf(conv.apply(tf.ones([1, 13, 12, 4]), { training: false })));
      expect(y.shape).toEqual([1, 13, 12, 4]);
      y.dispose();
      expect(onnxConvStatus().sessions).toBe(before + 1);
    } finally {
      disableOnnxConv();
    }
  });

  interface ResizeCase {
    x: Shape4;
    mode: UpsampleMode;
    alignCorners?: boolean;
    scale?: number;
    size?: [number, number];
  }
  const resizeCases: ResizeCase[] = [
    { x: [2, 5, 3, 3], mode: 'nearest', scale: 2 },
    { x: [1, 3, 5, 2], mode: 'nearest', scale: 4 },
    { x: [1, 2, 3, 2], mode: 'nearest', scale: 8 },
    { x: [2, 3, 4, 2], mode: 'nearest', size: [7, 9] },
    { x: [2, 5, 3, 3], mode: 'bilinear', scale: 2 },
    { x: [1, 3, 5, 2], mode: 'bilinear', scale: 4 },
    { x: [1, 3, 3, 2], mode: 'bilinear', scale: 8 },
    { x: [2, 4, 5, 2], mode: 'bilinear', size: [11, 6] },
    { x: [2, 1, 1, 3], mode: 'bilinear', size: [5, 6] },
    { x: [1, 7, 6, 2], mode: 'bilinear', size: [4, 3] },
    { x: [2, 5, 3, 3], mode: 'bilinear', alignCorners: true, scale: 2 },
    { x: [1, 4, 5, 2], mode: 'bilinear', alignCorners: true, scale: 8 },
    { x: [2, 5, 3, 2], mode: 'bilinear', alignCorners: true, size: [9, 7] },
  ];

  describe('Upsample2d: output and dx', () => {
    itEachCase(resizeCases, (c, i) => {
      const up = new Upsample2d(
        c.scale !== undefined
          ? { scale: c.scale, mode: c.mode, alignCorners: c.alignCorners }
          : { size: c.size, mode: c.mode, alignCorners: c.alignCorners },
      );
      expectWasmMatchesCpu(up, c.x, 200 + i, 1e-5);
    });

    it('its gradient is the adjoint of its forward: <resize(x), g> = <x, dx(g)> on every case', () => {
      tf.setBackend('wasm');
      resizeCases.forEach((c, i) => {
        const [, h, w] = c.x;
        const size: [number, number] = c.size ?? [h * (c.scale as number), w * (c.scale as number)];
        const [lhs, rhs] = tf.tidy(() => {
          const x = tf.tensor4d(randomValues(c.x, rng(300 + i)), c.x);
          const y = upsample2d(x, size, c.mode, c.alignCorners);
          const g = tf.tensor(randomValues(y.shape, rng(400 + i)), y.shape);
          const dx = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(upsample2d(xx as tf.Tensor4D, size, c.mode, c.alignCorners), g)))(
            x,
          );
          return [tf.sum(tf.mul(y, g)).dataSync()[0] as number, tf.sum(tf.mul(x, dx)).dataSync()[0] as number];
        });
        expect(Math.abs(lhs - rhs), `case ${i}`).toBeLessThan(1e-4 * Math.max(1, Math.abs(lhs)));
      });
    });
  });

  describe('pools, concat and heads: output and dx', () => {
    it('GlobalAvgPool2d keeps [N, 1, 1, C]', () => {
      tf.setBackend('wasm');
      const y = tf.tidy(() => tensorOf(new GlobalAvgPool2d().apply(tf.ones([2, 5, 3, 4]), { training: false })));
      expect(y.shape).toEqual([2, 1, 1, 4]);
      expect(Array.from(y.dataSync())).toEqual(new Array(8).fill(1));
      y.dispose();
      expectWasmMatchesCpu(new GlobalAvgPool2d(), [2, 7, 5, 3], 500, 1e-5);
    });

    it.each([
      [2, 2, 0, [2, 8, 7, 3]],
      [3, 2, 1, [1, 9, 6, 2]],
      [3, 1, 1, [2, 5, 5, 4]],
    ] as const)('AvgPool2d(k%i, s%i, p%i) on %j', (kernel, stride, padding, shape) => {
      const pool = new AvgPool2d({ kernel, stride, padding });
      expectWasmMatchesCpu(pool, [...shape] as Shape4, 600 + kernel * 10 + padding, 1e-5);
      tf.setBackend('wasm');
      const y = tf.tidy(() => tensorOf(pool.apply(tf.zeros([...shape]), { training: false })));
      expect(y.shape).toEqual([shape[0], pool.outSize(shape[1]), pool.outSize(shape[2]), shape[3]]);
      y.dispose();
    });

    it('Sigmoid and Softmax2d (softmax over the channels of each pixel)', () => {
      expectWasmMatchesCpu(new Sigmoid(), [2, 3, 4, 1], 700, 1e-5);
      expectWasmMatchesCpu(new Softmax2d(), [2, 3, 4, 5], 701, 1e-5);
      tf.setBackend('wasm');
      const sums = tf.tidy(() =>
        tf.sum(tensorOf(new Softmax2d().apply(tf.randomNormal([2, 3, 4, 5], 0, 3, 'float32', 1), { training: false })), 3),
      );
      for (const s of sums.dataSync()) expect(s).toBeCloseTo(1, 6);
      sums.dispose();
    });

    it('concatChannels: values in list order, gradients split back, on wasm as on cpu, no leaks', () => {
      const shapes: Shape4[] = [
        [2, 5, 3, 2],
        [2, 5, 3, 1],
        [2, 5, 3, 4],
      ];
      const data = shapes.map((s, i) => randomValues(s, rng(800 + i)));
      const run = (backend: string) => {
        tf.setBackend(backend);
        return tf.tidy(() => {
          const xs = data.map((d, i) => tf.tensor4d(d, shapes[i] as Shape4));
          const y = concatChannels(xs);
          const g = tf.tensor(randomValues(y.shape, rng(810)), y.shape);
          const dxs = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(tf.square(concatChannels(a as tf.Tensor4D[])), g)))(xs);
          return [y, ...dxs].map((t) => t.dataSync() as Float32Array);
        });
      };
      const ref = run('cpu');
      let got: Float32Array[] = [];
      expectNoLeaks(() => {
        got = run('wasm');
      });
      ref.forEach((r, i) => expect(worst(got[i] as Float32Array, r)).toBeLessThanOrEqual(1e-6));
      // [N, H, W] position (1, 4, 2): channels of x0, then x1, then x2.
      const at = (d: Float32Array, c: number, pos: number) => d[pos * c + 0];
      const pos = (1 * 5 + 4) * 3 + 2;
      expect((got[0] as Float32Array)[pos * 7]).toBe(at(data[0] as Float32Array, 2, pos));
      expect((got[0] as Float32Array)[pos * 7 + 2]).toBe(at(data[1] as Float32Array, 1, pos));
      expect((got[0] as Float32Array)[pos * 7 + 3]).toBe(at(data[2] as Float32Array, 4, pos));
    });
  });
});

describe('bad settings and inputs are refused by name', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });

  it('Conv1kk, Upsample2d, upsample2d, AvgPool2d, concatChannels, concatOnnx', () => {
    const rng1 = Rng.fromSeed(1);
    expect(() => new Conv1kk({ inChannels: 2, outChannels: 2, kernel: 3, stride: 2, dilation: 2, rng: rng1 })).toThrow(
      /dilation 2 needs stride 1/,
    );
    expect(() => new Conv1kk({ inChannels: 2, outChannels: 2, kernel: 3, dilation: 0, rng: rng1 })).toThrow(
      /dilation must be a positive integer/,
    );
    const dilated = new Conv1kk({ inChannels: 2, outChannels: 2, kernel: 3, dilation: 4, rng: rng1 });
    expect(dilated.name).toContain('d4');
    expect(() => dilated.apply(tf.zeros([1, 8, 8, 2]), { training: false })).toThrow(/too small/);
    expect(() => new Upsample2d({ mode: 'nearest' })).toThrow(/either scale or size/);
    expect(() => new Upsample2d({ mode: 'nearest', scale: 2, size: [4, 4] })).toThrow(/either scale or size/);
    expect(() => new Upsample2d({ mode: 'nearest', scale: 1.5 })).toThrow(/positive integer/);
    expect(() => new Upsample2d({ mode: 'nearest', scale: 2, alignCorners: true })).toThrow(/alignCorners needs mode 'bilinear'/);
    expect(() => new Upsample2d({ mode: 'bicubic' as UpsampleMode, scale: 2 })).toThrow(/'nearest' or 'bilinear'/);
    expect(() => upsample2d(tf.zeros([1, 2, 2, 1]), [0, 3], 'nearest')).toThrow(/upsample2d: size/);
    expect(() => new AvgPool2d({ kernel: 2, padding: 2 })).toThrow(/exceeds half the kernel/);
    expect(() => concatChannels([])).toThrow(/nothing/);
    expect(() => concatChannels([tf.zeros([1, 4, 4, 2]), tf.zeros([1, 4, 5, 2])])).toThrow(/tensor 1 has shape \[1,4,5,2\]/);
    const v = (name: string, height: number): OnnxVolumeValue => ({
      kind: 'volume',
      name,
      depth: 1,
      channels: 2,
      height,
      width: 4,
    });
    expect(() => concatOnnx({} as OnnxGraphBuilder, [v('a', 4), v('b', 5)])).toThrow(/value 1 \('b'\) is D1 x 5x4/);
    expect(() => concatOnnx({} as OnnxGraphBuilder, [v('a', 4), { kind: 'matrix', name: 'm', features: 3 }])).toThrow(
      /value 1 \('m'\) is not a volume/,
    );
  });

  it('interpolationTaps: PyTorch index rules at the borders', () => {
    expect(Array.from(interpolationTaps(3, 7, 'nearest', false).lo)).toEqual([0, 0, 0, 1, 1, 2, 2]);
    const half = interpolationTaps(2, 4, 'bilinear', false);
    expect(Array.from(half.lo)).toEqual([0, 0, 0, 1]);
    expect(Array.from(half.hi)).toEqual([1, 1, 1, 1]);
    // Output 3 reads src 1.25: past the last input, both taps are input 1 (the weights sum to 1 there).
    expect(Array.from(half.weightHi)).toEqual([0, 0.25, 0.75, 0.25]);
    const corners = interpolationTaps(3, 5, 'bilinear', true);
    expect(Array.from(corners.lo)).toEqual([0, 0, 1, 1, 2]);
    expect(Array.from(corners.weightHi)).toEqual([0, 0.5, 0, 0.5, 0]);
  });
});

/** A decoder-like module: two branches of the input, upsampled back and concatenated (concatOnnx). */
class SkipConcat implements Module {
  readonly name = 'SkipConcat';
  readonly down = new AvgPool2d({ kernel: 2 });
  readonly up = new Upsample2d({ scale: 2, mode: 'nearest' });
  parameters(): NamedVariable[] {
    return [];
  }
  buffers(): NamedVariable[] {
    return [];
  }
  apply(x: Activation, ctx: ForwardContext): Activation {
    const t = tensorOf(x) as tf.Tensor4D;
    return concatChannels([t, tensorOf(this.up.apply(this.down.apply(t, ctx), ctx)) as tf.Tensor4D]);
  }
  toOnnx(graph: OnnxGraphBuilder, input: OnnxValue): OnnxValue {
    const skip = this.up.toOnnx(graph, this.down.toOnnx(graph, input)) as OnnxVolumeValue;
    return concatOnnx(graph, [input, skip]);
  }
}

describe('ONNX export through onnxruntime-node equals the tfjs forward (1e-5)', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });

  const rngW = Rng.fromSeed(3);
  const models: Array<[string, () => Module, Shape4]> = [
    [
      'dilated convs d2, d3 (+relu), 1x1 d2',
      () =>
        new Sequential([
          new Conv1kk({ inChannels: 3, outChannels: 4, kernel: 3, dilation: 2, padding: 2, rng: rngW }),
          new Conv1kk({ inChannels: 4, outChannels: 4, kernel: 3, dilation: 3, padding: 3, activation: 'relu', rng: rngW }),
          new Conv1kk({ inChannels: 4, outChannels: 2, kernel: 1, dilation: 2, rng: rngW }),
        ]),
      [2, 11, 9, 3],
    ],
    [
      'nearest x2, x4',
      () => new Sequential([new Upsample2d({ scale: 2, mode: 'nearest' }), new Upsample2d({ scale: 4, mode: 'nearest' })]),
      [2, 3, 5, 2],
    ],
    ['nearest to 7x9', () => new Upsample2d({ size: [7, 9], mode: 'nearest' }), [1, 3, 4, 2]],
    [
      'bilinear x2, x8',
      () => new Sequential([new Upsample2d({ scale: 2, mode: 'bilinear' }), new Upsample2d({ scale: 8, mode: 'bilinear' })]),
      [2, 3, 5, 2],
    ],
    [
      'bilinear to 11x6 and to 3x4',
      () =>
        new Sequential([new Upsample2d({ size: [11, 6], mode: 'bilinear' }), new Upsample2d({ size: [3, 4], mode: 'bilinear' })]),
      [1, 4, 5, 2],
    ],
    [
      'bilinear 1x1 to 5x6 (ASPP pooling)',
      () => new Sequential([new GlobalAvgPool2d(), new Upsample2d({ size: [5, 6], mode: 'bilinear' })]),
      [2, 5, 6, 3],
    ],
    [
      'bilinear align_corners x4 and to 9x7',
      () =>
        new Sequential([
          new Upsample2d({ scale: 4, mode: 'bilinear', alignCorners: true }),
          new Upsample2d({ size: [9, 7], mode: 'bilinear', alignCorners: true }),
        ]),
      [2, 3, 2, 2],
    ],
    [
      'AvgPool2d(2), AvgPool2d(3, 2, 1), GlobalAvgPool2d',
      () =>
        new Sequential([
          new AvgPool2d({ kernel: 2 }),
          new AvgPool2d({ kernel: 3, stride: 2, padding: 1 }),
          new GlobalAvgPool2d(),
        ]),
      [2, 13, 10, 3],
    ],
    ['concat of a skip (concatOnnx), Softmax2d', () => new Sequential([new SkipConcat(), new Softmax2d()]), [2, 6, 8, 3]],
    ['Sigmoid', () => new Sigmoid(), [2, 5, 4, 1]],
  ];

  it.each(models)('%s', async (_name, make, shape) => {
    const model = make();
    const [n, h, w, c] = shape;
    const x = randomValues(shape, rng(900 + h * w));
    const y = tf.tidy(() => tensorOf(model.apply(tf.tensor4d(x, shape), { training: false })));
    const [, oh, ow, oc] = y.shape as Shape4;
    const ref = tf.tidy(() => tf.transpose(y, [0, 3, 1, 2]).dataSync() as Float32Array);
    y.dispose();
    const { bytes, info } = buildOnnxModel(model, [n, c, h, w]);
    expect(info.outputShape).toEqual(['batch', oc, oh, ow]);
    const session = await OnnxSession.create(bytes, { intraOpNumThreads: 1 });
    const nchw = tf.tidy(() => tf.transpose(tf.tensor4d(x, shape), [0, 3, 1, 2]).dataSync() as Float32Array);
    const out = await session.runSingle(nchw, [n, c, h, w]);
    await session.release();
    expect(out.dims).toEqual([n, oc, oh, ow]);
    expect(worst(out.data, ref)).toBeLessThanOrEqual(1e-5);
  });

  it('a dilated Conv1kk writes its dilations; the torch layout round-trips unchanged', () => {
    const conv = new Conv1kk({ inChannels: 2, outChannels: 3, kernel: 3, dilation: 2, padding: 2, rng: rngW });
    const { bytes } = buildOnnxModel(conv, [1, 2, 8, 8]);
    expect(Buffer.from(bytes).includes(Buffer.from('dilations'))).toBe(true);
    const w = conv.torchWeight();
    conv.setTorchWeight(w);
    expect(hwioToOihw(conv.weight.dataSync(), conv.weight.shape)).toEqual(w);
  });
});
