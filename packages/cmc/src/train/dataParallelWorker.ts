/**
 * A data-parallel worker (`CmcDataParallel`): a backbone replica in this thread's own tfjs. Per
 * step it loads the main thread's weights, runs its micro-batches forward under one tape, hands
 * over the feature rows, waits (tape open) for their gradients, finishes the backward pass and
 * hands back the backbone gradients and running statistics. See dataParallel.ts for the protocol.
 */
import { parentPort, workerData } from 'node:worker_threads';
import {
  assignValues,
  failStep,
  flatSpans,
  handOver,
  initBackend,
  type NamedVariable,
  readValues,
  StepAborted,
  setPhase,
  volume,
  WorkerPhase,
} from '@covsev/engine';
import { Rng } from '@covsev/io';
import * as tf from '@tensorflow/tfjs';
import { CmcNetwork, isBackbone } from '../models/cmcNetwork.js';
import type { WorkerSetup, WorkerStepMessage } from './dataParallelProtocol.js';

const port = parentPort;
if (port === null) throw new Error('dataParallelWorker.js runs as a worker thread of CmcDataParallel');

/** Adds each parameter's gradient into `out` (flat, parameter order) and disposes them. */
function addGradients(params: readonly NamedVariable[], grads: tf.NamedTensorMap, out: Float32Array): void {
  for (const [{ variable }, from] of flatSpans(params)) {
    const g = grads[variable.name];
    if (g === undefined) continue;
    const values = g.dataSync() as Float32Array;
    for (let i = 0; i < values.length; i++) out[from + i] = (out[from + i] as number) + (values[i] as number);
  }
  for (const g of Object.values(grads)) g.dispose();
}

function runStep(
  model: CmcNetwork,
  params: readonly NamedVariable[],
  buffers: readonly NamedVariable[],
  msg: WorkerStepMessage,
): void {
  const control = new Int32Array(msg.control);
  const features = new Float32Array(msg.features);
  const featureGrads = new Float32Array(msg.featureGrads);
  const out = new Float32Array(msg.out);
  const inputs = msg.inputs.map((x) => volume(tf.tensor4d(x.data, [...x.shape]), x.count, x.depth));
  const train = { training: true };
  const vars = params.map((p) => p.variable);
  try {
    assignValues(params, msg.weights);
    assignValues(buffers, msg.buffers);
    const gradientSize = vars.reduce((n, v) => n + v.size, 0);
    out.fill(0, 0, gradientSize);
    if (!msg.recompute) {
      // One tape over every micro-batch, open while the main thread takes the loss.
      const { value, grads } = tf.variableGrads(() => {
        const f = tf.concat(
          inputs.map((x) => model.features(x, train)),
          0,
        );
        features.set(f.dataSync() as Float32Array);
        handOver(control);
        return tf.sum(tf.mul(f, tf.tensor2d(featureGrads, f.shape as [number, number]))) as tf.Scalar;
      }, vars);
      value.dispose();
      addGradients(params, grads, out);
    } else {
      // Memory for one micro-batch at a time: features without a tape, then each micro-batch
      // again under its own tape (the gradient cache of cmcGradients).
      const probe = { training: true, updateStatistics: false };
      const f = tf.tidy(() =>
        tf.concat(
          inputs.map((x) => model.features(x, probe)),
          0,
        ),
      );
      const [rows, width] = f.shape as [number, number];
      features.set(f.dataSync() as Float32Array);
      f.dispose();
      handOver(control);
      let row = 0;
      for (const x of inputs) {
        const g = featureGrads.subarray(row * width, (row + x.batch) * width);
        const { value, grads } = tf.variableGrads(
          () => tf.sum(tf.mul(model.features(x, train), tf.tensor2d(g, [x.batch, width]))) as tf.Scalar,
          vars,
        );
        value.dispose();
        addGradients(params, grads, out);
        row += x.batch;
      }
      if (row !== rows) throw new RangeError(`${row} feature rows backpropagated of ${rows}`);
    }
    readValues(buffers, out, gradientSize);
    setPhase(control, WorkerPhase.Done);
  } catch (error) {
    if (error instanceof StepAborted) return;
    failStep(control, new Uint8Array(msg.error), error);
  } finally {
    for (const x of inputs) x.tensor.dispose();
  }
}

try {
  const setup = workerData as WorkerSetup;
  await initBackend({ prefer: setup.backend, log: false, convolutions: setup.convolutions, convThreads: 1 });
  const model = new CmcNetwork(setup.config, Rng.fromSeed(0));
  const params = model.parameters().filter((p) => isBackbone(p.name));
  const buffers = model.buffers().filter((b) => isBackbone(b.name));
  port.on('message', (msg: WorkerStepMessage) => {
    if (msg.type === 'step') runStep(model, params, buffers, msg);
  });
  port.postMessage({ type: 'ready' });
} catch (error) {
  port.postMessage({ type: 'failed', error: error instanceof Error ? error.message : String(error) });
}
