/**
 * ReLU with a one-pass gradient on the wasm heap (covsev's SIMD kernels, `simd.ts`):
 *
 * - `CovsevRelu` {x} -> y = max(x, 0): tfjs' own wasm `Relu` kernel, under a kernel name whose
 *   registered gradient is the one below and which saves its output for it;
 * - `CovsevReluGrad` {dy, y} -> dx = dy where y > 0, else 0 (PyTorch's threshold_backward on the
 *   result): one SIMD pass. tfjs' own ReLU gradient is `dy * cast(step(x))`, three kernel calls.
 *
 * `ReLU` (layers/relu.ts) runs them where {@link reluGradKernel} says they run, `tf.relu`
 * elsewhere (cpu, tfjs-node).
 */
import {
  engine,
  getKernel,
  type KernelConfig,
  type KernelFunc,
  registerGradient,
  type Tensor,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapOffset, requireSimdKernels, simdKernelsRun } from './simd.js';
import { stockKernelFunc } from './stock.js';

export const RELU = 'CovsevRelu';
export const RELU_GRAD = 'CovsevReluGrad';

const relu: KernelFunc = (args) => stockKernelFunc('Relu')(args);

function reluGrad(args: { inputs: { dy?: TensorInfo; y?: TensorInfo }; backend: BackendWasm }): TensorInfo {
  const { dy, y } = args.inputs;
  if (dy === undefined || y === undefined) throw new Error(`covsev ${RELU_GRAD}: inputs dy and y are required`);
  if (y.dtype !== 'float32' || dy.dtype !== 'float32' || !util.arraysEqual(dy.shape, y.shape)) {
    throw new Error(
      `covsev ${RELU_GRAD}: dy and y must be float32 of one shape, got ${dy.dtype} [${dy.shape}] and ${y.dtype} [${y.shape}]`,
    );
  }
  const b = args.backend;
  const simd = requireSimdKernels(b, RELU_GRAD);
  const dx = b.makeOutput(y.shape, 'float32');
  simd.reluGrad(heapOffset(b, dy), heapOffset(b, y), heapOffset(b, dx), util.sizeFromShape(y.shape));
  return dx;
}

export const reluConfig: KernelConfig = { kernelName: RELU, backendName: 'wasm', kernelFunc: relu };

export const reluGradConfig: KernelConfig = {
  kernelName: RELU_GRAD,
  backendName: 'wasm',
  kernelFunc: reluGrad as unknown as KernelFunc,
};

registerGradient({
  kernelName: RELU,
  outputsToSave: [true],
  gradFunc: (dy, saved) => {
    const [y] = saved as [Tensor];
    return { x: () => engine().runKernel(RELU_GRAD, { dy: dy as Tensor, y }) as Tensor };
  },
});

/** Whether ReLU can run as {@link RELU} with its gradient {@link RELU_GRAD}: wasm, registered, SIMD kernels bound. */
export function reluGradKernel(): boolean {
  return simdKernelsRun(RELU, RELU_GRAD);
}
