// A tiny but complete training run for the resume tests: a 2-layer MLP regressing fixed data,
// Adam with the step schedule, and every random stream in use (data order, augmentation noise
// through a seeded tf op, mixup lambda and partners, initialisation). Plain JS so it stays out
// of the build; the tests import it, and trainChild.mjs runs it in a child process.
import { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { Adam, stepSchedule, tfSeed } from '../index.ts';

const N = 32;
const FEATURES = 4;
const HIDDEN = 8;

/** Fixed data (independent of the run seed): y = sin(x . w) + 0.1 x0. */
function fixedData() {
  const rng = Rng.fromSeed(1234);
  const x = Float32Array.from({ length: N * FEATURES }, () => rng.normal());
  const w = [0.5, -1, 0.25, 2];
  const y = Float32Array.from({ length: N }, (_, i) => {
    let dot = 0;
    for (let j = 0; j < FEATURES; j++) dot += x[i * FEATURES + j] * w[j];
    return Math.sin(dot) + 0.1 * x[i * FEATURES];
  });
  return { x: tf.tensor2d(x, [N, FEATURES]), y: tf.tensor2d(y, [N, 1]) };
}

function forward(vars, x) {
  const h = tf.relu(tf.add(tf.matMul(x, vars.get('fc1/w')), vars.get('fc1/b')));
  return tf.add(tf.matMul(h, vars.get('fc2/w')), vars.get('fc2/b'));
}

/**
 * Options for `runTraining`: `epochs` x `stepsPerEpoch` (batch N / stepsPerEpoch), sleeping
 * `sleepMs` after each step so a test can kill the process mid-epoch.
 */
export function tinyRunOptions({ runDir, seed = 7, epochs = 6, stepsPerEpoch = 4, sleepMs = 0, onEvent }) {
  const batch = N / stepsPerEpoch;
  let built; // the model init made: its `order` is the epoch's data order, kept in checkpoints
  return {
    runDir,
    seed,
    epochs,
    stepsPerEpoch,
    config: { model: 'tiny-mlp', hidden: HIDDEN, epochs, stepsPerEpoch, baseLr: 0.02 },
    schedule: stepSchedule({ baseLr: 0.02, epochs }),
    ...(onEvent ? { onEvent } : {}),
    init({ rngs }) {
      const init = (shape, std) => tf.tidy(() => tf.variable(tf.randomNormal(shape, 0, std, 'float32', tfSeed(rngs.init))));
      const zeros = (shape) => tf.tidy(() => tf.variable(tf.zeros(shape)));
      const variables = new Map([
        ['fc1/w', init([FEATURES, HIDDEN], 0.5)],
        ['fc1/b', zeros([HIDDEN])],
        ['fc2/w', init([HIDDEN, 1], 0.5)],
        ['fc2/b', zeros([1])],
      ]);
      built = { variables, optimizer: new Adam(variables, { lr: 0.02, weightDecay: 1e-4 }), data: fixedData(), order: [] };
      return built;
    },
    // The epoch's data order, drawn at step 0: a resume from a mid-epoch checkpoint needs it back.
    trainerState: {
      save: () => ({ order: built.order }),
      restore: (state) => {
        built.order = state.order;
      },
    },
    async trainStep({ model, step, rngs }) {
      if (step === 0) model.order = rngs.data.permutation(N);
      const idx = tf.tensor1d(model.order.slice(step * batch, (step + 1) * batch), 'int32');
      const lam = rngs.mixup.beta(0.4, 0.4);
      const partner = tf.tensor1d(rngs.mixup.permutation(batch), 'int32');
      const noiseSeed = tfSeed(rngs.augment);
      const losses = model.optimizer.minimize(() => {
        const x0 = tf.gather(model.data.x, idx);
        const y0 = tf.gather(model.data.y, idx);
        const x1 = tf.add(x0, tf.randomNormal(x0.shape, 0, 0.05, 'float32', noiseSeed));
        const xm = tf.add(tf.mul(x1, lam), tf.mul(tf.gather(x1, partner), 1 - lam));
        const ym = tf.add(tf.mul(y0, lam), tf.mul(tf.gather(y0, partner), 1 - lam));
        return tf.losses.meanSquaredError(ym, forward(model.variables, xm));
      });
      idx.dispose();
      partner.dispose();
      if (sleepMs > 0) await new Promise((resolve) => setTimeout(resolve, sleepMs));
      return { total: losses, mse: losses };
    },
    evaluate({ model }) {
      const mse = tf.tidy(() => tf.losses.meanSquaredError(model.data.y, forward(model.variables, model.data.x)).dataSync()[0]);
      return { mse };
    },
  };
}

/** Frees what `init` made. */
export function disposeTinyModel(model) {
  model.optimizer.dispose();
  for (const v of model.variables.values()) v.dispose();
  model.data.x.dispose();
  model.data.y.dispose();
}
