export {
  disableOnnxConv,
  enableOnnxConv,
  ONNX_CONV_RUNTIME_VERSION,
  type OnnxConvStatus,
  onnxConvStatus,
} from './onnxConv.js';
export {
  COVSEV_KERNEL_NAMES,
  covsevKernelConfigs,
  registerCovsevKernels,
  registeredCovsevKernels,
  unregisterCovsevKernels,
} from './register.js';
