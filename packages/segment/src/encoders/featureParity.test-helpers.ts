/**
 * Encoder parity against a PyTorch twin: the encoder's feature maps on an NCHW input (as torch
 * took it) equal the twin's, each to 1e-4 of its largest magnitude (at least 1).
 */
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import type { SegmentationEncoder } from '../models/contract.js';

/** A twin's feature map: torch's NCHW shape and its values. */
export interface TwinFeature {
  readonly shape: readonly number[];
  readonly data: ArrayLike<number>;
}

/** NHWC values to NCHW. */
export function toNchw(data: ArrayLike<number>, [n, h, w, c]: readonly number[]): Float32Array {
  const [N, H, W, C] = [n as number, h as number, w as number, c as number];
  const out = new Float32Array(N * C * H * W);
  for (let b = 0; b < N; b++)
    for (let k = 0; k < C; k++)
      for (let p = 0; p < H * W; p++) out[(b * C + k) * H * W + p] = data[(b * H * W + p) * C + k] as number;
  return out;
}

/** Runs `encoder` on `x` ([n, c, h, w], NCHW values) and expects every feature map to equal the twin's. */
export function expectFeaturesMatch(
  encoder: SegmentationEncoder,
  x: Float32Array,
  [n, c, h, w]: readonly [number, number, number, number],
  expected: readonly TwinFeature[],
): void {
  const nhwc = new Float32Array(x.length);
  for (let b = 0; b < n; b++)
    for (let k = 0; k < c; k++)
      for (let p = 0; p < h * w; p++) nhwc[(b * h * w + p) * c + k] = x[(b * c + k) * h * w + p] as number;
  const input = tf.tensor4d(nhwc, [n, h, w, c]);
  const features = encoder.features(input, { training: false });
  expect(features.length).toBe(expected.length);
  features.forEach((f, i) => {
    const want = expected[i] as TwinFeature;
    expect([i, [f.shape[0], f.shape[3], f.shape[1], f.shape[2]]]).toEqual([i, want.shape]);
    const got = toNchw(f.dataSync(), f.shape);
    let worst = 0;
    let scale = 1;
    for (let j = 0; j < got.length; j++) {
      worst = Math.max(worst, Math.abs((got[j] as number) - (want.data[j] as number)));
      scale = Math.max(scale, Math.abs(want.data[j] as number));
    }
    expect(worst, `feature ${i}`).toBeLessThan(1e-4 * scale);
  });
  tf.dispose([input, ...features]);
}
