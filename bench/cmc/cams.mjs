// The class activation maps of a trained infection-aware run on bench:cmc's test split, at every
// layer bench:cmc scores (4: the paper's CAM; 3, 2 and 1: Grad-CAM on finer grids), without training
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
import { CMC_VARIANT_SPECS } from '../../packages/cmc/dist/index.js';
import { BEST_DIR, checkpointsDir, initBackend, loadCheckpoint } from '../../packages/engine/dist/index.js';
import { camSection, cmcFromCheckpoint, flag, keptTestSplit, writeCams } from './suite.mjs';

const runDir = flag('run', undefined);
if (runDir === undefined) {
  console.error('usage: node bench/cmc/cams.mjs --run RUN_DIR [--stage1 DIR] [--train N --val M --test T --seed S --grid DxHxW]');
  process.exit(2);
}
const stage1Dir = flag('stage1', undefined);
await initBackend({ prefer: 'wasm' });
const checkpoint = await loadCheckpoint(join(checkpointsDir(runDir), BEST_DIR));
const { inChannels } = CMC_VARIANT_SPECS['infection-cmc'];
const model = cmcFromCheckpoint(checkpoint, inChannels);
const test = await keptTestSplit(stage1Dir);
const outDir = fileURLToPath(new URL('../out/', import.meta.url));
const cams = await writeCams(model, test, inChannels, outDir);
const md = `# Class activation maps of ${runDir} (best checkpoint, epoch ${checkpoint.epoch}), masks ${stage1Dir === undefined ? 'exact' : 'from stage 1'}\n\n${camSection(cams)}\n`;
await writeFile(join(outDir, 'cmc-cams.md'), md);
console.log(md);
