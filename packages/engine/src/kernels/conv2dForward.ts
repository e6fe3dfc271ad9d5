/**
 * The forward convolutions (`FusedConv2D`, `Conv2D`) of the wasm backend: through onnxruntime
 * where covsev's onnxruntime convolutions are on (`enableOnnxConv`) and the case is one they run
 * (NHWC, no activation but Relu, a [Co] bias or none, more than one input channel; dilated too),
 * else the stock XNNPACK kernel.
 */
import {
  backend_util,
  Conv2D,
  type Conv2DAttrs,
  FusedConv2D,
  type FusedConv2DAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type ConvGeometry, convGeometry } from './convGeometry.js';
import { onnxConvEnabled, onnxConvForward, onnxConvRuns } from './onnxConv.js';
import { stockKernelFunc } from './stock.js';

interface ForwardArgs {
  inputs: { x?: TensorInfo; filter?: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo };
  backend: BackendWasm;
  attrs: Conv2DAttrs & Partial<Pick<FusedConv2DAttrs, 'activation'>>;
}

/** The geometry of a forward conv onnxruntime runs, or undefined to leave it to XNNPACK. */
function onnxGeometry(kernel: string, args: ForwardArgs): ConvGeometry | undefined {
  const { x, filter, bias, preluActivationWeights } = args.inputs;
  const { attrs } = args;
  if (x === undefined || filter === undefined || preluActivationWeights !== undefined) return undefined;
  if (x.dtype !== 'float32' || filter.dtype !== 'float32' || x.shape.length !== 4 || filter.shape.length !== 4) return undefined;
  if ((attrs.dataFormat ?? 'NHWC') !== 'NHWC') return undefined;
  const activation = attrs.activation ?? 'linear';
  if (activation !== 'linear' && activation !== 'relu') return undefined;
  if (bias !== undefined && (bias.shape.length !== 1 || bias.shape[0] !== filter.shape[3] || bias.dtype !== 'float32'))
    return undefined;
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  return convGeometry(
    kernel,
    x.shape,
    filter.shape,
    [info.batchSize, info.outHeight, info.outWidth, info.outChannels],
    attrs,
    true,
  );
}

function forward(kernel: string): KernelFunc {
  return ((args: ForwardArgs) => {
    const g = onnxConvEnabled() ? onnxGeometry(kernel, args) : undefined;
    // One input channel: XNNPACK is faster (bench/engine/kernels.mjs, U-Net input row: 5.0 against 3.0 GFLOP/s).
    if (g === undefined || g.inC === 1 || !onnxConvRuns(g)) return stockKernelFunc(kernel)(args as never);
    const { x, filter, bias } = args.inputs as { x: TensorInfo; filter: TensorInfo; bias?: TensorInfo };
    return onnxConvForward(args.backend, x, filter, bias, args.attrs.activation === 'relu' ? 'relu' : 'linear', g);
  }) as unknown as KernelFunc;
}

export const fusedConv2DConfig: KernelConfig = { kernelName: FusedConv2D, backendName: 'wasm', kernelFunc: forward(FusedConv2D) };
export const conv2DConfig: KernelConfig = { kernelName: Conv2D, backendName: 'wasm', kernelFunc: forward(Conv2D) };
