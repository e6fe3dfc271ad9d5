/**
 * Convolutions of the wasm backend run by onnxruntime's CPU kernels (MLAS), synchronously.
 *
 * tfjs kernels must return synchronously; onnxruntime-node's public `InferenceSession.run` is a
 * Promise, but only a wrapper (a `setImmediate` around its native session's synchronous `run`).
 * covsev uses that native session through onnxruntime-node's own `dist/binding.js`, an internal
 * API: it is pinned to the onnxruntime-node version below and switched off, with the reason, for
 * any other. Each distinct convolution (kind, shapes, strides, paddings) gets a small ONNX graph,
 * built once with covsev's OnnxGraphBuilder and cached as a session:
 *
 * - forward (`FusedConv2D`, `Conv2D`): NHWC -> NCHW transposes, `Conv` (+ bias, + Relu), back;
 * - input gradient (`Conv2DBackpropInput`): at stride 1, a `Conv` of dy by the spatially flipped
 *   filter (`COVSEV_DX=convtranspose` for the older form); at larger strides `ConvTranspose` with
 *   the forward's paddings and an output padding that restores the input size;
 * - filter gradient (`Conv2DBackpropFilter`, `onnxConvDwForm`): one `Gemm` per kernel tap
 *   (`filterGradientByTaps`), or for kernels of 25 taps and more (the 7 x 7 stems) a `Conv` of x
 *   as [Ci, N, H, W] by dy as [Co, N, OH, OW], dilated by the forward stride (rows the forward
 *   never read are sliced off);
 * - 1x1, stride 1, unpadded: one `Gemm` on the NHWC data as [N*H*W, C] (no transposes), faster
 *   there than `Conv`.
 *
 * Inputs and the output are handed to onnxruntime as views of the wasm heap: it reads the inputs
 * where they lie and writes into a wasm tensor allocated first (a pre-allocated output). Where
 * the heap is shared memory (the threaded wasm build), which onnxruntime-node refuses, they are
 * copied.
 * Sessions do not spin between runs (the wasm work in between needs the cores).
 *
 * Measured (`node bench/engine/kernels.mjs`, one thread): on the CMC and wide U-Net shapes the
 * forward conv and both gradients run 1.3-4.8x faster than covsev's XNNPACK kernels, transposes
 * included; with one input channel XNNPACK's forward and covsev's shifted-view filter gradient
 * stay faster, and keep those cases. A tfjs numeric padding whose output size tfjs computes with
 * the row stride for both axes (`onnxConvRuns`) also stays on XNNPACK.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { OnnxGraphBuilder } from '../onnx/graph.js';
import type { ConvGeometry } from './convGeometry.js';

/** The onnxruntime-node version whose internal binding covsev drives. */
export const ONNX_CONV_RUNTIME_VERSION = '1.30.0';

interface NativeOutput {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}
interface NativeSession {
  loadModel(buffer: ArrayBufferLike, offset: number, length: number, options: object): void;
  /** A fetch given as a tensor is a pre-allocated output: onnxruntime writes into its buffer. */
  run(feeds: Record<string, unknown>, fetches: Record<string, unknown>, options: object): Record<string, NativeOutput>;
}
interface Runtime {
  readonly InferenceSession: new () => NativeSession;
  readonly Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => unknown;
}

let runtime: Runtime | undefined;
let unavailable: string | undefined;
let threads = 1;
let enabled = false;
/** A convolution's cached session and the dims of its output `y`. */
interface ConvSession {
  readonly session: NativeSession;
  readonly outDims: readonly number[];
}
const sessions = new Map<string, ConvSession>();

function loadRuntime(): Runtime {
  if (runtime !== undefined) return runtime;
  const require = createRequire(import.meta.url);
  const main = require.resolve('onnxruntime-node');
  const { version } = require(join(dirname(main), '..', 'package.json')) as { version: string };
  if (version !== ONNX_CONV_RUNTIME_VERSION)
    throw new Error(
      `onnxruntime-node ${version} is installed; covsev's synchronous convolutions drive ${ONNX_CONV_RUNTIME_VERSION}'s internal binding`,
    );
  const { binding, initOrt } = require(join(dirname(main), 'binding.js')) as {
    binding: { InferenceSession: new () => NativeSession };
    initOrt: () => void;
  };
  initOrt();
  const { Tensor } = require(main) as { Tensor: Runtime['Tensor'] };
  runtime = { InferenceSession: binding.InferenceSession, Tensor };
  return runtime;
}

