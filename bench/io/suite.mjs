// The io benchmark (issue 2): read + resample a 300-slice 512x512 phantom JPG scan to
// 64x256x256, covsev vs OpenCV + NumPy (Debian's python3), each in its own process, alternating,
// median of N runs; and peak RSS for a 700-slice scan (the 1.5 GB budget).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const PYTHON = '/usr/bin/python3';
const RUNS = Number(process.env.COVSEV_BENCH_RUNS ?? 7);

function sh(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stderr || r.stdout}`);
  return r.stdout;
}

function phantomScan(outDir, slices) {
  const dir = join(outDir, `io-data-${slices}`);
  const scan = join(dir, 'train');
  if (!existsSync(dir)) {
    process.stdout.write(`generating a ${slices}-slice 512x512 phantom scan ... `);
    sh('node', [
      'packages/phantom/dist/cli.js',
      '--layout',
      'cov19-ct-db',
      '--scans',
      '1',
      '--slices',
      String(slices),
      '--size',
      '512x512',
      '--splits',
      '1:0:0',
      '--seed',
      '1',
      '--out',
      dir,
    ]);
    console.log('done');
  }
  const found = sh('bash', [
    '-c',
    `find ${JSON.stringify(scan)} -mindepth 2 -maxdepth 2 -type d -name 'ct_scan_*' | head -1`,
  ]).trim();
  if (!found) throw new Error(`no scan folder under ${scan}`);
  return found;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function run({ outDir }) {
  const scan300 = phantomScan(outDir, 300);
  const hasReference = spawnSync(PYTHON, ['-c', 'import cv2, numpy'], { encoding: 'utf8' }).status === 0;
  if (!hasReference) console.log(`reference skipped: ${PYTHON} lacks cv2/numpy (apt-get install python3-opencv python3-numpy)`);
  const ours = [];
  const oursEvery = [];
  const theirs = [];
  for (let i = 0; i < RUNS; i++) {
    ours.push(JSON.parse(sh('node', ['bench/io/read-resample.mjs', scan300, 'preprocess'])));
    oursEvery.push(JSON.parse(sh('node', ['bench/io/read-resample.mjs', scan300, 'every-slice'])));
    if (hasReference) theirs.push(JSON.parse(sh(PYTHON, ['bench/reference/io_read_resample.py', scan300])));
  }
  const summarise = (rows) =>
    rows.length === 0
      ? undefined
      : {
          tool: rows[0].tool,
          readMs: rows[0].readMs === null ? null : median(rows.map((r) => r.readMs)),
          resampleMs: rows[0].resampleMs === null ? null : median(rows.map((r) => r.resampleMs)),
          totalMs: median(rows.map((r) => r.totalMs)),
          slicesPerSecond: (rows[0].slices * 1000) / median(rows.map((r) => r.totalMs)),
          peakRssMb: Math.max(...rows.map((r) => r.peakRssMb)),
          runs: rows.length,
          checksum: rows[0].checksum,
        };
  const a = summarise(ours);
  const e = summarise(oursEvery);
  const b = summarise(theirs);
  if (b && Math.abs(a.checksum - b.checksum) > 1e-3 * Math.abs(b.checksum)) {
    throw new Error(`covsev and the reference disagree: checksum ${a.checksum} vs ${b.checksum}`);
  }
  const scan700 = phantomScan(outDir, 700);
  const big = JSON.parse(sh('node', ['bench/io/read-resample.mjs', scan700, 'preprocess']));
  const bigEvery = JSON.parse(sh('node', ['bench/io/read-resample.mjs', scan700, 'every-slice']));
  const fmt = (x, d = 0) => (x === undefined || x === null ? '-' : x.toFixed(d));
  console.log(`\nio: read 300 JPG slices (512x512) + resample to 64x256x256, median of ${RUNS} runs, 2 cores`);
  console.log('| tool | read ms | resample ms | total ms | slices/s | peak RSS MB |');
  console.log('|---|---|---|---|---|---|');
  for (const r of [a, e, b].filter(Boolean))
    console.log(
      `| ${r.tool} | ${r.readMs === null ? 'interleaved' : fmt(r.readMs)} | ${fmt(r.resampleMs)} | ${fmt(r.totalMs)} | ${fmt(r.slicesPerSecond)} | ${fmt(r.peakRssMb)} |`,
    );
  if (b) {
    console.log(
      `ratio covsev preprocessScan / reference (total time): ${(a.totalMs / b.totalMs).toFixed(2)} (below 1 = covsev faster)`,
    );
    console.log(`ratio covsev every-slice / reference (total time): ${(e.totalMs / b.totalMs).toFixed(2)}`);
    console.log(`outputs agree: checksum covsev ${a.checksum.toFixed(1)}, reference ${b.checksum.toFixed(1)}`);
  }
  console.log(
    `700 slices: preprocessScan ${fmt(big.totalMs)} ms, peak RSS ${fmt(big.peakRssMb)} MB; every slice decoded ${fmt(bigEvery.totalMs)} ms, peak RSS ${fmt(bigEvery.peakRssMb)} MB (budget 1536 MB)`,
  );
  return {
    covsev: a,
    covsevEverySlice: e,
    reference: b,
    ratio: b ? a.totalMs / b.totalMs : null,
    scan700: big,
    scan700EverySlice: bigEvery,
  };
}
