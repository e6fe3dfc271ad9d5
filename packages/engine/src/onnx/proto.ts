/**
 * onnx-proto (protobufjs-generated ONNX messages, ONNX 1.10 schema) is a CommonJS package whose
 * exports Node's ESM loader cannot name (`import { onnx } from 'onnx-proto'` fails at run time
 * under plain Node), so take its default export and hand out the `onnx` namespace from here.
 */
import onnxProto from 'onnx-proto';

export type { onnx as OnnxProto } from 'onnx-proto';
export const onnx = onnxProto.onnx;
