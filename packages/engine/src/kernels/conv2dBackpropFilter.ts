/**
 * Conv2DBackpropFilter for the wasm backend, which ships none (so plain conv training fails on it).
 *
 * dW[kh, kw, ci, co] = sum over b, oh, ow of xPadded[b, oh*sH + kh, ow*sW + kw, ci] * dy[b, oh, ow, co]
 *
 * is itself a convolution, computed by XNNPACK's conv2d: the input is x with batch and channels
 * swapped ([Ci, H, W, B]), the filter is dy as [OH, OW, B, Co], the dilation is the forward stride
 * and the output [Ci, KH, KW, Co] is transposed back to [KH, KW, Ci, Co]. It reaches 12-18 GFLOP/s
 * on the shapes of bench/engine/kernels.mjs, where im2col + matMul reaches 0.4-11.
 *
 * That convolution has only Ci*KH*KW output pixels: with few input channels (the first layer of
 * a network, on 1-2 channel CT slices) XNNPACK runs it at 2-4 GFLOP/s. There, at stride 1, the
 * KH*KW shifted views of x, stacked as rows [KH*KW*Ci, B*OH*OW], times dy as [B*OH*OW, Co] is
 * 2-3.5x faster (one matMul). A 1x1 stride-1 unpadded filter is one matMul of x and dy.
 */
import {
  Conv2DBackpropFilter,
  type Conv2DBackpropFilterAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type ConvGeometry, convGeometry } from './convGeometry.js';
import { onnxConvBackpropFilter, onnxConvRuns } from './onnxConv.js';
import { type WasmScope, withWasmScope } from './wasmScope.js';

/** dW of a 1x1, stride-1, unpadded conv: x^T dy over the N = B*H*W positions. */
function pointwiseFilterGrad(scope: WasmScope, x: TensorInfo, dy: TensorInfo, g: ConvGeometry): TensorInfo {
  const n = g.batch * g.inH * g.inW;
  const x2 = scope.reshape(x, [n, g.inC]);
  const dy2 = scope.reshape(dy, [n, g.outC]);
  // The wasm matMul is fast only untransposed: transpose the operand with fewer channels.
  if (g.inC <= g.outC) {
    const xT = scope.transpose(x2, [1, 0]);
    const w = scope.run('BatchMatMul', { a: xT, b: dy2 }, { transposeA: false, transposeB: false });
    return scope.reshape(w, [1, 1, g.inC, g.outC]);
  }
  const dyT = scope.transpose(dy2, [1, 0]);
  const wT = scope.run('BatchMatMul', { a: dyT, b: x2 }, { transposeA: false, transposeB: false });
  return scope.reshape(scope.transpose(scope.reshape(wT, [g.outC, g.inC]), [1, 0]), [1, 1, g.inC, g.outC]);
}

/** Below this many output rows (Ci*KH*KW) the stride-1 gradient is a matMul of shifted views. */
export const TAP_ROWS_MAX = 36;

/** dW at stride 1 as [KH*KW*Ci, N] shifted views of x (rows) times dy as [N, Co]. */
function tapRowsFilterGrad(scope: WasmScope, x: TensorInfo, dy: TensorInfo, g: ConvGeometry): TensorInfo {
  const xT = g.inC === 1 ? scope.reshape(x, [1, g.batch, g.inH, g.inW]) : scope.transpose(x, [3, 0, 1, 2]);
  // Padded row i is x row i - padTop; the views read rows kh .. kh + OH - 1.
  const padBottom = Math.max(0, g.outH + g.kH - 1 - g.inH - g.padTop);
  const padRight = Math.max(0, g.outW + g.kW - 1 - g.inW - g.padLeft);
  const xp =
    g.padTop + padBottom + g.padLeft + padRight === 0
      ? xT
      : scope.run(
          'PadV2',
          { x: xT },
          {
            paddings: [
              [0, 0],
              [0, 0],
              [g.padTop, padBottom],
              [g.padLeft, padRight],
            ],
            constantValue: 0,
          },
        );
  const n = g.batch * g.outH * g.outW;
  const rows: TensorInfo[] = [];
  for (let kh = 0; kh < g.kH; kh++) {
    for (let kw = 0; kw < g.kW; kw++) {
      const view = scope.slice(xp, [0, 0, kh, kw], [g.inC, g.batch, g.outH, g.outW]);
      rows.push(scope.reshape(view, [g.inC, n]));
    }
  }
  const taps =
    rows.length === 1 ? (rows[0] as TensorInfo) : scope.run('Concat', rows as unknown as Record<string, TensorInfo>, { axis: 0 });
  const dy2 = scope.reshape(dy, [n, g.outC]);
  const w = scope.run('BatchMatMul', { a: taps, b: dy2 }, { transposeA: false, transposeB: false });
  return scope.reshape(w, [g.kH, g.kW, g.inC, g.outC]);
}

