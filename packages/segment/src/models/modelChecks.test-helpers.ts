/**
 * Checks the architecture tests share: random data, the largest difference of two arrays,
 * norms spread away from their init (so ONNX folding is exercised), the ONNX export against the
 * tfjs forward, and a backward pass that must reach every parameter.
 */
import { buildOnnxModel, disposeModule, type Module, namedVariables, OnnxSession } from '@covsev/engine';
import type { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import type { SegmentationModel } from './contract.js';

export function randn(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** Spreads every 1-D variable (norm scales and shifts, biases, running statistics) away from its init. */
export function randomiseNorms(model: Module, rng: Rng): void {
  for (const { name, variable } of namedVariables(model)) {
    if (variable.rank !== 1) continue;
    const values = (f: () => number) => tf.tensor1d(Float32Array.from({ length: variable.size }, f));
    if (name.endsWith('running_var')) variable.assign(values(() => rng.range(0.5, 2)));
    else if (name.endsWith('running_mean') || name.endsWith('bias')) variable.assign(values(() => rng.normal(0, 0.2)));
    else if (name.endsWith('weight')) variable.assign(values(() => rng.range(0.5, 1.5)));
  }
}

/**
 * Exports `model` (norms randomised) for an NCHW input of `nchw`, runs it on onnxruntime and on
 * tfjs (eval mode) with the same random input: the largest difference, the logits' largest
 * magnitude (a check that the output is not all zeros), and the export's info. Disposes the model.
 */
export async function onnxAgainstTfjs(model: SegmentationModel, rng: Rng, nchw: readonly [number, number, number, number]) {
  randomiseNorms(model, rng);
  const [n, c, h, w] = nchw;
  const { bytes, info } = buildOnnxModel(model, nchw);
  const input = randn(rng, n * c * h * w);
  const session = await OnnxSession.create(bytes, { intraOpNumThreads: 1 });
  const out = await session.runSingle(input, nchw);
  const x = tf.transpose(tf.tensor4d(input, [n, c, h, w]), [0, 2, 3, 1]) as tf.Tensor4D;
  const y = tf.transpose(model.logits(x, { training: false }), [0, 3, 1, 2]);
  const tfData = y.dataSync();
  const diff = maxAbsDiff(out.data, tfData);
  await session.release();
  tf.dispose([x, y]);
  disposeModule(model);
  return { diff, largest: Math.max(...Array.from(tfData, Math.abs)), info };
}

/**
 * One backward pass in train mode of a random weighting of the logits of an `nhwc` input: the
 * names of the parameters whose gradient is missing, not finite or all zero (a disconnected
 * branch), and how many parameters there are. Disposes the model.
 */
export function parametersWithoutGradient(model: SegmentationModel, nhwc: readonly [number, number, number, number]) {
  const x = tf.randomNormal([...nhwc], 0, 1, 'float32', 3) as tf.Tensor4D;
  const r = tf.randomNormal([nhwc[0], nhwc[1], nhwc[2], model.config.classes], 0, 1, 'float32', 4);
  const params = model.parameters();
  const { value, grads } = tf.variableGrads(
    () => tf.sum(tf.mul(model.logits(x, { training: true }), r)) as tf.Scalar,
    params.map((p) => p.variable),
  );
  const bad: string[] = [];
  for (const { name, variable } of params) {
    const g = grads[variable.name];
    const data = g ? g.dataSync() : new Float32Array();
    if (!g || data.some((v) => !Number.isFinite(v)) || !data.some((v) => v !== 0)) bad.push(name);
  }
  tf.dispose([x, r, value, ...Object.values(grads)]);
  disposeModule(model);
  return { bad, count: params.length };
}
