import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COVSEV_KERNEL_NAMES, registerCovsevKernels, registeredCovsevKernels, unregisterCovsevKernels } from './register.js';

describe('registerCovsevKernels', () => {
  beforeAll(async () => {
    registerCovsevKernels();
    await tf.setBackend('wasm');
  });
  afterAll(() => {
    registerCovsevKernels();
  });

  it('registers all of them by default, idempotently', () => {
    expect(registerCovsevKernels()).toEqual([...COVSEV_KERNEL_NAMES]);
    expect(registerCovsevKernels()).toEqual([...COVSEV_KERNEL_NAMES]);
  });

  it('restores the stock kernels, which still run after a backend started with covsev ones', () => {
    unregisterCovsevKernels();
    expect(registeredCovsevKernels()).toEqual([]);
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
    const dx = tf.conv2dTranspose(
      tf.ones([1, 4, 4, 2]) as tf.Tensor4D,
      tf.ones([3, 3, 3, 2]) as tf.Tensor4D,
      [1, 4, 4, 3],
      1,
      'same',
    );
    expect(dx.dataSync()[15]).toBe(18); // pixel (1, 1): 3 x 3 taps x 2 channels
    const t = tf.tile(tf.tensor([1, 2]), [2]);
    expect(Array.from(t.dataSync())).toEqual([1, 2, 1, 2]);
    tf.dispose([dx, t]);
  });

  it('registers a subset by name and refuses unknown names', () => {
    unregisterCovsevKernels();
    expect(registerCovsevKernels(['Conv2DBackpropFilter'])).toEqual(['Conv2DBackpropFilter']);
    expect(() => registerCovsevKernels(['Conv3D'])).toThrow(/no kernel 'Conv3D'; covsev's are Conv2DBackpropFilter/);
  });
});
