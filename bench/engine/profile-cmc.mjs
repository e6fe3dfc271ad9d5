// Profiles one CMC training step on the current backend: time per kernel, largest first.
// Usage: node bench/engine/profile-cmc.mjs [D,H,W] [backbone] [batch] [--simd off]
import * as tf from '@tensorflow/tfjs';
import { CmcNetwork, cmcTrainStep, drawMixup, inverseFrequencyWeights } from '../../packages/cmc/dist/index.js';
import { Adam, formatBackendInfo, initBackend, useSimdKernels, volumeFromNcdhw } from '../../packages/engine/dist/index.js';
import { Rng } from '../../packages/io/dist/index.js';

const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'));
const [size = '16,64,64', backbone = 'resnest-tiny-3d', batchArg = '2'] = positional;
const flagValue = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
};
const [D, H, W] = size.split(',').map(Number);
const n = Number(batchArg);
console.log(formatBackendInfo(await initBackend({ log: () => {} })));
// --simd off: covsev's SIMD kernels off (batch norm and the optimiser on tfjs ops), for comparisons.
if (flagValue('simd', 'on') === 'off') useSimdKernels(false);
const rng = Rng.fromSeed(1);
const model = new CmcNetwork({ backbone, inChannels: 2 }, rng);
const optimizer = new Adam(new Map(model.parameters().map(({ name, variable }) => [name, variable])));
const input = () =>
  volumeFromNcdhw(
    Float32Array.from({ length: n * 2 * D * H * W }, () => rng.normal()),
    [n, 2, D, H, W],
  );
const batch = { views: [input(), input()], labels: Array.from({ length: n }, (_, i) => i % 4) };
const alpha = inverseFrequencyWeights([85, 62, 85, 26]);
const step = () => cmcTrainStep(model, optimizer, batch, { alpha, mixup: [drawMixup(rng, n), drawMixup(rng, n)] });
step();
const t0 = performance.now();
const profile = await tf.profile(() => {
  step();
});
const wall = performance.now() - t0;
const byKernel = new Map();
for (const k of profile.kernels) {
  const e = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
  e.ms += k.kernelTimeMs;
  e.calls += 1;
  byKernel.set(k.name, e);
}
const rows = [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms);
const total = rows.reduce((s, [, e]) => s + e.ms, 0);
console.log(
  `step wall ${wall.toFixed(0)} ms (profiled), kernels ${total.toFixed(0)} ms, ${profile.kernels.length} kernel calls, peak bytes ${(profile.peakBytes / 2 ** 20).toFixed(0)} MiB`,
);
for (const [name, e] of rows.slice(0, Number(flagValue('top', '20'))))
  console.log(
    `${name.padEnd(28)} ${e.ms.toFixed(1).padStart(8)} ms ${String(e.calls).padStart(5)} calls ${((100 * e.ms) / total).toFixed(1).padStart(5)} %`,
  );
