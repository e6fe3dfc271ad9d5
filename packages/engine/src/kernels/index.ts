export {
  COVSEV_KERNEL_NAMES,
  covsevKernelConfigs,
  registerCovsevKernels,
  registeredCovsevKernels,
  unregisterCovsevKernels,
} from './register.js';
