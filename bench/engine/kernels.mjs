#!/usr/bin/env node
import { existsSync } from 'node:fs';
// covsev's wasm conv-gradient kernels against the alternatives, on CMC / U-Net shapes (issue 3).
// Not a test: run `pnpm --filter @covsev/engine build && node bench/engine/kernels.mjs [--others]`
// (--others: only the table of the other kernels, pooling gradients, tiles, sums, batch norm;
// --dw-forms: only the onnxruntime filter-gradient forms, taps / conv, on the CMC step's
// and U-Net's shapes, the forms alternating call by call).
// Prints GFLOP/s (2 FLOPs per multiply-add of the forward conv; each gradient costs the same),
// medians of COVSEV_BENCH_RUNS runs (default 5), and writes bench/out/engine-kernels.json.
//   fwd          wasm Conv2D (XNNPACK), for scale
//   dx stock     the wasm backend's own Conv2DBackpropInput (a scalar C loop)
//   dx covsev    covsev's Conv2DBackpropInput (one XNNPACK conv + phase interleave)
//   dW covsev    covsev's Conv2DBackpropFilter (XNNPACK conv of x^T by dy^T, dilation = stride;
//                stride 1 with Ci*K*K <= 36: shifted views of x times dy; 1x1 stride 1: one matMul)
//   dW im2col    the alternative: per filter tap, a strided slice of x and a matMul with dy
//   dW cpu       tfjs cpu backend (the only stock one), U-Net row only, timed at 1/16 size
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dist = `${root}packages/engine/dist/`;
if (!existsSync(`${dist}kernels/index.js`)) {
  console.error('bench/engine/kernels.mjs: build the engine first: pnpm --filter @covsev/engine build');
  process.exit(2);
}
// The engine's own @tensorflow/tfjs (the root has none), so one tfjs-core instance is shared.
const tf = await import(createRequire(`${root}packages/engine/package.json`).resolve('@tensorflow/tfjs'));
const { initBackend } = await import(`${dist}backend/index.js`);
const { BatchNorm } = await import(`${dist}layers/index.js`);
const { disableOnnxConv, enableOnnxConv, onnxConvDwForm, registerCovsevKernels, unregisterCovsevKernels } = await import(
  `${dist}kernels/index.js`
);
const RUNS = Number(process.env.COVSEV_BENCH_RUNS ?? 5);

// XNNPACK columns first; the onnxruntime columns switch covsev's onnxruntime convolutions on per row.
const info = await initBackend({ prefer: 'wasm', convolutions: 'xnnpack' });

const onlyDwForms = process.argv.includes('--dw-forms');
const onlyOthers = process.argv.includes('--others') || onlyDwForms;
const convShapes = [
  { name: 'CMC layer, 3x3 s2', x: [32, 64, 64, 32], k: 3, co: 64, s: 2 },
  { name: 'U-Net, 3x3 s1', x: [8, 128, 128, 16], k: 3, co: 16, s: 1 },
  { name: 'U-Net, 3x3 s1 wide', x: [8, 64, 64, 64], k: 3, co: 64, s: 1 },
  { name: 'CMC stem, 7x7 s2', x: [16, 128, 128, 2], k: 7, co: 32, s: 2 },
  { name: 'U-Net input, 3x3 s1', x: [8, 256, 256, 1], k: 3, co: 32, s: 1 },
  { name: 'CMC bottleneck, 1x1 s1', x: [32, 32, 32, 64], k: 1, co: 256, s: 1 },
];
const shapes = onlyOthers ? [] : convShapes;

function median(f) {
  f(); // warm-up (XNNPACK operator creation, heap growth)
  const ts = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const r = f();
    r.dataSync();
    ts.push(performance.now() - t0);
    r.dispose();
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)];
}

function im2colFilterGrad(x, dy, k, s) {
  return tf.tidy(() => {
    const [b, h, w, ci] = x.shape;
    const [, oh, ow, co] = dy.shape;
    const pt = Math.max(0, Math.floor(((oh - 1) * s + k - h) / 2));
    const pl = Math.max(0, Math.floor(((ow - 1) * s + k - w) / 2));
    const xp = tf.pad(x, [
      [0, 0],
      [pt, Math.max(0, (oh - 1) * s + k - h - pt)],
      [pl, Math.max(0, (ow - 1) * s + k - w - pl)],
      [0, 0],
    ]);
    const dyT = tf.transpose(tf.reshape(dy, [b * oh * ow, co]));
    const taps = [];
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) {
        const p = tf.stridedSlice(xp, [0, i, j, 0], [b, i + (oh - 1) * s + 1, j + (ow - 1) * s + 1, ci], [1, s, s, 1]);
        taps.push(tf.matMul(dyT, tf.reshape(p, [b * oh * ow, ci])));
      }
    }
    return tf.transpose(tf.reshape(tf.stack(taps), [k, k, co, ci]), [0, 1, 3, 2]);
  });
}

