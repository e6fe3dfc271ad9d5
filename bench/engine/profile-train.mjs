#!/usr/bin/env node
import { existsSync } from 'node:fs';
// Profiles one training step of a small 2D conv net on wasm, per kernel (issue 3: "profile a
// training step and attack the biggest line"). Not a test:
//   pnpm --filter @covsev/engine build && node bench/engine/profile-train.mjs [--stock]
// Net: (conv3x3-BN-relu-maxpool2) x 3 with 16/32/64 filters, global average pool, dense 4;
// batch 8 of 64x64x1; softmax cross entropy; Adam. --kernels=A,B keeps only those covsev kernels
// (--kernels=Conv2DBackpropFilter is the stock wasm backend plus the one kernel it lacks);
// --calls lists the slowest kernel calls.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { printKernelProfile } from '../profile-table.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dist = `${root}packages/engine/dist/`;
if (!existsSync(`${dist}kernels/index.js`)) {
  console.error('bench/engine/profile-train.mjs: build the engine first: pnpm --filter @covsev/engine build');
  process.exit(2);
}
const tf = await import(createRequire(`${root}packages/engine/package.json`).resolve('@tensorflow/tfjs'));
const { initBackend } = await import(`${dist}backend/index.js`);
const { registerCovsevKernels, unregisterCovsevKernels } = await import(`${dist}kernels/index.js`);
const STEPS = Number(process.env.COVSEV_BENCH_RUNS ?? 3);
const batch = Number(process.env.COVSEV_BATCH ?? 8);

await initBackend({ prefer: process.env.COVSEV_BACKEND ?? 'wasm' });
const only = process.argv.find((a) => a.startsWith('--kernels='));
if (only !== undefined) {
  unregisterCovsevKernels();
  console.log(`covsev kernels kept: ${registerCovsevKernels(only.slice('--kernels='.length).split(',')).join(', ')}`);
}

const layers = [tf.layers.inputLayer({ inputShape: [64, 64, 1] })];
for (const filters of [16, 32, 64]) {
  layers.push(
    tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', useBias: false }),
    tf.layers.batchNormalization(),
    tf.layers.activation({ activation: 'relu' }),
    tf.layers.maxPooling2d({ poolSize: 2 }),
  );
}
layers.push(tf.layers.globalAveragePooling2d({}), tf.layers.dense({ units: 4 }));
const model = tf.sequential({ layers });
const opt = tf.train.adam(1e-3);
const x = tf.randomNormal([batch, 64, 64, 1]);
const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3].slice(0, batch), 'int32'), 4);
const step = () => {
  const loss = opt.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true })), true);
  loss.dataSync();
  loss.dispose();
};
step(); // warm-up: creates Adam's slots and XNNPACK operators

const times = [];
for (let i = 0; i < STEPS; i++) {
  const t0 = performance.now();
  step();
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
const wall = times[Math.floor(times.length / 2)];

const prof = await tf.profile(step);
printKernelProfile(
  prof,
  `training step, batch ${batch} x 64x64x1, ${tf.getBackend()}: ${wall.toFixed(0)} ms wall (median of ${STEPS})`,
  {
    calls: process.argv.includes('--calls'),
  },
);
