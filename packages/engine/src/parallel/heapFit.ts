/**
 * Micro-batch sizes that fit the wasm heap: what one volume's training pass keeps alive, measured
 * once per model and input shape, and the largest micro-batch whose forward and backward passes
 * fit the heap left free. The model is anything with a training forward pass (`MicroBatchModel`).
 */
import * as tf from '@tensorflow/tfjs';
import { WasmHeapError } from '../backend/heap.js';
import { type Volume5, volume } from '../layers/volume.js';
import type { ForwardContext } from '../module.js';

/** What heap fitting needs of a model: the pass a micro-batch trains, and what that pass differentiates. */
export interface MicroBatchModel {
  /** Named in the refusal when not even two volumes fit. */
  readonly name: string;
  /** The forward pass one micro-batch runs (a batch of volumes to a tensor, e.g. pooled features). */
  features(x: Volume5, ctx: ForwardContext): tf.Tensor;
  /** The trainable variables of that pass (its backward pass computes their gradients). */
  featureVariables(): readonly tf.Variable[];
}

/** The wasm heap's hard cap. */
const WASM_HEAP_BYTES = 4 * 1024 ** 3;
/** The share of the free heap a micro-batch's training pass may plan for. */
const HEAP_SHARE = 0.8;
const bytesPerVolumeCache = new WeakMap<MicroBatchModel, Map<string, number>>();

/** The slices, rows and columns `trainingBytesPerVolume` measures on at most (a centre crop). */
const PROBE_DEPTH = 16;
const PROBE_SIDE = 64;

/**
 * The most tensor bytes alive at once while `f` runs, synchronously: tfjs' own count after each
 * kernel, as `tf.profile` takes its `peakBytes` (its profiling state, switched on around `f`;
 * `tf.profile` itself is async). Kernel-internal scratch and onnxruntime's native buffers are not
 * tensors and are not counted.
 */
function peakBytesDuring(f: () => void): number {
  const { state } = tf.engine() as unknown as {
    state: { profiling: boolean; activeProfile: { kernels: { totalBytesSnapshot: number }[] } };
  };
  const [profiling, kernels] = [state.profiling, state.activeProfile.kernels];
  const start = tf.memory().numBytes;
  state.profiling = true;
  state.activeProfile.kernels = [];
  try {
    f();
    return state.activeProfile.kernels.reduce((peak, k) => Math.max(peak, k.totalBytesSnapshot), start);
  } finally {
    state.profiling = profiling;
    state.activeProfile.kernels = kernels;
  }
}

/**
 * Tensor bytes one volume's training pass needs at its peak (forward and backward: the saved
 * activations and the gradients beside them), once per model and input shape. Batch norm needs
 * two volumes; they are measured on a centre crop of at most 16 slices of 64 x 64 and scaled by
 * the voxels (activations of a fully convolutional backbone grow with them), so that measuring a
 * grid too large for the heap does not itself exhaust it. The peak is measured rather than
 * derived from the saved activations: what a backward pass holds beside them changes with the
 * kernels (covsev's ReLU saves its output, not its input, and the saved activations fell by a
 * third while the peak did not).
 */
export function trainingBytesPerVolume(model: MicroBatchModel, sample: Volume5): number {
  const key = `${sample.tensor.shape.slice(1).join('x')}x${sample.depth}`;
  const cache = bytesPerVolumeCache.get(model) ?? new Map<string, number>();
  bytesPerVolumeCache.set(model, cache);
  const known = cache.get(key);
  if (known !== undefined) return known;
  const [, h, w] = sample.tensor.shape as [number, number, number, number];
  const d = sample.depth;
  const [pd, ph, pw] = [Math.min(d, PROBE_DEPTH), Math.min(h, PROBE_SIDE), Math.min(w, PROBE_SIDE)];
  // Slices [d0, d0 + pd) of each of the first two volumes, centre rows and columns; cut before
  // the measurement starts (slices of a large tensor are not what the pass keeps).
  const d0 = Math.floor((d - pd) / 2);
  const probe = volume(
    tf.tidy(() => {
      const crop = (v: number) =>
        tf.slice(sample.tensor, [v * d + d0, Math.floor((h - ph) / 2), Math.floor((w - pw) / 2), 0], [pd, ph, pw, -1]);
      return tf.concat([crop(0), crop(1)], 0);
    }),
    2,
    pd,
  );
  const before = tf.memory().numBytes;
  let peak = before;
  try {
    peak = peakBytesDuring(() => {
      const { value, grads } = tf.variableGrads(
        () => tf.sum(model.features(probe, { training: true, updateStatistics: false })) as tf.Scalar,
        [...model.featureVariables()],
      );
      value.dispose();
      for (const g of Object.values(grads)) g.dispose();
    });
  } finally {
    probe.tensor.dispose();
  }
  const perVolume = ((peak - before) / 2) * ((d * h * w) / (pd * ph * pw));
  cache.set(key, perVolume);
  return perVolume;
}

/**
 * The largest micro-batch (volumes per pass) whose training pass fits the wasm heap: a volume's
 * peak (`trainingBytesPerVolume`) within 80 % of the heap left free. Other backends have no fixed
 * cap here: every volume at once. Refuses, with what two volumes need, when not even two fit.
 */
export function fitMicroBatch(model: MicroBatchModel, sample: Volume5): number {
  if (tf.getBackend() !== 'wasm') return Number.POSITIVE_INFINITY;
  const perVolume = trainingBytesPerVolume(model, sample);
  const free = HEAP_SHARE * (WASM_HEAP_BYTES - tf.memory().numBytes);
  const fit = Math.floor(free / perVolume);
  if (fit >= 2) return fit;
  const [, h, w, c] = sample.tensor.shape as [number, number, number, number];
  const gib = (b: number): string => (b / 1024 ** 3).toFixed(2);
  // Activations grow with the voxels: the rows and columns that would fit, in multiples of 16
  // (the backbone halves them four times).
  const shrink = Math.sqrt(free / (2 * perVolume));
  const fitting = (n: number): number => Math.max(16, 16 * Math.floor((n * shrink) / 16));
  throw new WasmHeapError(
    `a micro-batch of two volumes (the least batch norm can train on) of ${c}x${sample.depth}x${h}x${w} needs about ${gib(2 * perVolume)} GiB to train ${model.name}, more than the ${gib(free)} GiB planned within the wasm backend's 4 GiB heap. What would fit: a grid of about ${sample.depth}x${fitting(h)}x${fitting(w)}, a narrower network, or a native backend (tfjs-node / tfjs-node-gpu).`,
  );
}
