/**
 * SplitV and Concat for the wasm backend. The stock SplitV slices each part through Slice (one
 * `subarray` copy per innermost row up to rank 4, element by element above); the stock Concat
 * copies one `subarray` per outer index and input. On the channel axis of ResNeSt's split
 * attention ([B*D, H, W, C] with 8-32 channels a part) that is hundreds of thousands of tiny
 * views per call.
 *
 * Both are block copies on the wasm heap: with outer = prod(shape[:axis]) and inner =
 * prod(shape[axis+1:]), part i contributes a chunk of size_i * inner elements per outer index.
 * Chunks of at least SMALL_CHUNK elements are copied with `set(subarray)`, smaller ones with a
 * plain loop (float32 as int32 bits, one loop per element type); parts that are contiguous
 * (outer = 1) are copied in one go. With covsev's SIMD kernels (`simd.ts`) the strided chunks are
 * one `copyRows` call instead. Float32, int32 and bool (other dtypes go to the stock kernels).
 */
import {
  backend_util,
  Concat,
  type ConcatAttrs,
  type KernelConfig,
  type KernelFunc,
  SplitV,
  type SplitVAttrs,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type SimdKernels, simdKernels } from './simd.js';
import { stockKernelFunc } from './stock.js';

/** covsev's SIMD row copy (`simd.ts`), for arrays that are views of the wasm heap. */
type RowCopy = SimdKernels['copyRows'];

type Heap = Float32Array | Int32Array | Uint8Array;

/** Below this many elements a chunk is copied by a loop (a subarray view costs more). */
const SMALL_CHUNK = 64;

// The small-chunk loops, one per element type so that each stays monomorphic (a loop that sees
// several typed-array types runs at about half the speed). Float32 is copied as int32 bits.
function loopInt32(
  dst: Int32Array,
  d0: number,
  ds: number,
  src: Int32Array,
  s0: number,
  ss: number,
  chunk: number,
  outer: number,
): void {
  for (let o = 0, d = d0, s = s0; o < outer; o++, d += ds, s += ss) {
    for (let i = 0; i < chunk; i++) dst[d + i] = src[s + i] as number;
  }
}

function loopUint8(
  dst: Uint8Array,
  d0: number,
  ds: number,
  src: Uint8Array,
  s0: number,
  ss: number,
  chunk: number,
  outer: number,
): void {
  for (let o = 0, d = d0, s = s0; o < outer; o++, d += ds, s += ss) {
    for (let i = 0; i < chunk; i++) dst[d + i] = src[s + i] as number;
  }
}

const asInt32 = (h: Float32Array | Int32Array): Int32Array =>
  h instanceof Int32Array ? h : new Int32Array(h.buffer, h.byteOffset, h.length);

/**
 * Copies `outer` chunks of `chunk` elements: chunk o from src at srcStart + o * srcStride to dst
 * at dstStart + o * dstStride. dst and src have the same type.
 */
function copyChunks(
  dst: Heap,
  dstStart: number,
  dstStride: number,
  src: Heap,
  srcStart: number,
  srcStride: number,
  chunk: number,
  outer: number,
  rows?: RowCopy,
): void {
  if (chunk === 0 || outer === 0) return;
  if (outer === 1 || (chunk === dstStride && chunk === srcStride)) {
    dst.set(src.subarray(srcStart, srcStart + chunk * outer), dstStart);
    return;
  }
  if (rows !== undefined) {
    const e = dst.BYTES_PER_ELEMENT;
    rows(src.byteOffset + srcStart * e, srcStride * e, dst.byteOffset + dstStart * e, dstStride * e, outer, chunk * e);
    return;
  }
  if (chunk < SMALL_CHUNK) {
    if (dst instanceof Uint8Array) {
      loopUint8(dst, dstStart, dstStride, src as Uint8Array, srcStart, srcStride, chunk, outer);
    } else {
      loopInt32(asInt32(dst), dstStart, dstStride, asInt32(src as Float32Array | Int32Array), srcStart, srcStride, chunk, outer);
    }
    return;
  }
  for (let o = 0, d = dstStart, s = srcStart; o < outer; o++, d += dstStride, s += srcStride) {
    dst.set(src.subarray(s, s + chunk), d);
  }
}

/**
 * Concatenates the parts along an axis: `chunks[i]` is part i's size along the axis times the
 * inner size, `outer` the product of the axes before it; `rows`, covsev's SIMD row copy, where
 * every array is a view of the heap it was bound to. Exported for the tests.
 */
