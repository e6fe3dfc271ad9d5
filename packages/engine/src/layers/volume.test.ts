import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { asTensor, asVolume, ncdhwToSlices, slicesToNcdhw, volume, volumeFromNcdhw } from './volume.js';

describe('Volume5 layout', () => {
  it('NCDHW host data maps to [B*D, H, W, C] like a transpose (0, 2, 3, 4, 1), and back', async () => {
    const shape = [2, 3, 4, 5, 6];
    const data = Float32Array.from({ length: 2 * 3 * 4 * 5 * 6 }, (_, i) => i);
    const v = volumeFromNcdhw(data, shape);
    expect([v.batch, v.depth, ...v.tensor.shape]).toEqual([2, 4, 8, 5, 6, 3]);
    const viaTf = tf.transpose(tf.tensor(data, shape), [0, 2, 3, 4, 1]).reshape([8, 5, 6, 3]);
    expect(Array.from(await v.tensor.data())).toEqual(Array.from(await viaTf.data()));
    expect(slicesToNcdhw(ncdhwToSlices(data, shape), shape)).toEqual(data);
  });

  it('checks shapes', () => {
    expect(() => volume(tf.zeros([6, 2, 2, 1]) as tf.Tensor4D, 4, 2)).toThrow(/not batch 4 x depth 2/);
    expect(() => ncdhwToSlices(new Float32Array(5), [1, 1, 1, 1, 4])).toThrow(/5 values/);
    expect(asVolume(tf.zeros([3, 2, 2, 1]), 'x').depth).toBe(1);
    expect(() => asTensor(volume(tf.zeros([2, 2, 2, 1]) as tf.Tensor4D, 1, 2), 'Linear')).toThrow(/pool or flatten it first/);
  });
});
