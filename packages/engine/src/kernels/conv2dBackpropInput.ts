/**
 * Conv2DBackpropInput for the wasm backend: the stock one is a scalar C loop (about 2 GFLOP/s);
 * this one runs the transposed convolution as one XNNPACK conv2d (14-25 GFLOP/s).
 *
 * With stride s, input row h = q*s + r (phase r < s) receives dy[q + d] * w[kh] for every tap
 * kh with r + padTop - kh = d*s. For each phase that is a small stride-1 convolution of dy; all
 * s*s phases are computed at once by a single convolution whose filter holds every phase's taps
 * side by side in its output channels ([J, J, Co, s*s*Ci], J = the span of the offsets d), and
 * a transpose interleaves the phases into rows and columns (a depth-to-space, done as a rank-4
 * transpose: the wasm DepthToSpace kernel is 10x slower). With stride 1 this is the familiar
 * convolution of dy by the flipped, in/out-swapped filter.
 *
 * Cost: s*s*J*J/(K*K) times the forward FLOPs (1 at stride 1; 1.8 for 3x3 and 1.3 for 7x7 at
 * stride 2; 4 for 1x1 at stride 2), paid at XNNPACK speed.
 */
import {
  Conv2DBackpropInput,
  type Conv2DBackpropInputAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type ConvGeometry, convGeometry } from './convGeometry.js';
import { onnxConvBackpropInput, onnxConvRuns } from './onnxConv.js';
import { type WasmScope, withWasmScope } from './wasmScope.js';

interface Tap {
  /** filter index along this axis */
  k: number;
  /** offset into dy: phase r of output row q reads dy row q + d */
  d: number;
}

/** Along one axis: for each phase r < stride, the filter taps it reads. */
export function phaseTaps(kernelSize: number, stride: number, padBefore: number): Tap[][] {
  const phases: Tap[][] = [];
  for (let r = 0; r < stride; r++) {
    const taps: Tap[] = [];
    for (let k = 0; k < kernelSize; k++) {
      const num = r + padBefore - k;
      if (((num % stride) + stride) % stride === 0) taps.push({ k, d: num / stride });
    }
    phases.push(taps);
  }
  return phases;
}

interface AxisPlan {
  phases: Tap[][];
  /** smallest offset d over all phases */
  dMin: number;
  /** filter span of the combined convolution */
  span: number;
  /** output rows per phase: ceil(in / stride) */
  perPhase: number;
  /** padding before dy (>= 0) and rows to drop from the start of the conv output */
  padBefore: number;
  dropBefore: number;
  padAfter: number;
}

function planAxis(kernelSize: number, stride: number, padBefore: number, inSize: number, outSize: number): AxisPlan {
  const phases = phaseTaps(kernelSize, stride, padBefore);
  const ds = phases.flat().map((t) => t.d);
  const dMin = Math.min(...ds);
  const span = Math.max(...ds) - dMin + 1;
  const perPhase = Math.ceil(inSize / stride);
  // conv output row q' = q + dropBefore reads dy rows q' - pad .. q' - pad + span - 1 = q + dMin ..
  const pad = Math.max(0, -dMin);
  const dropBefore = Math.max(0, dMin);
  const padAfter = Math.max(0, dropBefore + perPhase + span - 1 - outSize - pad);
  return { phases, dMin, span, perPhase, padBefore: pad, dropBefore, padAfter };
}

