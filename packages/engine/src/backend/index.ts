export type { BackendDiagnosis, DoctorBackend, DoctorProbes, DoctorReason, DoctorReport, DoctorSystem } from './doctor.js';
export {
  CUDA_PATH,
  cudaReasons,
  diagnoseBackends,
  diagnoseThisMachine,
  formatDoctorReport,
  MIN_DRIVER_CUDA11,
  realProbes,
  realSystem,
} from './doctor.js';
export type { NativePackage, NativeProbe } from './packages.js';
export { probeNative, tfjsCoreDir } from './packages.js';
export type { BackendInfo, BackendName, ConvEngine, InitBackendOptions, SkippedBackend } from './select.js';
export { BACKEND_ENV, BACKEND_ORDER, formatBackendInfo, getBackendInfo, initBackend, probeBackend } from './select.js';
export { MAX_WASM_THREADS, WASM_THREADS_ENV } from './wasmThreads.js';
