export { ADAM_UPDATE, adamUpdateKernel } from './adamUpdate.js';
export { BATCH_NORM_GRAD, batchNormTrainingKernels, CHANNEL_MOMENTS } from './batchNormTraining.js';
export {
  disableOnnxConv,
  enableOnnxConv,
  ONNX_CONV_RUNTIME_VERSION,
  type OnnxConvStatus,
  onnxConvDxForm,
  onnxConvStatus,
} from './onnxConv.js';
export {
  COVSEV_KERNEL_NAMES,
  covsevKernelConfigs,
  registerCovsevKernels,
  registeredCovsevKernels,
  unregisterCovsevKernels,
} from './register.js';
export { SGD_UPDATE, sgdUpdateKernel } from './sgdUpdate.js';
export { SIMD_KERNELS_FILE, type SimdKernels, simdKernelStatus, simdKernels, useSimdKernels } from './simd.js';