/** The combined filter [spanH, spanW, Co, sH*sW*Ci], written on the wasm heap. */
function combinedFilter(scope: WasmScope, filter: TensorInfo, g: ConvGeometry, h: AxisPlan, w: AxisPlan): TensorInfo {
  const phasesOut = g.strideH * g.strideW * g.inC;
  const out = scope.alloc([h.span, w.span, g.outC, phasesOut]);
  // Views after the allocation: allocating may grow (and detach) the heap.
  const dst = scope.backend.typedArrayFromHeap(out) as Float32Array;
  const src = scope.backend.typedArrayFromHeap(filter) as Float32Array;
  dst.fill(0);
  const { inC, outC, kW } = g;
  for (let rh = 0; rh < g.strideH; rh++) {
    for (const th of h.phases[rh] ?? []) {
      const jh = th.d - h.dMin;
      for (let rw = 0; rw < g.strideW; rw++) {
        const chan0 = (rh * g.strideW + rw) * inC;
        for (const tw of w.phases[rw] ?? []) {
          const jw = tw.d - w.dMin;
          const srcTap = (th.k * kW + tw.k) * inC * outC;
          const dstTap = (jh * w.span + jw) * outC * phasesOut + chan0;
          for (let ci = 0; ci < inC; ci++) {
            for (let co = 0; co < outC; co++) {
              dst[dstTap + co * phasesOut + ci] = src[srcTap + ci * outC + co] as number;
            }
          }
        }
      }
    }
  }
  return out;
}

function inputGrad(scope: WasmScope, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry): TensorInfo {
  const h = planAxis(g.kH, g.strideH, g.padTop, g.inH, g.outH);
  const w = planAxis(g.kW, g.strideW, g.padLeft, g.inW, g.outW);
  const stride1 = g.strideH === 1 && g.strideW === 1;
  // At stride 1 the combined filter is the flipped filter with in/out swapped: two fast kernels.
  const f = stride1
    ? scope.transpose(scope.run('Reverse', { x: filter }, { dims: [0, 1] }), [0, 1, 3, 2])
    : combinedFilter(scope, filter, g, h, w);
  const conv = scope.run(
    'Conv2D',
    { x: dy, filter: f },
    {
      strides: [1, 1],
      dilations: [1, 1],
      pad: [
        [0, 0],
        [h.padBefore, h.padAfter],
        [w.padBefore, w.padAfter],
        [0, 0],
      ],
      dataFormat: 'NHWC',
    },
  );
  const phasesOut = g.strideH * g.strideW * g.inC;
  const perPhase = scope.slice(conv, [0, h.dropBefore, w.dropBefore, 0], [g.batch, h.perPhase, w.perPhase, phasesOut]);
  let full = perPhase; // [B, Hq, Wq, (rh, rw, ci)] viewed as [B, Hq*sH, Wq*sW, Ci] after interleaving
  if (g.strideH > 1) {
    const split = scope.reshape(perPhase, [g.batch * h.perPhase, w.perPhase, g.strideH, g.strideW * g.inC]);
    full = scope.transpose(split, [0, 2, 1, 3]);
  }
  full = scope.reshape(full, [g.batch, h.perPhase * g.strideH, w.perPhase * g.strideW, g.inC]);
  return scope.slice(full, [0, 0, 0, 0], [g.batch, g.inH, g.inW, g.inC]);
}

function conv2DBackpropInput(args: {
  inputs: { dy?: TensorInfo; filter?: TensorInfo };
  backend: BackendWasm;
  attrs: Conv2DBackpropInputAttrs;
}): TensorInfo {
  const { dy, filter } = args.inputs;
  if (dy === undefined || filter === undefined) {
    throw new Error('covsev Conv2DBackpropInput: inputs dy and filter are required');
  }
  const g = convGeometry(Conv2DBackpropInput, args.attrs.inputShape, filter.shape, dy.shape, args.attrs);
  if (dy.dtype !== 'float32' || filter.dtype !== 'float32') {
    throw new Error(`covsev Conv2DBackpropInput: float32 only, got dy ${dy.dtype} and filter ${filter.dtype}`);
  }
  if (onnxConvRuns(g)) return onnxConvBackpropInput(args.backend, dy, filter, g);
  return withWasmScope(args.backend, (scope) => inputGrad(scope, dy, filter, g));
}

export const conv2DBackpropInputConfig: KernelConfig = {
  kernelName: Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInput as unknown as KernelFunc,
};
