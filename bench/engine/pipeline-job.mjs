// One job of the training-pipeline benchmark, in its own process (peak RSS its own).
// Usage: node bench/engine/pipeline-job.mjs views <D,H,W> <viewWorkers> <steps>
//          the two views of 2 scans per step, drawn here, made here (0) or by a ViewPool
//        node bench/engine/pipeline-job.mjs train <D,H,W> <workers> <viewWorkers> <epochs>
//          trainCmc on 8 synthetic scans, batch 2 (4 steps an epoch), resnest-tiny-3d
// Prints one JSON line.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyView, drawView, trainCmc, ViewPool } from '../../packages/cmc/dist/index.js';
import { initBackend } from '../../packages/engine/dist/index.js';
import { makeVolume, Rng } from '../../packages/io/dist/index.js';

const [mode, size, a, b, c] = process.argv.slice(2);
const shape = size.split(',').map(Number);
const rng = Rng.fromSeed(3);
const voxels = shape[0] * shape[1] * shape[2];
const scan = (label) => ({
  name: `ct_scan_${label}`,
  label: label % 4,
  image: makeVolume({
    data: Uint8Array.from({ length: voxels }, () => Math.floor(256 * rng.uniform())),
    shape,
    intensity: 'uint8-windowed',
  }),
  mask: makeVolume({ data: Uint8Array.from({ length: voxels }, () => (rng.uniform() < 0.1 ? 1 : 0)), shape, intensity: 'label' }),
});
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

if (mode === 'views') {
  const viewWorkers = Number(a);
  const steps = Number(b);
  const scans = [scan(0), scan(1)];
  const pool = viewWorkers > 0 ? ViewPool.start(viewWorkers) : undefined;
  const make = (jobs) => (pool ? pool.apply(jobs) : Promise.resolve(jobs.map(applyView)));
  await make([0, 1].flatMap(() => scans.map((s) => drawView(s, rng)))); // warm-up (workers start)
  const times = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await make([0, 1].flatMap(() => scans.map((s) => drawView(s, rng))));
    times.push(performance.now() - t0);
  }
  await pool?.close();
  console.log(
    JSON.stringify({
      mode,
      size: shape,
      viewWorkers,
      msPerStep: median(times),
      peakRssMb: process.resourceUsage().maxRSS / 1024,
    }),
  );
} else if (mode === 'train') {
  const [workers, viewWorkers, epochs] = [Number(a), Number(b), Number(c)];
  await initBackend({ log: () => {} });
  const train = Array.from({ length: 8 }, (_, i) => scan(i));
  const runDir = mkdtempSync(join(tmpdir(), 'covsev-bench-pipeline-'));
  const steps = [];
  let last = performance.now();
  await trainCmc({
    runDir,
    train,
    network: { backbone: 'resnest-tiny-3d' },
    inChannels: 2,
    epochs,
    batchSize: 2,
    seed: 1,
    workers,
    viewWorkers,
    onEvent: (e) => {
      if (e.type !== 'step') return;
      const now = performance.now();
      steps.push(now - last);
      last = now;
    },
  });
  rmSync(runDir, { recursive: true, force: true });
  // The first epoch's first step includes start-up (workers, kernels): left out.
  console.log(
    JSON.stringify({
      mode,
      size: shape,
      workers,
      viewWorkers,
      msPerStep: median(steps.slice(1)),
      steps: steps.length - 1,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
    }),
  );
} else throw new Error(`unknown mode ${mode}`);
