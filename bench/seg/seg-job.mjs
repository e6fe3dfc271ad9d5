// One timed job of the segmentation benchmark, in its own process (so peak RSS is its own).
// Usage: node bench/seg/seg-job.mjs train <size> <arch> <width> <batch> <steps>
//        node bench/seg/seg-job.mjs infer-tfjs|infer-onnx <size> <arch> <width> <batch> <runs>
// Prints one JSON line: median ms per step (train) or slices per second (infer), peak RSS, backend.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { formatBackendInfo, initBackend, isWasmHeapExhaustion, namedGrads, SGD } from '../../packages/engine/dist/index.js';
import { Rng } from '../../packages/io/dist/index.js';
import {
  createSegmentationModel,
  defaultInputSpec,
  diceLoss,
  exportSegmentationOnnx,
  loadSegmenter,
  TfjsSegmenter,
} from '../../packages/segment/dist/index.js';

const [mode, sizeArg, arch, widthArg, batchArg, stepsArg] = process.argv.slice(2);
const size = Number(sizeArg);
const width = Number(widthArg);
const batch = Number(batchArg);
const steps = Number(stepsArg);
const rng = Rng.fromSeed(1);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const info = await initBackend({ log: () => {} });
const model = createSegmentationModel({ arch, encoder: 'resnet34', width }, { rng });
const image = Float32Array.from({ length: batch * size * size }, () => rng.normal());
const times = [];
let extra = {};
if (mode === 'train') {
  const trainable = new Map(model.parameters().map(({ name, variable }) => [name, variable]));
  const optimizer = new SGD(trainable, { lr: 1e-3, momentum: 0.9 });
  const x = tf.tensor4d(image, [batch, size, size, 1]);
  const y = tf.tensor4d(
    Float32Array.from({ length: batch * size * size }, () => (rng.uniform() < 0.3 ? 1 : 0)),
    [batch, size, size, 1],
  );
  try {
    for (let i = 0; i < steps + 1; i++) {
      const t0 = performance.now();
      const { value, grads } = namedGrads(trainable, () => diceLoss(model.logits(x, { training: true }), y, { mode: 'binary' }));
      value.dataSync();
      optimizer.step(grads);
      value.dispose();
      for (const g of Object.values(grads)) g.dispose();
      if (i > 0) times.push(performance.now() - t0);
    }
    extra = { msMedian: median(times), msMin: Math.min(...times) };
  } catch (error) {
    // The wasm module aborts when the step needs more than its 4 GiB heap (and cannot go on).
    if (!isWasmHeapExhaustion(error)) throw error;
    extra = { refused: `the step of ${batch} slices of ${size}x${size} does not fit the 4 GiB wasm heap` };
  }
} else {
  const card = {
    format: 'covsev-segmentation-model',
    version: 1,
    task: 'lung',
    architecture: model.config,
    input: defaultInputSpec('lung', [size, size]),
    output: { activation: 'sigmoid', foreground: 0, threshold: 0.5 },
  };
  let segmenter;
  let dir;
  if (mode === 'infer-onnx') {
    dir = mkdtempSync(join(tmpdir(), 'covsev-bench-seg-'));
    const exported = await exportSegmentationOnnx(model, card, dir);
    segmenter = await loadSegmenter(exported.cardPath);
  } else segmenter = new TfjsSegmenter(model, card);
  for (let i = 0; i < steps + 1; i++) {
    const t0 = performance.now();
    await segmenter.predictSlices(image, batch);
    if (i > 0) times.push(performance.now() - t0);
  }
  await segmenter.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
  extra = { msMedian: median(times), slicesPerSecond: batch / (median(times) / 1000) };
}
const params = model.parameters().reduce((n, { variable }) => n + variable.size, 0);
console.log(
  JSON.stringify({
    tool: 'covsev',
    mode,
    arch,
    size,
    width,
    batch,
    params,
    backend: formatBackendInfo(info),
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    ...extra,
  }),
);
