// Loading a full-size ResNeSt-50 ImageNet-shaped checkpoint into the CMC backbone (issue 13: under
// 2 s and under 1 GB peak RSS). Needs the built packages and Debian's python3 with torch, which
// writes a randomly initialised ResNeSt-50 (the release's names, float32, ~110 MB) as safetensors.
// Usage: pnpm --filter @covsev/engine build && pnpm --filter @covsev/cmc build && node bench/engine/pretrained-load.mjs [runs]
// Prints one JSON line: file size, read+hash+map+load times (median of runs), peak RSS, backend.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RESNEST3D_CONFIGS, RESNEST50_MAP, ResNeSt3d } from '../../packages/cmc/dist/index.js';
import { disposeModule, formatBackendInfo, initBackend, loadPretrained } from '../../packages/engine/dist/index.js';
import { Rng } from '../../packages/io/dist/index.js';

const runs = Number(process.argv[2] ?? 3);
const dir = mkdtempSync(join(tmpdir(), 'covsev-bench-pretrained-'));
const path = join(dir, 'resnest50.safetensors');
const script = fileURLToPath(new URL('../reference/pretrained_twin.py', import.meta.url));
const config = RESNEST3D_CONFIGS['resnest50-3d'];
const write = spawnSync('/usr/bin/python3', [script], {
  input: JSON.stringify({ kind: 'resnest', ...config, writeOnly: true, out: path }),
  encoding: 'utf8',
});
if (write.status !== 0) throw new Error(`pretrained_twin.py failed: ${write.stderr}`);

const info = await initBackend({ log: () => {} });
const model = new ResNeSt3d({ ...config, inChannels: 2 }, Rng.fromSeed(1));
const rssBefore = process.memoryUsage().rss;
const times = [];
let result;
for (let r = 0; r < runs; r++) {
  const t0 = performance.now();
  result = await loadPretrained(model, path, { map: RESNEST50_MAP, stemInit: 'mean' });
  times.push(performance.now() - t0);
}
const median = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)];
console.log(
  JSON.stringify({
    bench: 'pretrained-load resnest50 -> resnest50-3d',
    fileMB: +(statSync(path).size / 2 ** 20).toFixed(1),
    tensors: result.report.loaded.length,
    kept: result.report.kept,
    loadMs: times.map((t) => Math.round(t)),
    medianMs: Math.round(median),
    rssBeforeMB: Math.round(rssBefore / 2 ** 20),
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    backend: formatBackendInfo(info),
  }),
);
disposeModule(model);
rmSync(dir, { recursive: true, force: true });