const rows = [];
for (const c of shapes) {
  const x = tf.randomNormal(c.x);
  const w = tf.randomNormal([c.k, c.k, c.x[3], c.co]);
  const y = tf.conv2d(x, w, c.s, 'same');
  const dy = tf.randomNormal(y.shape);
  const gflop = (2 * y.size * c.k * c.k * c.x[3]) / 1e9;
  const attrs = { strides: c.s, pad: 'same', dataFormat: 'NHWC' };
  const dx = () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: c.x });
  const dW = () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape });
  const row = { shape: c.name, x: c.x, filter: w.shape, stride: c.s, gflop: +gflop.toFixed(3) };
  row.fwd = median(() => tf.conv2d(x, w, c.s, 'same'));
  row.dxCovsev = median(dx);
  row.dwCovsev = median(dW);
  row.dwIm2col = median(() => im2colFilterGrad(x, dy, c.k, c.s));
  enableOnnxConv();
  row.fwdOrt = median(() => tf.conv2d(x, w, c.s, 'same'));
  row.dxOrt = median(dx);
  row.dwOrt = median(dW);
  disableOnnxConv();
  unregisterCovsevKernels();
  row.dxStock = median(dx);
  registerCovsevKernels();
  tf.dispose([x, w, y, dy]);
  rows.push(row);
}
// The cpu backend's dW, for scale: the U-Net shape at 1/16 of the batch x area (the full one
// takes a minute); its GFLOP/s is reported on the U-Net row.
if (!onlyOthers) {
  const xs = [2, 32, 64, 16];
  await tf.setBackend('cpu');
  const x = tf.randomNormal(xs);
  const dy = tf.randomNormal([2, 32, 64, 16]);
  const t0 = performance.now();
  tf.engine()
    .runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 16, 16] })
    .dataSync();
  rows[1].dwCpu = (performance.now() - t0) * 16; // scaled to the row's FLOPs
  tf.dispose([x, dy]);
  await tf.setBackend('wasm');
}

