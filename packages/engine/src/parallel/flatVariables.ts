/**
 * Variables as one flat Float32Array, in list order: what data-parallel training exchanges between
 * threads (weights and buffers out, gradients and running statistics back).
 */
import * as tf from '@tensorflow/tfjs';
import type { NamedVariable } from '../module.js';

/** Each variable with the span [from, to) its values take in one flat array of all of them, from `start`. */
export function flatSpans(list: readonly NamedVariable[], start = 0): [NamedVariable, number, number][] {
  let offset = start;
  return list.map((entry) => {
    const from = offset;
    offset += entry.variable.size;
    return [entry, from, offset];
  });
}

/** The variables' values, flat and in order, written into `out` from `start` (default: a new array). */
export function readValues(list: readonly NamedVariable[], out?: Float32Array, start = 0): Float32Array {
  const flat = out ?? new Float32Array(list.reduce((n, e) => n + e.variable.size, 0));
  for (const [{ variable }, from] of flatSpans(list, start)) flat.set(variable.dataSync() as Float32Array, from);
  return flat;
}

/** Assigns flat, ordered values to the variables; refuses a length that does not match. */
export function assignValues(list: readonly NamedVariable[], values: Float32Array): void {
  const spans = flatSpans(list);
  const size = spans.at(-1)?.[2] ?? 0;
  if (size !== values.length) throw new RangeError(`${values.length} values for ${size} weights`);
  tf.tidy(() => {
    for (const [{ variable }, from, to] of spans)
      variable.assign(tf.tensor(values.subarray(from, to), variable.shape, variable.dtype));
  });
}
