// The segmentation benchmark (`pnpm bench:seg`, issue 9), in one run:
// 1. a training step of U-Net++ / ResNet-34 (width 1, batch 8, SGD, Dice loss) at 1x128x128 and
//    1x256x256, covsev beside its PyTorch twin (bench/reference/seg_twin.py, Debian's python3-torch,
//    2 threads), each job in its own process, with the ratio (goal: at most 1.5);
// 2. inference slices/s at 256x256 (batch 8) through tfjs, through onnxruntime (the exported
//    model, the path `pnpm seg -- predict` takes) and the twin;
// 3. does it learn: on a phantom cohort in the COVID-19-CT-Seg layout, CPU-sized lung and lesion
//    models trained on some scans and scored on held-out scans (Table 2's lung IoU and infection
//    IoU, with the training time). Goal: lung IoU >= 0.97, infection IoU >= 0.65 in under 20
//    minutes of training on 2 cores (cohort-job.mjs says how).
// Flags: --steps N (timed training steps per size, default 2), --skip-speed, --skip-cohort, and
// cohort-job.mjs's flags (--scans, --size, --epochs, ...), passed through.
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const PYTHON = '/usr/bin/python3';
const argv = process.argv.slice(2);
const has = (name) => argv.includes(`--${name}`);
function flag(name, fallback) {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
}

function job(cmd, args, { all = false } = {}) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26, timeout: 60 * 60 * 1000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stderr || r.stdout}`);
  const lines = r.stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'));
  const records = lines.map((l) => JSON.parse(l));
  return all ? records : records[records.length - 1];
}

const hasTorch = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
const fmt = (x, d = 0) => (x === undefined || x === null || Number.isNaN(x) ? '-' : Number(x).toFixed(d));

function speed() {
  const steps = flag('steps', '2');
  const rows = [];
  // 256x256 at batch 8 needs more than the wasm backend's 4 GiB heap in one step: that row says
  // so, and batch 2 at 256x256 (the same activations as batch 8 at 128x128) is measured beside it.
  for (const [size, batch] of [
    [128, 8],
    [256, 8],
    [256, 2],
  ]) {
    process.stdout.write(`  train step U-Net++/ResNet-34, batch ${batch}, 1x${size}x${size}: covsev ... `);
    const ours = job('node', ['bench/seg/seg-job.mjs', 'train', String(size), 'unetplusplus', '1', String(batch), steps]);
    process.stdout.write('pytorch ... ');
    const ref = hasTorch
      ? job(PYTHON, [
          'bench/reference/seg_twin.py',
          'train',
          '--arch',
          'unetplusplus',
          '--sizes',
          String(size),
          '--batch',
          String(batch),
          '--steps',
          steps,
          '--threads',
          '2',
        ])
      : undefined;
    console.log('done');
    rows.push({ what: `train step, batch ${batch}, 1x${size}x${size}`, ours, ref });
  }
  process.stdout.write('  inference 256x256, batch 8: tfjs ... ');
  const tfjs = job('node', ['bench/seg/seg-job.mjs', 'infer-tfjs', '256', 'unetplusplus', '1', '8', '3']);
  process.stdout.write('onnxruntime ... ');
  const onnx = job('node', ['bench/seg/seg-job.mjs', 'infer-onnx', '256', 'unetplusplus', '1', '8', '3']);
  process.stdout.write('pytorch ... ');
  const ref = hasTorch
    ? job(PYTHON, [
        'bench/reference/seg_twin.py',
        'infer',
        '--arch',
        'unetplusplus',
        '--sizes',
        '256',
        '--batch',
        '8',
        '--steps',
        '3',
        '--threads',
        '2',
      ])
    : undefined;
  console.log('done');
  const lines = [
    '| U-Net++ / ResNet-34 (width 1) | covsev | PyTorch 1.13 (2 threads) | ratio covsev/PyTorch | covsev peak RSS MB | PyTorch peak RSS MB |',
    '|---|---|---|---|---|---|',
  ];
  for (const { what, ours, ref: r } of rows)
    lines.push(
      `| ${what}, ms | ${ours.refused ? `refused: ${ours.refused}` : fmt(ours.msMedian)} | ${fmt(r?.msMedian)} | ${r && !ours.refused ? fmt(ours.msMedian / r.msMedian, 2) : '-'} | ${fmt(ours.peakRssMb)} | ${fmt(r?.peakRssMb)} |`,
    );
  for (const [what, r] of [
    ['tfjs (wasm)', tfjs],
    ['onnxruntime (exported model)', onnx],
  ])
    lines.push(
      `| inference 256x256, ${what}, slices/s | ${fmt(r.slicesPerSecond, 1)} | ${fmt(ref?.slicesPerSecond, 1)} | ${ref ? fmt(ref.slicesPerSecond / r.slicesPerSecond, 2) : '-'} (time ratio) | ${fmt(r.peakRssMb)} | ${fmt(ref?.peakRssMb)} |`,
    );
  lines.push(
    `covsev backend: ${rows[0].ours.backend}; parameters ${rows[0].ours.params} (PyTorch ${rows[0].ref?.params ?? '-'})`,
  );
  if (!hasTorch) lines.push(`PyTorch twin skipped: ${PYTHON} cannot import torch (apt-get install python3-torch)`);
  return { rows, inference: { tfjs, onnx, ref }, lines };
}

export async function run({ outDir }) {
  const result = {};
  const report = ['# pnpm bench:seg', ''];
  if (!has('skip-speed')) {
    console.log('seg: training step and inference speed beside the PyTorch twin');
    const s = speed();
    result.speed = s;
    report.push('## Speed', '', ...s.lines, '');
    for (const l of s.lines) console.log(l);
  }
  if (!has('skip-cohort')) {
    console.log('seg: lung and lesion models on a phantom COVID-19-CT-Seg cohort (held-out scans)');
    const passThrough = argv.filter(
      (a, i) => !['--skip-speed', '--skip-cohort'].includes(a) && !(a === '--steps' || argv[i - 1] === '--steps'),
    );
    const cohort = job('node', ['bench/seg/cohort-job.mjs', ...passThrough]);
    result.cohort = cohort;
    report.push('## Does it learn?', '', ...cohort.lines, '');
    for (const l of cohort.lines) console.log(l);
  }
  await writeFile(`${outDir}seg.md`, `${report.join('\n')}\n`);
  console.log('(table in bench/out/seg.md)');
  return result;
}