export interface OnnxConvStatus {
  readonly enabled: boolean;
  /** onnxruntime's intra-op threads per convolution. */
  readonly threads: number;
  /** Sessions built so far (one per distinct convolution). */
  readonly sessions: number;
  /** Why it could not be switched on. */
  readonly reason?: string;
}

/**
 * Runs the wasm backend's convolutions (forward and both gradients) through onnxruntime from
 * now on, with `threads` intra-op threads each (default 1: covsev's data-parallel workers already
 * fill the cores). Returns the status: `enabled: false` with the reason where onnxruntime-node
 * cannot be driven (absent, another version, its native library failing to load).
 */
export function enableOnnxConv(options: { threads?: number } = {}): OnnxConvStatus {
  const t = options.threads ?? 1;
  if (!Number.isInteger(t) || t < 1)
    throw new RangeError(`onnxruntime convolution threads must be a whole number >= 1, got ${t}`);
  if (t !== threads) sessions.clear();
  threads = t;
  try {
    loadRuntime();
    enabled = true;
  } catch (error) {
    unavailable = error instanceof Error ? error.message : String(error);
    enabled = false;
  }
  return onnxConvStatus();
}

/** Back to XNNPACK (covsev's and the stock wasm kernels). */
export function disableOnnxConv(): void {
  enabled = false;
}

export function onnxConvStatus(): OnnxConvStatus {
  return { enabled, threads, sessions: sessions.size, ...(enabled || unavailable === undefined ? {} : { reason: unavailable }) };
}

function session(key: string, build: () => { graph: OnnxGraphBuilder; outDims: readonly number[] }): ConvSession {
  const known = sessions.get(key);
  if (known !== undefined) return known;
  const rt = loadRuntime();
  const s = new rt.InferenceSession();
  const { graph, outDims } = build();
  const bytes = graph.encode({ graphName: key });
  s.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    // No memory arena: each session would keep its own, sized to its largest run (ResNeSt-50 at
    // 64x256x256 through tfjs: 5.9 GB peak RSS with arenas, 3.0 GB without, and 21.4 against
    // 15.5 s; a CMC step 569 against 512 ms).
    enableCpuMemArena: false,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    // Pool threads must not spin between convolutions: the wasm work in between needs the cores.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
  const cached = { session: s, outDims };
  sessions.set(key, cached);
  return cached;
}

/** A graph input: its name, the wasm tensor fed to it, and the dims the graph sees it with. */
type Feed = readonly [string, TensorInfo, readonly number[]];

/**
 * Runs the cached graph `key` on wasm tensors. The graph, built once, declares `feeds` as its
 * inputs and `body` adds the nodes, returning the output value and its dims; the output becomes
 * a new wasm tensor of `shape`.
 */
function run(
  backend: BackendWasm,
  key: string,
  feeds: readonly Feed[],
  body: (graph: OnnxGraphBuilder, inputs: string[]) => readonly [string, readonly number[]],
  shape: number[],
): TensorInfo {
  const { session: s, outDims } = session(key, () => {
    const graph = new OnnxGraphBuilder();
    const [y, dims] = body(
      graph,
      feeds.map(([name, , d]) => graph.addInput(name, d)),
    );
    graph.addOutput(y, 'y', dims);
    return { graph, outDims: dims };
  });
  const rt = loadRuntime();
  // The output first: makeOutput may grow the heap, which would detach views taken before it.
  const out = backend.makeOutput(shape, 'float32');
  try {
    const outView = backend.typedArrayFromHeap(out) as Float32Array;
    // onnxruntime-node refuses shared memory (the threaded wasm build's heap): copies there.
    const shared = outView.buffer instanceof SharedArrayBuffer;
    const inputs: Record<string, unknown> = {};
    for (const [name, info, dims] of feeds) {
      const view = backend.typedArrayFromHeap(info) as Float32Array;
      inputs[name] = new rt.Tensor('float32', shared ? view.slice() : view, dims);
    }
    if (shared) {
      outView.set((s.run(inputs, { y: null }, {}).y as NativeOutput).data);
    } else {
      // A pre-allocated output: onnxruntime writes y straight into the wasm tensor. Against a
      // copy of its own output, a 16x64x64 CMC step on the main thread took 529-568 against
      // 601-643 ms (bench/engine/cmc-job.mjs, three alternating runs each).
      s.run(inputs, { y: new rt.Tensor('float32', outView, outDims) }, {});
    }
  } catch (error) {
    backend.disposeData(out.dataId);
    throw error;
  }
  return out;
}

