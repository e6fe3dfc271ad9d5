/**
 * covsev's ReLU kernels (wasm, SIMD): the `ReLU` layer's output and input gradient on wasm against
 * tf.relu on cpu, exactly (both select dy or 0, up to the sign of zero), on sizes around the 4-float SIMD lanes and with
 * zeros in x; the step runs CovsevRelu + CovsevReluGrad instead of tfjs' step, cast and multiply,
 * and tfjs' ops where the SIMD kernels are off.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, expect, it } from 'vitest';
import { ReLU } from '../layers/relu.js';
import { describeParity, expectNoLeaks, itEachCase, randomValues, rng } from './parity.test-helpers.js';
import { RELU, RELU_GRAD, reluGradKernel } from './reluGrad.js';
import { useSimdKernels } from './simd.js';

const shapes = [[1], [3], [4], [7], [2, 9, 8, 5], [3, 33, 17, 16]];

/** y and dx of sum(relu(x) * w) through the ReLU layer on `backend`; a quarter of x is 0. */
function step(backend: string, shape: number[], seed: number) {
  tf.setBackend(backend);
  const r = rng(seed);
  const x = tf.tensor(
    // positive, zero, negative, either: every branch in each 4-float lane
    randomValues(shape, r).map((v, i) => [Math.abs(v) + 0.1, 0, -Math.abs(v) - 0.1, v][i % 4] as number),
    shape,
  );
  const w = tf.tensor(randomValues(shape, r), shape);
  const layer = new ReLU();
  const y = layer.apply(x as tf.Tensor4D, { training: true }) as tf.Tensor;
  const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(layer.apply(t as tf.Tensor4D, { training: true }) as tf.Tensor, w)))(x);
  const out = { y: y.dataSync() as Float32Array, dx: dx.dataSync() as Float32Array };
  tf.dispose([x, w, y, dx]);
  return out;
}

describeParity('covsev ReLU kernels (wasm) against cpu', [RELU, RELU_GRAD], () => {
  afterEach(() => {
    useSimdKernels(true);
  });

  itEachCase(
    shapes.map((shape) => ({ shape })),
    (c, i) => {
      const ref = step('cpu', c.shape, 50 + i);
      const got = step('wasm', c.shape, 50 + i);
      expect(got.y).toEqual(ref.y);
      // tfjs' dy * step(x) gives -0 where dy < 0 is cut; the kernel writes 0, as PyTorch does.
      const unsigned = (a: Float32Array) => a.map((v) => v + 0);
      expect(unsigned(got.dx)).toEqual(unsigned(ref.dx));
      expect(got.dx.filter((v) => v !== 0).length).toBeGreaterThan(0);
    },
  );

  it("a training step runs the fused gradient on wasm, tfjs' ops with the SIMD kernels off, and leaks nothing", async () => {
    tf.setBackend('wasm');
    const x = tf.randomNormal([2, 6, 6, 8]);
    const kernels = async () => {
      const profile = await tf.profile(() => {
        tf.dispose(tf.grad((t: tf.Tensor) => tf.sum(new ReLU().apply(t as tf.Tensor4D, { training: true }) as tf.Tensor))(x));
      });
      return profile.kernels.map((k) => k.name);
    };
    expect(reluGradKernel()).toBe(true);
    const fused = await kernels();
    expect(fused).toEqual(expect.arrayContaining([RELU, RELU_GRAD]));
    expect(fused).not.toContain('Step');
    expectNoLeaks(() => {
      tf.dispose(tf.grad((t: tf.Tensor) => tf.sum(new ReLU().apply(t as tf.Tensor4D, { training: true }) as tf.Tensor))(x));
    });
    useSimdKernels(false);
    expect(reluGradKernel()).toBe(false);
    const stock = await kernels();
    expect(stock).toEqual(expect.arrayContaining(['Relu', 'Step']));
    expect(stock).not.toContain(RELU_GRAD);
    x.dispose();
  });

  it('refuses dy and y of different shapes, naming the kernel', () => {
    tf.setBackend('wasm');
    const dy = tf.zeros([2, 3]);
    const y = tf.zeros([3, 2]);
    expect(() => tf.engine().runKernel(RELU_GRAD, { dy, y })).toThrow(
      /covsev CovsevReluGrad: dy and y must be float32 of one shape, got float32 \[2,3\] and float32 \[3,2\]/,
    );
    tf.dispose([dy, y]);
  });
});
