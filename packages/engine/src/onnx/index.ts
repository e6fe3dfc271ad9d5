export { buildOnnxModel, exportOnnx, type OnnxExportInfo, type OnnxExportOptions } from './export.js';
export {
  attr,
  ONNX_IR_VERSION,
  ONNX_OPSET,
  type OnnxAttribute,
  type OnnxDim,
  OnnxGraphBuilder,
  type OnnxMatrixValue,
  type OnnxModelMeta,
  type OnnxValue,
  type OnnxVolumeValue,
  reshape as onnxReshape,
} from './graph.js';
export { type OnnxProto, onnx } from './proto.js';
export {
  cudaProviderInstalled,
  type OnnxArray,
  type OnnxExecutionProvider,
  OnnxSession,
  type OnnxSessionOptions,
} from './session.js';
