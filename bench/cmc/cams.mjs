// The class activation maps of a trained infection-aware run on bench:cmc's test split, at every
// layer bench:cmc scores (4: the paper's CAM; 3 and 2: Grad-CAM on finer grids), without training
// again: `pnpm bench:cmc` deletes its runs, so keep one (its folder, or a copy of its
// checkpoints/best) and the stage 1 models it used (the `lung` and `lesion` run folders of
// stage1.mjs), then
//
//   node bench/cmc/cams.mjs --run RUN_DIR [--stage1 DIR] [--train 96 --val 32 --test 64 --seed 1 --grid 16x64x64]
//
// The cohort flags must be those of the bench run (they fix the scans). With --stage1 the model's
// mask channel is stage 1's prediction, as in the bench; without it the phantom's exact mask.
// Writes the montages to bench/out/ and the section to bench/out/cmc-cams.md.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CMC_VARIANT_SPECS, CmcNetwork } from '../../packages/cmc/dist/index.js';
import { BEST_DIR, checkpointsDir, initBackend, loadCheckpoint, restoreCheckpoint } from '../../packages/engine/dist/index.js';
import { Rng } from '../../packages/io/dist/index.js';
import { openSegmenter } from '../../packages/segment/dist/index.js';
import { camSection, makeCohort, writeCams } from './suite.mjs';

function flag(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

const runDir = flag('run', undefined);
if (runDir === undefined) {
  console.error('usage: node bench/cmc/cams.mjs --run RUN_DIR [--stage1 DIR] [--train N --val M --test T --seed S --grid DxHxW]');
  process.exit(2);
}
const stage1Dir = flag('stage1', undefined);
const grid = flag('grid', '16x64x64').split('x').map(Number);
await initBackend({ prefer: 'wasm' });
const checkpoint = await loadCheckpoint(join(checkpointsDir(runDir), BEST_DIR));
const { inChannels } = CMC_VARIANT_SPECS['infection-cmc'];
const model = new CmcNetwork({ backbone: 'resnest-tiny-3d', inChannels }, Rng.fromSeed(0));
const variables = new Map(model.parameters().map(({ name, variable }) => [name, variable]));
for (const { name, variable } of model.buffers()) variables.set(name, variable);
restoreCheckpoint(checkpoint, { variables });
const stage1 =
  stage1Dir === undefined
    ? undefined
    : { lung: await openSegmenter(join(stage1Dir, 'lung')), lesion: await openSegmenter(join(stage1Dir, 'lesion')) };
const cohort = await makeCohort({
  train: Number(flag('train', '96')),
  val: Number(flag('val', '32')),
  test: Number(flag('test', '64')),
  seed: Number(flag('seed', '1')),
  grid,
  stage1,
  splits: ['test'],
});
await stage1?.lung.dispose();
await stage1?.lesion.dispose();
const outDir = fileURLToPath(new URL('../out/', import.meta.url));
const cams = await writeCams(model, cohort.test, inChannels, outDir);
const md = `# Class activation maps of ${runDir} (best checkpoint, epoch ${checkpoint.epoch}), masks ${stage1 === undefined ? 'exact' : 'from stage 1'}\n\n${camSection(cams)}\n`;
await writeFile(join(outDir, 'cmc-cams.md'), md);
console.log(md);
