// Every epoch of a kept bench:cmc run scored on the bench's held-out test split: is a weak row a
// model that did not learn, or a checkpoint choice (the best validation epoch, 32 noisy labels)
// that picked the wrong epoch? Keep a run's folder while `pnpm bench:cmc` trains it (the bench
// deletes it), and the stage 1 models it used, then
//
//   node bench/cmc/epochs.mjs --run RUN_DIR --variant infection-cmc [--stage1 DIR] [--train 96 --val 32 --test 64 --seed 1 --grid 16x64x64]
//
// For each epoch-N checkpoint: test Macro F1 (TTA, 3 passes, onnxruntime, as the bench) against
// the published labels and the exact grades, beside the validation Macro F1 the run recorded.
// Writes bench/out/cmc-epochs.md.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CMC_VARIANT_SPECS, predictCmcTta, releaseCmcOnnxSessions } from '../../packages/cmc/dist/index.js';
import { checkpointsDir, initBackend, loadCheckpoint } from '../../packages/engine/dist/index.js';
import { bootstrapMacroF1 } from '../../packages/eval/dist/index.js';
import { asCmcScans, cmcFromCheckpoint, flag, keptTestSplit } from './suite.mjs';

const runDir = flag('run', undefined);
const variant = flag('variant', 'infection-cmc');
if (runDir === undefined || CMC_VARIANT_SPECS[variant] === undefined) {
  console.error(
    'usage: node bench/cmc/epochs.mjs --run RUN_DIR --variant V [--stage1 DIR] [--train N --val M --test T --seed S --grid DxHxW]',
  );
  process.exit(2);
}
const seed = Number(flag('seed', '1'));
await initBackend({ prefer: 'wasm' });
const test = await keptTestSplit(flag('stage1', undefined));
const scans = asCmcScans(test, variant);
const { inChannels } = CMC_VARIANT_SPECS[variant];
const valF1 = new Map();
for (const line of (await readFile(join(runDir, 'events.jsonl'), 'utf8')).split('\n')) {
  if (line.trim() === '') continue;
  const e = JSON.parse(line);
  if (e.type === 'epoch') valF1.set(e.epoch + 1, e.metrics.valMacroF1);
}
const epochs = (await readdir(checkpointsDir(runDir)))
  .map((n) => /^epoch-(\d+)$/.exec(n)?.[1])
  .filter((n) => n !== undefined)
  .map(Number)
  .sort((a, b) => a - b);
const pct = (v) => (100 * v).toFixed(1);
const lines = [
  `# Every epoch of ${runDir} (${variant}) on the test split (${scans.length} scans, TTA 3 passes)`,
  '',
  '| epoch | val Macro F1 (run) | test Macro F1, published [95 % CI] | test Macro F1, exact [95 % CI] |',
  '| --- | --- | --- | --- |',
];
for (const epoch of epochs) {
  const checkpoint = await loadCheckpoint(join(checkpointsDir(runDir), `epoch-${epoch}`));
  const model = cmcFromCheckpoint(checkpoint, inChannels);
  const probs = await predictCmcTta(model, scans, { inChannels });
  await releaseCmcOnnxSessions(model);
  const pred = probs.map((p) => p.indexOf(Math.max(...p)));
  const score = (truth) => bootstrapMacroF1(truth, pred, { numClasses: 4, seed, resamples: 2000 });
  const pub = score(test.map((e) => e.published));
  const exact = score(test.map((e) => e.exact));
  const v = valF1.get(epoch);
  const line = `| ${epoch} | ${v === undefined ? '-' : pct(v)} | ${pct(pub.estimate)} [${pct(pub.low)}, ${pct(pub.high)}] | ${pct(exact.estimate)} [${pct(exact.low)}, ${pct(exact.high)}] |`;
  lines.push(line);
  console.log(line);
}
const md = `${lines.join('\n')}\n`;
await writeFile(join(fileURLToPath(new URL('../out/', import.meta.url)), 'cmc-epochs.md'), md);