const T = (graph: OnnxGraphBuilder, x: string, perm: number[]): string =>
  graph.addNode('Transpose', [x], { perm: { ints: perm } });
const NHWC_TO_NCHW = [0, 3, 1, 2];
const NCHW_TO_NHWC = [0, 2, 3, 1];
/** HWIO filter [kh, kw, ci, co] to Conv's OIHW (also ConvTranspose's [C_in = co, C_out = ci, kh, kw]). */
const HWIO_TO_OIHW = [3, 2, 0, 1];

/** [dilationH, dilationW] (1, 1 for the gradients, whose geometry refuses dilation). */
const dilationOf = (g: ConvGeometry): [number, number] => [g.dilationH, g.dilationW];

function isPointwise(g: ConvGeometry): boolean {
  return g.kH === 1 && g.kW === 1 && g.strideH === 1 && g.strideW === 1 && g.padTop + g.padBottom + g.padLeft + g.padRight === 0;
}

function geometryKey(g: ConvGeometry): string {
  return [
    g.batch,
    g.inH,
    g.inW,
    g.inC,
    g.outH,
    g.outW,
    g.outC,
    g.kH,
    g.kW,
    g.strideH,
    g.strideW,
    g.padTop,
    g.padBottom,
    g.padLeft,
    g.padRight,
    ...dilationOf(g),
  ].join(',');
}

/**
 * Whether onnxruntime runs the convolution of geometry `g` now: switched on, and a geometry ONNX
 * can state. tfjs computes a numeric padding's output size with the row stride and kernel
 * height for both axes; where that disagrees with the columns' own arithmetic, the XNNPACK
 * kernels (which follow tfjs) keep the case.
 */
export function onnxConvRuns(g: ConvGeometry): boolean {
  if (!enabled) return false;
  const [dh, dw] = dilationOf(g);
  const fits = (size: number, k: number, stride: number, begin: number, end: number, out: number): boolean =>
    begin >= 0 && end >= 0 && Math.floor((size + begin + end - k) / stride) + 1 === out;
  return (
    fits(g.inH, dh * (g.kH - 1) + 1, g.strideH, g.padTop, g.padBottom, g.outH) &&
    fits(g.inW, dw * (g.kW - 1) + 1, g.strideW, g.padLeft, g.padRight, g.outW)
  );
}

/** Whether convolutions go through onnxruntime now (where their geometry allows, `onnxConvRuns`). */
export function onnxConvEnabled(): boolean {
  return enabled;
}

/** y = act(x (*) filter + bias), NHWC; `activation` 'linear' or 'relu'. */
export function onnxConvForward(
  backend: BackendWasm,
  x: TensorInfo,
  filter: TensorInfo,
  bias: TensorInfo | undefined,
  activation: 'linear' | 'relu',
  g: ConvGeometry,
): TensorInfo {
  const pointwise = isPointwise(g);
  const m = g.batch * g.outH * g.outW;
  const key = `fwd:${pointwise ? 'gemm' : 'conv'}:${geometryKey(g)}:${bias ? 'b' : ''}:${activation}`;
  const feeds: Feed[] = [
    ['x', x, pointwise ? [m, g.inC] : [g.batch, g.inH, g.inW, g.inC]],
    ['w', filter, pointwise ? [g.inC, g.outC] : [g.kH, g.kW, g.inC, g.outC]],
  ];
  if (bias) feeds.push(['b', bias, [g.outC]]);
  const act = (graph: OnnxGraphBuilder, y: string): string => (activation === 'relu' ? graph.addNode('Relu', [y]) : y);
  return run(
    backend,
    key,
    feeds,
    (graph, [xs, w, ...b]) => {
      if (pointwise) return [act(graph, graph.addNode('Gemm', [xs as string, w as string, ...b])), [m, g.outC]];
      const conv = graph.addNode('Conv', [T(graph, xs as string, NHWC_TO_NCHW), T(graph, w as string, HWIO_TO_OIHW), ...b], {
        strides: { ints: [g.strideH, g.strideW] },
        pads: { ints: [g.padTop, g.padLeft, g.padBottom, g.padRight] },
        dilations: { ints: dilationOf(g) },
      });
      return [T(graph, act(graph, conv), NCHW_TO_NHWC), [g.batch, g.outH, g.outW, g.outC]];
    },
    [g.batch, g.outH, g.outW, g.outC],
  );
}

