/**
 * Tile for the wasm backend. The stock kernel walks the output element by element (about 15 M
 * elements/s); in a conv-BN-relu training step it was the biggest line of the profile, because
 * tfjs' batch-norm gradient tiles the [C] statistics to the full [B, H, W, C] activation.
 *
 * Tiling is done block-wise with typed-array copies on the wasm heap: from the innermost axis
 * out, each axis with a repetition turns every contiguous chunk (that axis times the already
 * tiled inner axes) into `reps` copies of itself, by copy-doubling (`copyWithin`). Axes without
 * repetition only grow the chunk. Float32, int32 and bool (as the stock kernel).
 */
import { type KernelConfig, type KernelFunc, type TensorInfo, Tile, type TileAttrs, util } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type Heap = Float32Array | Int32Array | Uint8Array;

/** Writes r copies of src[from, from + chunk) into dst at `at`. */
function repeatChunk(dst: Heap, at: number, src: Heap, from: number, chunk: number, r: number): void {
  if (chunk === 1) {
    dst.fill(src[from] as number, at, at + r);
    return;
  }
  if (chunk * r <= 64) {
    for (let j = 0; j < r; j++) for (let i = 0; i < chunk; i++) dst[at + j * chunk + i] = src[from + i] as number;
    return;
  }
  dst.set(src.subarray(from, from + chunk), at);
  let filled = chunk;
  const total = chunk * r;
  while (filled < total) {
    const n = Math.min(filled, total - filled);
    dst.copyWithin(at + filled, at, at + n);
    filled += n;
  }
}

/**
 * Tiles `src` (shape `shape`) by `reps` into `out` (length prod(shape * reps)). Exported for
 * the tests; works on any typed array.
 */
export function tileInto(src: Heap, shape: readonly number[], reps: readonly number[], out: Heap): void {
  let cur: Heap = src;
  let block = 1; // elements of the already tiled inner axes, per index of the outer ones
  const last = reps.findIndex((r) => r > 1); // the outermost repeated axis: its pass writes `out`
  if (last < 0) {
    out.set(src.subarray(0, out.length));
    return;
  }
  for (let a = shape.length - 1; a >= 0; a--) {
    const r = reps[a] ?? 1;
    const chunk = (shape[a] ?? 1) * block;
    if (r === 1) {
      block = chunk;
      continue;
    }
    const prefixes = chunk === 0 ? 0 : cur.length / chunk;
    const next: Heap = a === last ? out : new (cur.constructor as new (n: number) => Heap)(prefixes * chunk * r);
    for (let p = 0; p < prefixes; p++) repeatChunk(next, p * chunk * r, cur, p * chunk, chunk, r);
    cur = next;
    block = chunk * r;
  }
}

function tile(args: { inputs: { x?: TensorInfo }; backend: BackendWasm; attrs: TileAttrs }): TensorInfo {
  const { x } = args.inputs;
  if (x === undefined) throw new Error('covsev Tile: input x is required');
  const { reps } = args.attrs;
  if (x.dtype !== 'float32' && x.dtype !== 'int32' && x.dtype !== 'bool') {
    throw new Error(`covsev Tile: dtype ${x.dtype} is not supported on wasm (float32, int32, bool)`);
  }
  if (reps.length !== x.shape.length) {
    throw new Error(`covsev Tile: reps [${reps.join(', ')}] must have one entry per axis of [${x.shape.join(', ')}]`);
  }
  const outShape = x.shape.map((d, i) => d * (reps[i] as number));
  const out = args.backend.makeOutput(outShape, x.dtype);
  if (util.sizeFromShape(outShape) === 0) return out;
  // Views after the allocation: allocating may grow (and detach) the heap.
  const src = args.backend.typedArrayFromHeap(x) as Heap;
  const dst = args.backend.typedArrayFromHeap(out) as Heap;
  tileInto(src, x.shape, reps, dst);
  return out;
}

export const tileConfig: KernelConfig = {
  kernelName: Tile,
  backendName: 'wasm',
  kernelFunc: tile as unknown as KernelFunc,
};
