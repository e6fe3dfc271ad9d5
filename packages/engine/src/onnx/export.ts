import { writeFileAtomic } from '@covsev/io';
import type { Module } from '../module.js';
import { attr, type OnnxDim, OnnxGraphBuilder, type OnnxValue, reshape } from './graph.js';

export interface OnnxExportOptions {
  /** Graph input name; default `input`. */
  readonly inputName?: string;
  /** Graph output name; default `output`. */
  readonly outputName?: string;
  /** Keep the batch dimension symbolic (`batch`); default true. Otherwise fixed to inputShape[0]. */
  readonly dynamicBatch?: boolean;
  /**
   * A volume output as NCDHW `[B, C, D, H, W]` (default, one Transpose when C > 1 and D > 1) or
   * as the graph's own slices `[B*D, C, H, W]` (no transpose).
   */
  readonly volumeOutput?: 'ncdhw' | 'slices';
  readonly graphName?: string;
  readonly docString?: string;
}

/** What an export wrote. */
export interface OnnxExportInfo {
  readonly inputName: string;
  readonly outputName: string;
  readonly inputShape: readonly OnnxDim[];
  readonly outputShape: readonly OnnxDim[];
  /** Node counts by operator (after folding: no BatchNormalization after a conv). */
  readonly opCounts: Readonly<Record<string, number>>;
  readonly bytes: number;
}

/**
 * Builds the ONNX model (opset 17, IR 8) of `model` in eval mode, batch norm folded into the
 * convolutions before it.
 *
 * `inputShape` is PyTorch's: `[B, C, D, H, W]` for a volume model (the input is NCDHW), `[B, C, H, W]`
 * for a 2D model, `[B, F]` for a model on feature vectors. Inside, volumes are `[B*D, C, H, W]` (see
 * graph.ts): the NCDHW input costs one Transpose (none when C = 1 or D = 1, where a Reshape is the
 * same memory), a volume output one more, a matrix output none.
 */
export function buildOnnxModel(
  model: Module,
  inputShape: readonly number[],
  options: OnnxExportOptions = {},
): { bytes: Uint8Array; info: OnnxExportInfo } {
  if (inputShape.some((s) => !Number.isInteger(s) || s < 1)) throw new Error(`exportOnnx: bad input shape [${inputShape}]`);
  const graph = new OnnxGraphBuilder();
  const inputName = options.inputName ?? 'input';
  const outputName = options.outputName ?? 'output';
  const batch: OnnxDim = (options.dynamicBatch ?? true) ? 'batch' : (inputShape[0] as number);
  const inputDims: OnnxDim[] = [batch, ...inputShape.slice(1)];
  graph.addInput(inputName, inputDims);

  let value: OnnxValue;
  if (inputShape.length === 5) {
    const [, c, d, h, w] = inputShape as [number, number, number, number, number];
    let slices = inputName;
    if (c > 1 && d > 1) slices = graph.addNode('Transpose', [slices], { perm: attr.ints([0, 2, 1, 3, 4]) });
    slices = reshape(graph, slices, [-1, c, h, w]);
    value = { kind: 'volume', name: slices, depth: d, channels: c, height: h, width: w };
  } else if (inputShape.length === 4) {
    const [, c, h, w] = inputShape as [number, number, number, number];
    value = { kind: 'volume', name: inputName, depth: 1, channels: c, height: h, width: w };
  } else if (inputShape.length === 2) {
    value = { kind: 'matrix', name: inputName, features: inputShape[1] as number };
  } else {
    throw new Error(`exportOnnx: input shape must be [B, C, D, H, W], [B, C, H, W] or [B, F], got [${inputShape}]`);
  }

  const out = model.toOnnx(graph, value);

  let outName: string;
  let outputDims: OnnxDim[];
  if (out.kind === 'matrix') {
    outName = out.name;
    outputDims = [batch, out.features];
  } else {
    const { depth: d, channels: c, height: h, width: w } = out;
    if (options.volumeOutput === 'slices') {
      outName = out.name;
      outputDims = [typeof batch === 'number' ? batch * d : 'batch_x_depth', c, h, w];
    } else if (inputShape.length === 4 && d === 1) {
      outName = out.name;
      outputDims = [batch, c, h, w];
    } else {
      if (c > 1 && d > 1) {
        outName = graph.addNode('Transpose', [reshape(graph, out.name, [-1, d, c, h, w])], { perm: attr.ints([0, 2, 1, 3, 4]) });
      } else {
        outName = reshape(graph, out.name, [-1, c, d, h, w]);
      }
      outputDims = [batch, c, d, h, w];
    }
  }
  if (outName === inputName) outName = graph.addNode('Identity', [outName]);
  graph.addOutput(outName, outputName, outputDims);

  const bytes = graph.encode({
    graphName: options.graphName ?? model.name,
    docString:
      options.docString ??
      `covsev export of ${model.name}; input ${inputName} [${inputDims}], output ${outputName} [${outputDims}]`,
  });
  return {
    bytes,
    info: {
      inputName,
      outputName,
      inputShape: inputDims,
      outputShape: outputDims,
      opCounts: graph.opCounts(),
      bytes: bytes.length,
    },
  };
}

/** {@link buildOnnxModel}, written atomically to `path` (temporary sibling + rename). */
export async function exportOnnx(
  model: Module,
  inputShape: readonly number[],
  path: string,
  options: OnnxExportOptions = {},
): Promise<OnnxExportInfo> {
  const { bytes, info } = buildOnnxModel(model, inputShape, options);
  await writeFileAtomic(path, bytes);
  return info;
}