/**
 * How the input gradient of a stride-1 convolution runs: `conv` (default), a `Conv` of dy by the
 * filter flipped in space with its channel axes swapped, padded by K - 1 - pad on each side,
 * where the input has at least as many channels as the output; or `convtranspose`
 * (`COVSEV_DX=convtranspose`, kept for comparison). Measured one call at a time, alternating
 * (3x3 'same'): with inC >= outC the Conv was faster in 8 shapes of 8 (by 10-45 %; U-Net++ layers:
 * 64 -> 64 at 8x64x64, 50.6 against 68.5 ms), with inC < outC ConvTranspose in 5 of 6 (CMC's split
 * attention, 8 <- 16 at 64x32x32: 7.8 against 12.2 ms). Strides above 1 always use ConvTranspose.
 */
let DX_BY_CONV = (process.env.COVSEV_DX ?? 'conv') !== 'convtranspose';

/** Sets the stride-1 input-gradient form (see above), for comparisons; returns the previous one. */
export function onnxConvDxForm(form: 'conv' | 'convtranspose'): 'conv' | 'convtranspose' {
  const was = DX_BY_CONV ? 'conv' : 'convtranspose';
  DX_BY_CONV = form === 'conv';
  return was;
}

/** Whether dx of `g` runs as a plain Conv: chosen (above), stride 1, no dilation, no padding beyond K - 1. */
function dxAsConv(g: ConvGeometry): boolean {
  const [dh, dw] = dilationOf(g);
  return (
    DX_BY_CONV &&
    g.inC >= g.outC &&
    g.strideH === 1 &&
    g.strideW === 1 &&
    dh === 1 &&
    dw === 1 &&
    Math.max(g.padTop, g.padBottom) <= g.kH - 1 &&
    Math.max(g.padLeft, g.padRight) <= g.kW - 1
  );
}

/** dx of the convolution of geometry `g`: NHWC [batch, inH, inW, inC]. */
export function onnxConvBackpropInput(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry): TensorInfo {
  const pointwise = isPointwise(g);
  const asConv = !pointwise && dxAsConv(g);
  const m = g.batch * g.outH * g.outW;
  const feeds: Feed[] = [
    ['dy', dy, pointwise ? [m, g.outC] : [g.batch, g.outH, g.outW, g.outC]],
    ['w', filter, pointwise ? [g.inC, g.outC] : [g.kH, g.kW, g.inC, g.outC]],
  ];
  return run(
    backend,
    `dx:${pointwise ? 'gemm' : asConv ? 'conv' : 'convT'}:${geometryKey(g)}`,
    feeds,
    (graph, [d, w]) => {
      if (pointwise) return [graph.addNode('Gemm', [d as string, w as string], { transB: { i: 1 } }), [m, g.inC]];
      if (asConv) {
        // dx[i] = sum_k dy[i + pad - k] w[k] = sum_k' dy[i - (K - 1 - pad) + k'] w[K - 1 - k']: a Conv
        // of dy by the flipped filter as [O = inC, I = outC, kH, kW], padded K - 1 - pad.
        const oihw = T(graph, w as string, [2, 3, 0, 1]);
        const big = 2 ** 62;
        const flipped = graph.addNode('Slice', [
          oihw,
          graph.int64([-1, -1]),
          graph.int64([-big, -big]),
          graph.int64([2, 3]),
          graph.int64([-1, -1]),
        ]);
        const dx = graph.addNode('Conv', [T(graph, d as string, NHWC_TO_NCHW), flipped], {
          strides: { ints: [1, 1] },
          pads: { ints: [g.kH - 1 - g.padTop, g.kW - 1 - g.padLeft, g.kH - 1 - g.padBottom, g.kW - 1 - g.padRight] },
        });
        return [T(graph, dx, NCHW_TO_NHWC), [g.batch, g.inH, g.inW, g.inC]];
      }
      // Output rows = s * (OH - 1) + outputPadding + K - padBegin - padEnd; choose it to be inH.
      const opH = g.inH - g.strideH * (g.outH - 1) - g.kH + g.padTop + g.padBottom;
      const opW = g.inW - g.strideW * (g.outW - 1) - g.kW + g.padLeft + g.padRight;
      const dx = graph.addNode('ConvTranspose', [T(graph, d as string, NHWC_TO_NCHW), T(graph, w as string, HWIO_TO_OIHW)], {
        strides: { ints: [g.strideH, g.strideW] },
        pads: { ints: [g.padTop, g.padLeft, g.padBottom, g.padRight] },
        output_padding: { ints: [opH, opW] },
      });
      return [T(graph, dx, NCHW_TO_NHWC), [g.batch, g.inH, g.inW, g.inC]];
    },
    [g.batch, g.inH, g.inW, g.inC],
  );
}

