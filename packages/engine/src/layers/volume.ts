import * as tf from '@tensorflow/tfjs';

/**
 * A batch of 3D feature maps in covsev's slice layout.
 *
 * PyTorch holds a volume batch as NCDHW `[B, C, D, H, W]`. covsev keeps it as
 * `tensor: [B*D, H, W, C]` (row `b*D + d` is slice `d` of volume `b`, channels last) plus the two
 * numbers needed to undo the fold, `batch` (B) and `depth` (D). Every 1 x k x k convolution of the
 * CMC network is then a plain 2D convolution over B*D slices, batch norm is a reshape to
 * `[B*D*H*W, C]`, and only the depth pools ever look at the depth axis (through reshapes, never
 * rank-5 transposes, which are slow on wasm).
 */
export interface Volume5 {
  readonly tensor: tf.Tensor4D;
  readonly batch: number;
  readonly depth: number;
}

/**
 * What flows between modules: a {@link Volume5}, a rank-4 tensor `[N, H, W, C]` (a 2D image batch,
 * read as a volume batch of depth 1), or a rank-2 `[B, F]` feature matrix.
 */
export type Activation = Volume5 | tf.Tensor;

export function isVolume5(x: Activation): x is Volume5 {
  return !(x instanceof tf.Tensor);
}

/** A volume from a `[B*D, H, W, C]` tensor; checks that the first axis is B*D. */
export function volume(tensor: tf.Tensor4D, batch: number, depth: number): Volume5 {
  if (tensor.rank !== 4) throw new Error(`a Volume5 tensor is [B*D, H, W, C], got shape [${tensor.shape}]`);
  if (!Number.isInteger(batch) || !Number.isInteger(depth) || batch < 1 || depth < 1 || tensor.shape[0] !== batch * depth) {
    throw new Error(`Volume5: first axis ${tensor.shape[0]} is not batch ${batch} x depth ${depth}`);
  }
  return { tensor, batch, depth };
}

/** Reads any 4D activation as a volume (a rank-4 tensor is a batch of depth-1 volumes). */
export function asVolume(x: Activation, who: string): Volume5 {
  if (isVolume5(x)) return x;
  if (x.rank === 4) return { tensor: x as tf.Tensor4D, batch: x.shape[0] ?? 1, depth: 1 };
  throw new Error(`${who} expects a Volume5 or a [N, H, W, C] tensor, got a tensor of shape [${x.shape}]`);
}

/** Reads an activation as a plain tensor (feature matrices), with a clear error for volumes. */
export function asTensor(x: Activation, who: string, rank?: number): tf.Tensor {
  if (isVolume5(x)) {
    throw new Error(`${who} expects a tensor, got a Volume5 [${x.tensor.shape}] (pool or flatten it first)`);
  }
  if (rank !== undefined && x.rank !== rank) throw new Error(`${who} expects a rank-${rank} tensor, got shape [${x.shape}]`);
  return x;
}

/** The tensor inside an activation (the folded `[B*D, H, W, C]` one for a volume). */
export function tensorOf(x: Activation): tf.Tensor {
  return isVolume5(x) ? x.tensor : x;
}

/**
 * Applies a per-slice op (one that keeps the first axis): on a volume it keeps `batch` and
 * `depth`, on a plain rank-4 tensor it returns a plain tensor.
 */
export function mapSlices(x: Activation, who: string, f: (t: tf.Tensor4D) => tf.Tensor4D): Activation {
  if (isVolume5(x)) return volume(f(x.tensor), x.batch, x.depth);
  if (x.rank !== 4) throw new Error(`${who} expects a Volume5 or a [N, H, W, C] tensor, got shape [${x.shape}]`);
  return f(x as tf.Tensor4D);
}

/**
 * NCDHW host data `[B, C, D, H, W]` (PyTorch's layout, and the ONNX export's input) to the
 * slice layout `[B*D, H, W, C]`, rearranged in JS (no rank-5 tensor op).
 */
export function ncdhwToSlices(data: ArrayLike<number>, shape: readonly number[]): Float32Array {
  const [b, c, d, h, w] = dims5(shape);
  if (data.length !== b * c * d * h * w) throw new Error(`ncdhwToSlices: ${data.length} values for shape [${shape}]`);
  const out = new Float32Array(data.length);
  const hw = h * w;
  for (let bi = 0; bi < b; bi++) {
    for (let ci = 0; ci < c; ci++) {
      for (let di = 0; di < d; di++) {
        const src = (((bi * c + ci) * d + di) * hw) | 0;
        const dst = (bi * d + di) * hw * c + ci;
        for (let p = 0; p < hw; p++) out[dst + p * c] = data[src + p] as number;
      }
    }
  }
  return out;
}

/** The slice layout `[B*D, H, W, C]` back to NCDHW `[B, C, D, H, W]` host data. */
export function slicesToNcdhw(data: ArrayLike<number>, shape: readonly number[]): Float32Array {
  const [b, c, d, h, w] = dims5(shape);
  if (data.length !== b * c * d * h * w) throw new Error(`slicesToNcdhw: ${data.length} values for shape [${shape}]`);
  const out = new Float32Array(data.length);
  const hw = h * w;
  for (let bi = 0; bi < b; bi++) {
    for (let ci = 0; ci < c; ci++) {
      for (let di = 0; di < d; di++) {
        const dst = ((bi * c + ci) * d + di) * hw;
        const src = (bi * d + di) * hw * c + ci;
        for (let p = 0; p < hw; p++) out[dst + p] = data[src + p * c] as number;
      }
    }
  }
  return out;
}

/** A volume tensor from NCDHW host data `[B, C, D, H, W]`. */
export function volumeFromNcdhw(data: ArrayLike<number>, shape: readonly number[]): Volume5 {
  const [b, c, d, h, w] = dims5(shape);
  return volume(tf.tensor4d(ncdhwToSlices(data, shape), [b * d, h, w, c]), b, d);
}

/** A volume's values as NCDHW host data, with that shape. */
export async function volumeToNcdhw(
  v: Volume5,
): Promise<{ data: Float32Array; shape: [number, number, number, number, number] }> {
  const [, h, w, c] = v.tensor.shape;
  const shape: [number, number, number, number, number] = [v.batch, c, v.depth, h, w];
  return { data: slicesToNcdhw(await v.tensor.data(), shape), shape };
}

function dims5(shape: readonly number[]): [number, number, number, number, number] {
  if (shape.length !== 5 || shape.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new Error(`expected an NCDHW shape [B, C, D, H, W], got [${shape}]`);
  }
  const [b, c, d, h, w] = shape as [number, number, number, number, number];
  return [b, c, d, h, w];
}

/** Output height or width of a k x k window with stride s and padding p (PyTorch's floor rule); throws when empty. */
export function windowOutputSize(who: string, size: number, kernel: number, stride: number, padding: number): number {
  const out = Math.floor((size + 2 * padding - kernel) / stride) + 1;
  if (out < 1) throw new Error(`${who}: input size ${size} is too small`);
  return out;
}
