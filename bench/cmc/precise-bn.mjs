// Is the epoch-to-epoch swing of validation Macro F1 batch norm's running statistics? (The
// measurement behind `preciseBatchNorm`, docs/method.md "Training".) For checkpoints of a
// finished demo run trained with `preciseBatchNorm: false` (as demos were before the option):
// val Macro F1 (plain pass, tfjs) with the stored running statistics, then with the statistics
// recomputed over the train scans (the plain mean over un-augmented batches of 8 in training mode,
// no gradient).
//
// Usage (after pnpm build): node bench/cmc/precise-bn.mjs RUN_DIR [cmc|infection-cmc] [34,35,36]
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CmcNetwork, cmcRunConfigSchema, predictCmc, resolveCmcVariant, scansToInput } from '../../packages/cmc/dist/index.js';
import { initBackend, loadCheckpoint, recalibrateBatchNorm, restoreCheckpoint } from '../../packages/engine/dist/index.js';
import { confusionMatrix, macroF1 } from '../../packages/eval/dist/index.js';
import { Rng } from '../../packages/io/dist/index.js';
import { classifierScans, loadCohort, preprocessScans, readMasksOnGrid, splitScans } from '../../packages/pipeline/dist/index.js';

const run = process.argv[2] ?? '/tmp/demo-full';
const model = process.argv[3] ?? 'cmc';
const epochs = (process.argv[4] ?? '34,35,36').split(',');
await initBackend({ log: () => {} });
const cohort = await loadCohort(join(run, 'cov19-ct-db'));
const grid = [8, 32, 32];
const { volumes } = await preprocessScans(cohort.scans, { grid, cacheDir: join(run, 'cache') });
const masks = model === 'infection-cmc' ? await readMasksOnGrid(cohort.scans, join(run, 'masks', 'infection'), grid) : undefined;
const train = classifierScans(splitScans(cohort, 'train'), volumes, masks);
const val = classifierScans(splitScans(cohort, 'val'), volumes, masks);
const f1 = (net, inCh) => {
  const probs = predictCmc(net, val, inCh);
  const pred = probs.map((p) => p.indexOf(Math.max(...p)));
  return macroF1(
    confusionMatrix(
      val.map((s) => s.label),
      pred,
      4,
    ),
  );
};
for (const e of epochs) {
  const ck = await loadCheckpoint(join(run, 'runs', model, 'checkpoints', `epoch-${e}`));
  const config = cmcRunConfigSchema.parse(ck.config);
  const { inChannels } = resolveCmcVariant(config);
  const net = new CmcNetwork({ ...config.network, inChannels }, Rng.fromSeed(0));
  const variables = new Map(net.parameters().map(({ name, variable }) => [name, variable]));
  for (const { name, variable } of net.buffers()) variables.set(name, variable);
  restoreCheckpoint(ck, { variables });
  const before = f1(net, inChannels);
  const batch = 8;
  const k = Math.floor(train.length / batch);
  const layers = recalibrateBatchNorm(net, k, (i) =>
    tf.tidy(() => {
      net.apply(scansToInput(train.slice(i * batch, (i + 1) * batch), inChannels), { training: true });
    }),
  );
  const after = f1(net, inChannels);
  console.log(
    `${model} epoch ${e}: val Macro F1 ${before.toFixed(3)} stored BN stats, ${after.toFixed(3)} precise BN (${k} batches of ${batch}, ${layers} BN layers)`,
  );
}
