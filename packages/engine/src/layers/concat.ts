import * as tf from '@tensorflow/tfjs';
import { attr, type OnnxGraphBuilder, type OnnxValue, type OnnxVolumeValue } from '../onnx/graph.js';

/**
 * Concatenates `[N, H, W, Ci]` batches along the channels into `[N, H, W, sum Ci]`, in list order
 * (PyTorch's `torch.cat(list, dim=1)` on NCHW): the decoders' skip connections and DenseNet's
 * dense blocks. On wasm covsev's Concat / SplitV kernels run it and its gradient.
 *
 * Raises: a RangeError naming the first tensor whose N, H or W differs from the first one's.
 */
export function concatChannels(list: readonly tf.Tensor4D[]): tf.Tensor4D {
  if (list.length === 0) throw new RangeError('concatChannels: nothing to concatenate');
  const first = list[0] as tf.Tensor4D;
  list.forEach((t, i) => {
    if (t.rank !== 4) throw new RangeError(`concatChannels: tensor ${i} must be [N, H, W, C], got shape [${t.shape}]`);
    if (t.shape[0] !== first.shape[0] || t.shape[1] !== first.shape[1] || t.shape[2] !== first.shape[2]) {
      throw new RangeError(
        `concatChannels: tensor ${i} has shape [${t.shape}], tensor 0 [${first.shape}]: N, H and W must agree`,
      );
    }
  });
  if (list.length === 1) return first.clone();
  return tf.concat(list as tf.Tensor4D[], 3);
}

/**
 * The ONNX twin of {@link concatChannels}: `Concat` along axis 1 of NCHW volume values.
 *
 * Raises: a RangeError naming the first value that is not a volume, or whose depth, height or
 * width differs from the first one's.
 */
export function concatOnnx(graph: OnnxGraphBuilder, values: readonly OnnxValue[]): OnnxVolumeValue {
  if (values.length === 0) throw new RangeError('concatOnnx: nothing to concatenate');
  const volumes = values.map((v, i) => {
    if (v.kind !== 'volume') throw new RangeError(`concatOnnx: value ${i} ('${v.name}') is not a volume`);
    return v;
  });
  const first = volumes[0] as OnnxVolumeValue;
  volumes.forEach((v, i) => {
    if (v.depth !== first.depth || v.height !== first.height || v.width !== first.width) {
      throw new RangeError(
        `concatOnnx: value ${i} ('${v.name}') is D${v.depth} x ${v.height}x${v.width}, value 0 D${first.depth} x ${first.height}x${first.width}`,
      );
    }
  });
  const channels = volumes.reduce((s, v) => s + v.channels, 0);
  if (volumes.length === 1) return first;
  const name = graph.addNode(
    'Concat',
    volumes.map((v) => v.name),
    { axis: attr.i(1) },
  );
  return { ...first, name, channels };
}
