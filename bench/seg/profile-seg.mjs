#!/usr/bin/env node
// Profiles one U-Net++ / ResNet-34 training step (SGD, Dice loss) on wasm with covsev's kernels,
// per kernel (issue 9: "profile a U-Net++/ResNet-34 training step and add kernels for whatever
// dominates"). Not a test:
//   pnpm build && node bench/seg/profile-seg.mjs [--size 128] [--width 1] [--batch 8] [--calls] [--simd off]
// Prints the step's wall time, then the kernels by total time (name | ms | % | calls); --calls
// lists the slowest single calls with their shapes.
import * as tf from '@tensorflow/tfjs';
import { initBackend, namedGrads, SGD, useSimdKernels } from '../../packages/engine/dist/index.js';
import { Rng } from '../../packages/io/dist/index.js';
import { createSegmentationModel, diceLoss } from '../../packages/segment/dist/index.js';
import { printKernelProfile } from '../profile-table.mjs';

function flag(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}
const size = Number(flag('size', '128'));
const width = Number(flag('width', '1'));
const batch = Number(flag('batch', '8'));
const arch = flag('arch', 'unetplusplus');

await initBackend({ prefer: 'wasm' });
// --simd off: covsev's SIMD kernels off (batch norm and the optimiser on tfjs ops), for comparisons.
if (flag('simd', 'on') === 'off') useSimdKernels(false);
const rng = Rng.fromSeed(1);
const model = createSegmentationModel({ arch, encoder: 'resnet34', width }, { rng });
const trainable = new Map(model.parameters().map(({ name, variable }) => [name, variable]));
const optimizer = new SGD(trainable, { lr: 1e-3, momentum: 0.9 });
const x = tf.randomNormal([batch, size, size, 1]);
const y = tf.tidy(() => tf.cast(tf.greater(tf.randomUniform([batch, size, size, 1]), 0.7), 'float32'));
const step = () => {
  const { value, grads } = namedGrads(trainable, () => diceLoss(model.logits(x, { training: true }), y, { mode: 'binary' }));
  value.dataSync();
  optimizer.step(grads);
  value.dispose();
  for (const g of Object.values(grads)) g.dispose();
};
step(); // warm-up: sessions, XNNPACK operators, momentum slots
const t0 = performance.now();
step();
const wall = performance.now() - t0;

const prof = await tf.profile(step);
printKernelProfile(
  prof,
  `${arch} / resnet34 width ${width}, batch ${batch} x ${size}x${size}x1, SGD + Dice, ${tf.getBackend()}: ${wall.toFixed(0)} ms wall`,
  { calls: process.argv.includes('--calls') },
);