/** dW as a convolution of x^T by dy^T, dilated by the stride. */
function convFilterGrad(scope: WasmScope, x: TensorInfo, dy: TensorInfo, g: ConvGeometry): TensorInfo {
  const xT = scope.transpose(x, [3, 1, 2, 0]); // [Ci, H, W, B]
  const dyT = scope.transpose(dy, [1, 2, 0, 3]); // [OH, OW, B, Co]
  // Output row kh reads padded rows kh + oh*sH, oh < OH: pad (or crop) the bottom so exactly
  // KH rows come out; rows past the last one read (a 'valid' remainder) are never used.
  const padBottom = g.kH + (g.outH - 1) * g.strideH - g.inH - g.padTop;
  const padRight = g.kW + (g.outW - 1) * g.strideW - g.inW - g.padLeft;
  const w = scope.run(
    'Conv2D',
    { x: xT, filter: dyT },
    {
      strides: [1, 1],
      dilations: [g.strideH, g.strideW],
      pad: [
        [0, 0],
        [g.padTop, Math.max(0, padBottom)],
        [g.padLeft, Math.max(0, padRight)],
        [0, 0],
      ],
      dataFormat: 'NHWC',
    },
  ); // [Ci, KH + crop, KW + crop, Co]
  const cropped = scope.slice(w, [0, 0, 0, 0], [g.inC, g.kH, g.kW, g.outC]);
  return scope.transpose(cropped, [1, 2, 0, 3]);
}

/** Which of the three formulations computes dW for this geometry. */
export function filterGradMethod(g: ConvGeometry): 'pointwise' | 'tapRows' | 'conv' {
  const stride1 = g.strideH === 1 && g.strideW === 1;
  if (stride1 && g.kH === 1 && g.kW === 1 && g.padTop + g.padBottom + g.padLeft + g.padRight === 0) return 'pointwise';
  return stride1 && g.inC * g.kH * g.kW <= TAP_ROWS_MAX ? 'tapRows' : 'conv';
}

function conv2DBackpropFilter(args: {
  inputs: { x?: TensorInfo; dy?: TensorInfo };
  backend: BackendWasm;
  attrs: Conv2DBackpropFilterAttrs;
}): TensorInfo {
  const { x, dy } = args.inputs;
  if (x === undefined || dy === undefined) throw new Error('covsev Conv2DBackpropFilter: inputs x and dy are required');
  const g = convGeometry(Conv2DBackpropFilter, x.shape, args.attrs.filterShape, dy.shape, args.attrs);
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error(`covsev Conv2DBackpropFilter: float32 only, got x ${x.dtype} and dy ${dy.dtype}`);
  }
  const method = filterGradMethod(g);
  // Few input channels (tapRows): covsev's matMul of shifted views beats onnxruntime's Conv
  // (bench/engine/kernels.mjs, U-Net input row: 10 against 6.6 GFLOP/s).
  if (method !== 'tapRows' && onnxConvRuns(g)) return onnxConvBackpropFilter(args.backend, x, dy, g);
  return withWasmScope(args.backend, (scope) => {
    if (method === 'pointwise') return pointwiseFilterGrad(scope, x, dy, g);
    return method === 'tapRows' ? tapRowsFilterGrad(scope, x, dy, g) : convFilterGrad(scope, x, dy, g);
  });
}

export const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as KernelFunc,
};
