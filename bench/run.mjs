#!/usr/bin/env node
// `pnpm bench [suite]`: runs covsev's benchmarks. Each suite measures covsev beside a reference
// run in the same session on the same data, and prints a table with the ratio.
// Suites: io (read + resample JPG scans), engine (CMC training step and inference vs PyTorch), cmc (the Table 3 variants trained on a phantom cohort: does the classifier learn?), seg (segmentation training step and inference vs PyTorch; lung and lesion models on a phantom cohort). Results also go to bench/out/<suite>.json.
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const suites = {
  io: () => import('./io/suite.mjs'),
  engine: () => import('./engine/suite.mjs'),
  cmc: () => import('./cmc/suite.mjs'),
  seg: () => import('./seg/suite.mjs'),
};
// Suite names; a flag (--x) and its value (--train 96) belong to the suite.
const args = process.argv.slice(2);
const wanted = args.filter((a, i) => !a.startsWith('-') && !(args[i - 1] ?? '').startsWith('--'));
// cmc and seg train models (tens of minutes): only when named.
const names = wanted.length > 0 ? wanted : Object.keys(suites).filter((n) => n !== 'cmc' && n !== 'seg');
const outDir = fileURLToPath(new URL('./out/', import.meta.url));
await mkdir(outDir, { recursive: true });
for (const name of names) {
  const load = suites[name];
  if (load === undefined) {
    console.error(`pnpm bench: unknown suite "${name}"; known: ${Object.keys(suites).join(', ')}`);
    process.exit(2);
  }
  const { run } = await load();
  const result = await run({ outDir });
  await writeFile(`${outDir}${name}.json`, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`(results in bench/out/${name}.json)`);
}