const gfs = (gflop, ms) => (ms === undefined ? '' : ((gflop / ms) * 1e3).toPrecision(2));
const cols = ['fwd', 'dxStock', 'dxCovsev', 'dwCovsev', 'fwdOrt', 'dxOrt', 'dwOrt', 'dwIm2col', 'dwCpu'];
const head = [
  'shape',
  'GFLOP',
  'fwd (XNNPACK)',
  'dx stock',
  'dx covsev',
  'dW covsev',
  'fwd onnxruntime',
  'dx onnxruntime',
  'dW onnxruntime',
  'dW im2col',
  'dW cpu',
];
console.log(`\nGFLOP/s (ms) on ${info.name}, ${info.simd ? 'SIMD' : 'no SIMD'}, ${info.threads} thread(s); median of ${RUNS}`);
console.log(head.join(' | '));
for (const r of rows) {
  const cells = cols.map((k) => (r[k] === undefined ? '-' : `${gfs(r.gflop, r[k])} (${r[k].toFixed(0)})`));
  console.log([`${r.shape} x[${r.x}] k${r.filter[0]} s${r.stride}`, r.gflop.toFixed(2), ...cells].join(' | '));
}
if (onlyDwForms) {
  // The filter-gradient geometries of a 16x64x64 resnest-tiny-3d CMC step (2 scans: 32 slices;
  // the mixed batch 64), then U-Net ones. ms, median of max(RUNS, 9), forms alternating.
  const dwShapes = [
    { name: 'CMC stem 7x7 s2, 2 -> 8', x: [32, 64, 64, 2], k: 7, co: 8, s: 2 },
    { name: 'CMC stem 7x7 s2, 2 -> 8, mixed batch', x: [64, 64, 64, 2], k: 7, co: 8, s: 2 },
    { name: 'CMC stem 7x7 s2, 2 -> 8, 32x128x128 micro-batch of 3', x: [96, 128, 128, 2], k: 7, co: 8, s: 2 },
    { name: 'CMC stem 3x3, 8 -> 8', x: [32, 32, 32, 8], k: 3, co: 8, s: 1 },
    { name: 'CMC stem 3x3, 8 -> 16', x: [32, 32, 32, 8], k: 3, co: 16, s: 1 },
    { name: 'CMC split attention 3x3, 8 -> 16 (a group)', x: [32, 16, 16, 8], k: 3, co: 16, s: 1 },
    { name: 'CMC split attention 3x3, 16 -> 32 (a group)', x: [32, 16, 16, 16], k: 3, co: 32, s: 1 },
    { name: 'CMC split attention 3x3, 32 -> 64 (a group)', x: [16, 8, 8, 32], k: 3, co: 64, s: 1 },
    { name: 'U-Net input 3x3, 1 -> 32', x: [8, 128, 128, 1], k: 3, co: 32, s: 1 },
    { name: 'U-Net 3x3, 16 -> 16', x: [8, 128, 128, 16], k: 3, co: 16, s: 1 },
    { name: 'ResNet-34 stem 7x7 s2, 3 -> 64', x: [8, 128, 128, 3], k: 7, co: 64, s: 2 },
  ];
  const forms = ['taps', 'conv'];
  const runs = Math.max(RUNS, 9);
  enableOnnxConv();
  console.log(`\nfilter gradient on onnxruntime, ms (median of ${runs}, forms alternating):`);
  console.log(['shape', ...forms, 'conv / taps'].join(' | '));
  for (const c of dwShapes) {
    const x = tf.randomNormal(c.x);
    const y = tf.conv2d(x, tf.zeros([c.k, c.k, c.x[3], c.co]), c.s, 'same');
    const dy = tf.randomNormal(y.shape);
    const attrs = { strides: c.s, pad: 'same', dataFormat: 'NHWC', filterShape: [c.k, c.k, c.x[3], c.co] };
    const times = Object.fromEntries(forms.map((f) => [f, []]));
    for (let r = -1; r < runs; r++) {
      for (const form of forms) {
        onnxConvDwForm(form);
        const t0 = performance.now();
        const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs);
        dw.dataSync();
        if (r >= 0) times[form].push(performance.now() - t0);
        dw.dispose();
      }
    }
    onnxConvDwForm('auto');
    const med = (a) => a.sort((p, q) => p - q)[Math.floor(a.length / 2)];
    const ms = forms.map((f) => med(times[f]));
    console.log([`${c.name} x[${c.x}]`, ...ms.map((t) => t.toFixed(2)), (ms[1] / ms[0]).toFixed(2)].join(' | '));
    tf.dispose([x, y, dy]);
  }
  disableOnnxConv();
  process.exit(0);
}
// The other kernels covsev replaces: stock wasm against covsev, ms, fresh inputs each run (the
// wasm backend caches XNNPACK operators by input: reusing one tensor would flatter XNNPACK).
function medianFresh(make, f) {
  const ts = [];
  for (let i = 0; i <= RUNS; i++) {
    const inputs = make();
    for (const t of inputs) t.dataSync();
    const t0 = performance.now();
    const r = f(...inputs);
    r.dataSync();
    if (i > 0) ts.push(performance.now() - t0);
    tf.dispose([r, ...inputs]);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)];
}
const bnStats = (c) => [tf.randomNormal([c]), tf.randomUniform([c], 0.5, 2), tf.randomNormal([c]), tf.randomNormal([c])];
const others = [
  {
    name: 'MaxPoolGrad 2x2 s2, x [8,64,64,16]',
    make: () => {
      const x = tf.randomNormal([8, 64, 64, 16]);
      const y = tf.maxPool(x, 2, 2, 'valid');
      return [x, y, tf.randomNormal(y.shape)];
    },
    f: (x, y, dy) =>
      tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: 2, strides: 2, pad: 'valid' }),
  },
  {
    name: 'MaxPoolGrad 3x3 s2 same, x [32,32,32,64]',
    make: () => {
      const x = tf.randomNormal([32, 32, 32, 64]);
      const y = tf.maxPool(x, 3, 2, 'same');
      return [x, y, tf.randomNormal(y.shape)];
    },
    f: (x, y, dy) =>
      tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: 3, strides: 2, pad: 'same' }),
  },
  // The CMC network's avd pool within slices (AvgPool3d(3, 2, 1)) and its depth pool (3 x 1
  // over [B, D, H*W, C]).
  {
    name: 'AvgPoolGrad 3x3 s2 pad 1, x [64,32,32,32]',
    make: () => [tf.randomNormal([64, 32, 32, 32]), tf.randomNormal([64, 16, 16, 32])],
    f: (x, dy) => tf.engine().runKernel('AvgPoolGrad', { dy, input: x }, { filterSize: 3, strides: 2, pad: 1 }),
  },
  {
    name: 'AvgPoolGrad 3x1 s2x1, x [4,17,256,64]',
    make: () => [tf.randomNormal([4, 17, 256, 64]), tf.randomNormal([4, 8, 256, 64])],
    f: (x, dy) => tf.engine().runKernel('AvgPoolGrad', { dy, input: x }, { filterSize: [3, 1], strides: [2, 1], pad: 'valid' }),
  },
  { name: 'Tile [1,1,1,16] -> [8,64,64,16]', make: () => [tf.randomNormal([1, 1, 1, 16])], f: (x) => tf.tile(x, [8, 64, 64, 1]) },
  {
    name: 'Tile [1,1,1,64] -> [32,32,32,64]',
    make: () => [tf.randomNormal([1, 1, 1, 64])],
    f: (x) => tf.tile(x, [32, 32, 32, 1]),
  },
  { name: 'Sum over [0,1,2] of [8,64,64,16]', make: () => [tf.randomNormal([8, 64, 64, 16])], f: (x) => tf.sum(x, [0, 1, 2]) },
  {
    name: 'Mean over [0,1,2] of [32,32,32,64]',
    make: () => [tf.randomNormal([32, 32, 32, 64])],
    f: (x) => tf.mean(x, [0, 1, 2]),
  },
  { name: 'Sum over 0 of [16384,64] (BN over [M,C])', make: () => [tf.randomNormal([16384, 64])], f: (x) => tf.sum(x, 0) },
  {
    name: 'FusedBatchNorm x [8,64,64,16]',
    make: () => [tf.randomNormal([8, 64, 64, 16]), ...bnStats(16)],
    f: (x, m, v, o, g) => tf.batchNorm(x, m, v, o, g, 1e-3),
  },
  {
    name: 'FusedBatchNorm x [32,32,32,64]',
    make: () => [tf.randomNormal([32, 32, 32, 64]), ...bnStats(64)],
    f: (x, m, v, o, g) => tf.batchNorm(x, m, v, o, g, 1e-3),
  },
];
// A batch-norm layer's training step, forward and backward: covsev's fused kernels
// (CovsevChannelMoments, FusedBatchNorm, CovsevBatchNormGrad) against tfjs ops on the stock kernels.
const bnTrainStep = (channels) => {
  const bn = new BatchNorm({ channels });
  return (x, w) => tf.grad((a) => tf.sum(tf.mul(bn.apply(a, { training: true }), w)))(x);
};
const bn16 = bnTrainStep(16);
const bn64 = bnTrainStep(64);
others.push(
  {
    name: 'BatchNorm training step x [32768,16]',
    make: () => [tf.randomNormal([32768, 16]), tf.randomNormal([32768, 16])],
    f: bn16,
  },
  {
    name: 'BatchNorm training step x [32768,64]',
    make: () => [tf.randomNormal([32768, 64]), tf.randomNormal([32768, 64])],
    f: bn64,
  },
);
const otherRows = [];
for (const o of others) {
  const covsev = medianFresh(o.make, o.f);
  unregisterCovsevKernels();
  const stock = medianFresh(o.make, o.f);
  registerCovsevKernels();
  otherRows.push({ kernel: o.name, stockMs: +stock.toFixed(2), covsevMs: +covsev.toFixed(2) });
}
console.log('\nother kernels (ms, median of fresh inputs)');
console.log('kernel | stock wasm | covsev | speed-up');
for (const r of otherRows) console.log(`${r.kernel} | ${r.stockMs} | ${r.covsevMs} | ${(r.stockMs / r.covsevMs).toFixed(1)}x`);

const outDir = `${root}bench/out/`;
await mkdir(outDir, { recursive: true });
await writeFile(
  `${outDir}engine-kernels.json`,
  `${JSON.stringify({ backend: info, runs: RUNS, rows, others: otherRows }, null, 2)}\n`,
);
console.log('(results in bench/out/engine-kernels.json)');