/** dW of the convolution of geometry `g`: [kH, kW, inC, outC]. */
export function onnxConvBackpropFilter(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, g: ConvGeometry): TensorInfo {
  const pointwise = isPointwise(g);
  const m = g.batch * g.inH * g.inW;
  const feeds: Feed[] = [
    ['x', x, pointwise ? [m, g.inC] : [g.batch, g.inH, g.inW, g.inC]],
    ['dy', dy, pointwise ? [m, g.outC] : [g.batch, g.outH, g.outW, g.outC]],
  ];
  const taps = !pointwise && dwFormOf(g) === 'taps';
  return run(
    backend,
    `dw:${pointwise ? 'gemm' : taps ? 'taps' : 'conv'}:${geometryKey(g)}`,
    feeds,
    (graph, [xs, d]) => {
      if (pointwise) return [graph.addNode('Gemm', [xs as string, d as string], { transA: { i: 1 } }), [g.inC, g.outC]];
      if (taps) return [filterGradientByTaps(graph, xs as string, d as string, g), [g.kH, g.kW, g.inC, g.outC]];
      // dW[ci, co, kh, kw] = sum over n, oh, ow of xPadded[ci, n, oh*s + kh, ow*s + kw] dy[co, n, oh, ow]:
      // a conv with dilation s whose output is K x K. Its end padding can come out negative where the
      // forward never read the last rows: those are sliced off instead.
      let xt = T(graph, xs as string, [3, 0, 1, 2]);
      const endH = g.kH + g.strideH * (g.outH - 1) - g.inH - g.padTop;
      const endW = g.kW + g.strideW * (g.outW - 1) - g.inW - g.padLeft;
      if (endH < 0 || endW < 0) {
        xt = graph.addNode('Slice', [
          xt,
          graph.int64([0, 0]),
          graph.int64([g.inH + Math.min(endH, 0), g.inW + Math.min(endW, 0)]),
          graph.int64([2, 3]),
        ]);
      }
      const dw = graph.addNode('Conv', [xt, T(graph, d as string, [3, 0, 1, 2])], {
        dilations: { ints: [g.strideH, g.strideW] },
        pads: { ints: [g.padTop, g.padLeft, Math.max(endH, 0), Math.max(endW, 0)] },
      });
      return [T(graph, dw, [2, 3, 0, 1]), [g.kH, g.kW, g.inC, g.outC]];
    },
    [g.kH, g.kW, g.inC, g.outC],
  );
}

/**
 * How the filter gradient of a k x k convolution runs on onnxruntime:
 * - `taps`: one matrix product per kernel tap ({@link filterGradientByTaps});
 * - `conv`: one convolution of x by dy whose kernel is as large as the image;
 * - `auto` (default): `conv` for kernels of {@link DW_CONV_MIN_TAPS} taps and more, `taps` below.
 *
 * Measured one call at a time, the forms alternating (`node bench/engine/kernels.mjs --dw-forms`):
 * on the 7 x 7 stride-2 stems the `conv` form took 4.7 against 23.1 ms (CMC, x [32, 64, 64, 2],
 * 8 out) and 21.5 against 80.2 ms (ResNet-34, x [8, 128, 128, 3], 64 out), where 49 products of
 * 2 or 3 rows each leave MLAS's SGEMM idle; on the 3 x 3 layers `taps` was 1.2-2.6x faster.
 * `COVSEV_DW` sets the form for a process, {@link onnxConvDwForm} for comparisons.
 */
