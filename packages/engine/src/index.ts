export { explainHeapExhaustion, isWasmHeapExhaustion, WasmHeapError, wasmHeapBytes } from './backend/heap.js';
export * from './backend/index.js';
export * from './kernels/index.js';
export * from './layers/index.js';
export {
  Container,
  disposeModule,
  type ForwardContext,
  type Module,
  type ModuleList,
  type NamedVariable,
  namedVariables,
  parameterCount,
  parameterMap,
  prefixed,
  Residual,
  type ResidualOptions,
  Sequential,
  tidyActivation,
  variableMap,
} from './module.js';
export * from './onnx/index.js';
export * from './parallel/index.js';
export {
  formatLoadReport,
  type LoadReport,
  type LoadStateOptions,
  loadTorchStateDict,
  type ShapeMismatch,
  StateDictMismatchError,
  type TorchStateDict,
  type TorchTensor,
  torchStateDict,
  torchTargets,
} from './torchWeights.js';
export * from './train/index.js';
export * from './weights/index.js';
