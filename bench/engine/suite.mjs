// The engine benchmark (issue 3): the CMC training step (two views, mixup pass, all losses, Adam)
// and full-size CMC inference, covsev beside its PyTorch twin (bench/reference/cmc_twin.py, run
// with Debian's python3-torch), each job in its own process (peak RSS its own), same machine, same run.
// COVSEV_BENCH_FULL=0 skips the full-size inference rows (minutes of work).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const PYTHON = '/usr/bin/python3';
const FULL = process.env.COVSEV_BENCH_FULL !== '0';

function job(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26, timeout: 30 * 60 * 1000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stderr || r.stdout}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

const hasTorch = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
const TINY = { name: 'resnest-tiny-3d', layers: '1,1,1,1', width: 16, stem: 8 };
const R50 = { name: 'resnest50-3d', layers: '3,4,6,3', width: 64, stem: 32 };

/** Arguments of bench/reference/cmc_twin.py for a network of the table above. */
function twinArgs(mode, size, net, extra) {
  return [
    'bench/reference/cmc_twin.py',
    mode,
    '--size',
    size,
    '--layers',
    net.layers,
    '--width',
    String(net.width),
    '--stem',
    String(net.stem),
    ...extra,
    '--threads',
    '2',
  ];
}

const references = new Map();

/** One training-step row: covsev (micro-batches: undefined, a number or 'auto'; workers: 0 = this thread) beside PyTorch. */
function trainRow(label, size, net, batch, steps, microBatch, workers = 0) {
  process.stdout.write(`  ${label}${workers ? `, ${workers} workers` : ''} ... `);
  const ours = job('node', [
    'bench/engine/cmc-job.mjs',
    'train',
    size,
    net.name,
    String(batch),
    String(steps),
    microBatch === undefined ? '-' : String(microBatch),
    String(workers),
  ]);
  const key = `${size}/${net.name}/${batch}`;
  if (hasTorch && !references.has(key))
    references.set(key, job(PYTHON, twinArgs('train', size, net, ['--batch', String(batch), '--steps', String(steps)])));
  console.log('done');
  return { label, ours, ref: references.get(key) };
}

function inferRows(size, net) {
  process.stdout.write('  full-size inference, onnxruntime ... ');
  const onnx = job('node', ['bench/engine/cmc-job.mjs', 'infer-onnx', size, net.name, '3']);
  process.stdout.write('tfjs ... ');
  const tfjs = job('node', ['bench/engine/cmc-job.mjs', 'infer-tfjs', size, net.name, '1']);
  process.stdout.write('pytorch ... ');
  const ref = hasTorch ? job(PYTHON, twinArgs('infer', size, net, ['--steps', '1', '--warmup', '0'])) : undefined;
  console.log('done');
  return { onnx, tfjs, ref };
}

/** The training pipeline around the step: augmented views, and trainCmc's steps with and without worker threads. */
function pipelineRows() {
  const views = [0, 2].map((w) => {
    process.stdout.write(`  views of a step at 64x256x256, ${w ? `${w} view workers` : 'main thread'} ... `);
    const r = job('node', ['bench/engine/pipeline-job.mjs', 'views', '64,256,256', String(w), '4']);
    console.log('done');
    return r;
  });
  const train = [
    [0, 0],
    [0, 1],
    [2, 0],
    [2, 1],
  ].map(([workers, viewWorkers]) => {
    process.stdout.write(`  trainCmc 16x64x64, ${workers} gradient workers, ${viewWorkers} view workers ... `);
    const r = job('node', ['bench/engine/pipeline-job.mjs', 'train', '16,64,64', String(workers), String(viewWorkers), '2']);
    console.log('done');
    return r;
  });
  return { views, train };
}

export async function run() {
  if (!hasTorch) console.log(`PyTorch twin skipped: ${PYTHON} cannot import torch (apt-get install python3-torch)`);
  console.log('engine: CMC training step (2 views per scan + 2 mixed passes, 2-channel input, all losses, Adam)');
  // The medium step does not fit the wasm heap in one tape: micro-batches sized to it ('auto').
  // Workers: data-parallel gradients on 2 worker threads (CmcDataParallel), one per core here.
  const rows = [
    trainRow('demo 16x64x64', '16,64,64', TINY, 2, 9),
    trainRow('demo 16x64x64', '16,64,64', TINY, 2, 9, undefined, 2),
    trainRow('medium 32x128x128', '32,128,128', TINY, 2, 2, 'auto'),
    trainRow('medium 32x128x128', '32,128,128', TINY, 2, 2, 'auto', 2),
  ];
  console.log('engine: the training pipeline (trainCmc) with worker threads');
  const pipeline = pipelineRows();
  const infer = FULL ? inferRows('64,256,256', R50) : undefined;
  const fmt = (x, d = 0) => (x === undefined || x === null ? '-' : Number(x).toFixed(d));
  console.log('\n| job | covsev ms | PyTorch ms | ratio covsev/PyTorch | covsev peak RSS MB | PyTorch peak RSS MB |');
  console.log('|---|---|---|---|---|---|');
  for (const { label, ours, ref } of rows) {
    console.log(
      `| train step ${label}, 2 scans (${TINY.name})${ours.microBatch ? `, micro-batches of ${ours.microBatch} volumes` : ''}, ${ours.workers ? `${ours.workers} workers` : 'main thread'} | ${ours.refused ? 'refused: wasm heap' : fmt(ours.msMedian)} | ${fmt(ref?.msMedian)} | ${ref && !ours.refused ? fmt(ours.msMedian / ref.msMedian, 2) : '-'} | ${fmt(ours.peakRssMb)} | ${fmt(ref?.peakRssMb)} |`,
    );
  }
  if (infer) {
    for (const [what, r] of [
      ['onnxruntime', infer.onnx],
      ['tfjs', infer.tfjs],
    ]) {
      console.log(
        `| inference 64x256x256 ResNeSt-50, ${what} | ${fmt(r.msMedian)} | ${fmt(infer.ref?.msMedian)} | ${infer.ref ? fmt(r.msMedian / infer.ref.msMedian, 3) : '-'} | ${fmt(r.peakRssMb)} | ${fmt(infer.ref?.peakRssMb)} |`,
      );
    }
  }
  console.log('\n| pipeline job | covsev ms | ratio to the main thread alone | peak RSS MB |');
  console.log('|---|---|---|---|');
  for (const r of pipeline.views)
    console.log(
      `| augmented views of one step (2 scans x 2 views, image + mask), 64x256x256, ${r.viewWorkers ? `${r.viewWorkers} view workers` : 'main thread'} | ${fmt(r.msPerStep)} | ${fmt(r.msPerStep / pipeline.views[0].msPerStep, 2)} | ${fmt(r.peakRssMb)} |`,
    );
  for (const r of pipeline.train)
    console.log(
      `| trainCmc step, 16x64x64, 2 scans, ${r.workers} gradient workers, ${r.viewWorkers} view workers | ${fmt(r.msPerStep)} | ${fmt(r.msPerStep / pipeline.train[0].msPerStep, 2)} | ${fmt(r.peakRssMb)} |`,
    );
  console.log(`covsev backend: ${rows[0].ours.backend}`);
  for (const { label, ours } of rows) if (ours.refused) console.log(`${label}: ${ours.refused}`);
  return { train: rows, pipeline, inference: infer };
}
