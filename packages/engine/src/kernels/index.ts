export { BATCH_NORM_GRAD, batchNormTrainingKernels, CHANNEL_MOMENTS } from './batchNormTraining.js';
export {
  DW_CONV_MIN_TAPS,
  disableOnnxConv,
  enableOnnxConv,
  ONNX_CONV_RUNTIME_VERSION,
  type OnnxConvDwForm,
  type OnnxConvStatus,
  onnxConvDwForm,
  onnxConvDxForm,
  onnxConvStatus,
} from './onnxConv.js';
export { ADAM_UPDATE, adamUpdateKernel, SGD_UPDATE, sgdUpdateKernel } from './optimizerUpdates.js';
export {
  COVSEV_KERNEL_NAMES,
  covsevKernelConfigs,
  registerCovsevKernels,
  registeredCovsevKernels,
  unregisterCovsevKernels,
} from './register.js';
export { RELU, RELU_GRAD, reluGradKernel } from './reluGrad.js';
export { SIMD_KERNELS_FILE, type SimdKernels, simdKernelStatus, simdKernels, useSimdKernels } from './simd.js';
