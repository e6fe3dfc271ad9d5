// One timed job of the engine benchmark, in its own process (so peak RSS is its own).
// Usage: node bench/engine/cmc-job.mjs train <D,H,W> <backbone> <batch> <steps> [microBatch|auto|off|- (auto)] [workers]
//        node bench/engine/cmc-job.mjs infer-tfjs|infer-onnx <D,H,W> <backbone> <runs>
// Prints one JSON line: median ms per step / per volume, peak RSS, backend.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CmcDataParallel, CmcNetwork, cmcTrainStep, drawMixup, inverseFrequencyWeights } from '../../packages/cmc/dist/index.js';
import {
  Adam,
  exportOnnx,
  fitMicroBatch,
  formatBackendInfo,
  initBackend,
  OnnxSession,
  volumeFromNcdhw,
  WasmHeapError,
} from '../../packages/engine/dist/index.js';
import { Rng } from '../../packages/io/dist/index.js';

const [mode, size, backbone, countArg, stepsArg, microArg, workersArg] = process.argv.slice(2);
const [D, H, W] = size.split(',').map(Number);
const C = 2;
const rng = Rng.fromSeed(1);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const randomInput = (n) => Float32Array.from({ length: n * C * D * H * W }, () => rng.normal());

const info = await initBackend({ log: () => {} });
const model = new CmcNetwork({ backbone, inChannels: C }, rng);
const times = [];
let extra = {};
if (mode === 'train') {
  const n = Number(countArg);
  const steps = Number(stepsArg ?? 3);
  const optimizer = new Adam(new Map(model.parameters().map(({ name, variable }) => [name, variable])), {
    lr: 1e-4,
    weightDecay: 1e-5,
  });
  const views = [volumeFromNcdhw(randomInput(n), [n, C, D, H, W]), volumeFromNcdhw(randomInput(n), [n, C, D, H, W])];
  const labels = Array.from({ length: n }, (_, i) => i % 4);
  const alpha = inverseFrequencyWeights([85, 62, 85, 26]);
  const microBatch =
    microArg === undefined || microArg === '-' ? 'auto' : microArg === 'auto' || microArg === 'off' ? microArg : Number(microArg);
  const workers = Number(workersArg ?? 0);
  const dataParallel = workers > 0 ? await CmcDataParallel.start(model, { workers }) : undefined;
  try {
    // Reported where the step is cut: the micro-batch size 'auto' chose, or the one given.
    const fit = microBatch === 'auto' ? fitMicroBatch(model, views[0]) : microBatch;
    if (typeof fit === 'number' && fit < 2 * n) extra = { microBatch: fit };
    if (dataParallel) extra = { ...extra, workers };
    for (let i = 0; i < steps + 1; i++) {
      const t0 = performance.now();
      cmcTrainStep(
        model,
        optimizer,
        { views, labels },
        {
          alpha,
          mixup: [drawMixup(rng, n), drawMixup(rng, n)],
          microBatch,
          ...(dataParallel ? { dataParallel } : {}),
        },
      );
      if (i > 0) times.push(performance.now() - t0); // the first step warms up kernels
    }
  } catch (error) {
    if (!(error instanceof WasmHeapError)) throw error;
    console.log(
      JSON.stringify({
        tool: 'covsev',
        mode,
        size: [D, H, W],
        backbone,
        refused: error.message,
        peakRssMb: process.resourceUsage().maxRSS / 1024,
      }),
    );
    process.exit(0);
  } finally {
    await dataParallel?.close();
  }
} else if (mode === 'infer-tfjs') {
  const runs = Number(countArg ?? 1);
  const x = volumeFromNcdhw(randomInput(1), [1, C, D, H, W]);
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    tf.tidy(() => model.apply(x, { training: false }).dataSync());
    times.push(performance.now() - t0);
  }
} else if (mode === 'infer-onnx') {
  const runs = Number(countArg ?? 3);
  const dir = mkdtempSync(join(tmpdir(), 'covsev-bench-onnx-'));
  const path = join(dir, 'cmc.onnx');
  await exportOnnx(model, [1, C, D, H, W], path);
  const session = await OnnxSession.create(path, { intraOpNumThreads: 2 });
  const input = randomInput(1);
  await session.runSingle(input, [1, C, D, H, W]); // warm-up
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await session.runSingle(input, [1, C, D, H, W]);
    times.push(performance.now() - t0);
  }
  extra = { providers: session.providers ?? undefined };
  rmSync(dir, { recursive: true, force: true });
} else {
  throw new Error(`unknown mode ${mode}`);
}
console.log(
  JSON.stringify({
    tool: 'covsev',
    mode,
    size: [D, H, W],
    backbone,
    backend: formatBackendInfo(info),
    msMedian: median(times),
    runs: times.length,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    ...extra,
  }),
);