export type OnnxConvDwForm = 'auto' | 'taps' | 'conv';
const DW_FORMS: readonly OnnxConvDwForm[] = ['auto', 'taps', 'conv'];
/** `auto` runs the filter gradient as one `conv` from this many kernel taps (5 x 5) up. */
export const DW_CONV_MIN_TAPS = 25;

function parseDwForm(value: string | undefined, source: string): OnnxConvDwForm {
  if (value === undefined || value === '') return 'auto';
  if ((DW_FORMS as readonly string[]).includes(value)) return value as OnnxConvDwForm;
  throw new Error(`${source}: '${value}' is not a filter-gradient form; expected one of ${DW_FORMS.join(', ')}`);
}

let DW_FORM = parseDwForm(process.env.COVSEV_DW, 'COVSEV_DW');

/** Sets the filter-gradient form (see {@link OnnxConvDwForm}), for comparisons; returns the previous one. */
export function onnxConvDwForm(form: OnnxConvDwForm): OnnxConvDwForm {
  const was = DW_FORM;
  DW_FORM = parseDwForm(form, 'onnxConvDwForm');
  return was;
}

/** The form the filter gradient of `g` runs in now (`onnxConvDwForm`, and `auto`'s rule). */
export function dwFormOf(g: ConvGeometry): 'taps' | 'conv' {
  if (DW_FORM !== 'auto') return DW_FORM;
  return g.kH * g.kW >= DW_CONV_MIN_TAPS ? 'conv' : 'taps';
}

/**
 * dW as one GEMM per kernel tap, on NHWC data with no transposes:
 * dW[kh, kw] = xTap(kh, kw)^T dy, where xTap is the [N*OH*OW, Ci] matrix of the padded x at rows
 * kh + s*oh and columns kw + s*ow (a strided Slice), dy the [N*OH*OW, Co] matrix; the K*K
 * [Ci, Co] products are stacked into [kH, kW, Ci, Co] (tfjs' filter layout). Same sums as the
 * convolution form, but each is MLAS's SGEMM with a long inner dimension.
 */
function filterGradientByTaps(graph: OnnxGraphBuilder, x: string, dy: string, g: ConvGeometry): string {
  const m = g.batch * g.outH * g.outW;
  const endH = Math.max(0, g.kH + g.strideH * (g.outH - 1) - g.inH - g.padTop);
  const endW = Math.max(0, g.kW + g.strideW * (g.outW - 1) - g.inW - g.padLeft);
  const padded =
    g.padTop + g.padLeft + endH + endW === 0
      ? x
      : graph.addNode('Pad', [x, graph.int64([0, g.padTop, g.padLeft, 0, 0, endH, endW, 0])]);
  const dyMatrix = graph.addNode('Reshape', [dy, graph.int64([m, g.outC])]);
  const products: string[] = [];
  for (let kh = 0; kh < g.kH; kh++) {
    for (let kw = 0; kw < g.kW; kw++) {
      const tap = graph.addNode('Slice', [
        padded,
        graph.int64([kh, kw]),
        graph.int64([kh + g.strideH * (g.outH - 1) + 1, kw + g.strideW * (g.outW - 1) + 1]),
        graph.int64([1, 2]),
        graph.int64([g.strideH, g.strideW]),
      ]);
      const tapMatrix = graph.addNode('Reshape', [tap, graph.int64([m, g.inC])]);
      const product = graph.addNode('Gemm', [tapMatrix, dyMatrix], { transA: { i: 1 } });
      products.push(graph.addNode('Unsqueeze', [product, graph.int64([0])]));
    }
  }
  const stacked = products.length === 1 ? (products[0] as string) : graph.addNode('Concat', products, { axis: { i: 0 } });
  return graph.addNode('Reshape', [stacked, graph.int64([g.kH, g.kW, g.inC, g.outC])]);
}