export function concatInto(srcs: readonly Heap[], chunks: readonly number[], outer: number, out: Heap, rows?: RowCopy): void {
  const stride = chunks.reduce((a, b) => a + b, 0);
  let at = 0;
  srcs.forEach((src, i) => {
    const chunk = chunks[i] as number;
    copyChunks(out, at, stride, src, 0, chunk, chunk, outer, rows);
    at += chunk;
  });
}

/** Splits `src` into the parts, the inverse of concatInto. Exported for the tests. */
export function splitInto(src: Heap, chunks: readonly number[], outer: number, outs: readonly Heap[], rows?: RowCopy): void {
  const stride = chunks.reduce((a, b) => a + b, 0);
  let at = 0;
  outs.forEach((out, i) => {
    const chunk = chunks[i] as number;
    copyChunks(out, 0, chunk, src, at, stride, chunk, outer, rows);
    at += chunk;
  });
}

function supported(dtype: string): boolean {
  return dtype === 'float32' || dtype === 'int32' || dtype === 'bool';
}

function splitV(args: { inputs: { x?: TensorInfo }; backend: BackendWasm; attrs: SplitVAttrs }): TensorInfo[] {
  const { x } = args.inputs;
  if (x === undefined) throw new Error('covsev SplitV: input x is required');
  if (!supported(x.dtype)) return stockKernelFunc(SplitV)(args as never) as TensorInfo[];
  const axis = util.parseAxisParam(args.attrs.axis, x.shape)[0] as number;
  const sizes = backend_util.prepareSplitSize(x as never, args.attrs.numOrSizeSplits, axis);
  const outer = util.sizeFromShape(x.shape.slice(0, axis));
  const inner = util.sizeFromShape(x.shape.slice(axis + 1));
  const outs = sizes.map((s) => {
    const shape = x.shape.slice();
    shape[axis] = s;
    return args.backend.makeOutput(shape, x.dtype);
  });
  if (util.sizeFromShape(x.shape) === 0) return outs;
  // Views after all the allocations: allocating may grow (and detach) the heap.
  const src = args.backend.typedArrayFromHeap(x) as Heap;
  const dsts = outs.map((o) => args.backend.typedArrayFromHeap(o) as Heap);
  splitInto(
    src,
    sizes.map((s) => s * inner),
    outer,
    dsts,
    simdKernels(args.backend)?.copyRows,
  );
  return outs;
}

function concat(args: { inputs: TensorInfo[]; backend: BackendWasm; attrs: ConcatAttrs }): TensorInfo {
  const { inputs } = args;
  const first = inputs[0];
  if (first === undefined) throw new Error('covsev Concat: at least one input is required');
  if (!inputs.every((t) => supported(t.dtype) && t.dtype === first.dtype)) {
    return stockKernelFunc(Concat)(args as never) as TensorInfo;
  }
  const axis = util.parseAxisParam(args.attrs.axis, first.shape)[0] as number;
  const shapes = inputs.map((t) => t.shape);
  backend_util.assertParamsConsistent(shapes, axis);
  const outShape = backend_util.computeOutShape(shapes, axis);
  const out = args.backend.makeOutput(outShape, first.dtype);
  // tfjs may pass parts of size 0: they contribute nothing.
  const parts = inputs.filter((t) => util.sizeFromShape(t.shape) > 0);
  if (util.sizeFromShape(outShape) === 0 || parts.length === 0) return out;
  const outer = util.sizeFromShape(outShape.slice(0, axis));
  const chunks = parts.map((t) => util.sizeFromShape(t.shape.slice(axis)));
  // Views after the allocation: allocating may grow (and detach) the heap.
  const srcs = parts.map((t) => args.backend.typedArrayFromHeap(t) as Heap);
  const dst = args.backend.typedArrayFromHeap(out) as Heap;
  concatInto(srcs, chunks, outer, dst, simdKernels(args.backend)?.copyRows);
  return out;
}

export const splitVConfig: KernelConfig = {
  kernelName: SplitV,
  backendName: 'wasm',
  kernelFunc: splitV as unknown as KernelFunc,
};

export const concatConfig: KernelConfig = {
  kernelName: Concat,
  backendName: 'wasm',
  kernelFunc: concat as unknown as KernelFunc,
};
