export type { ConvGeometry } from './convGeometry.js';
export { convFlops, convGeometry } from './convGeometry.js';
export {
  COVSEV_KERNEL_NAMES,
  covsevKernelConfigs,
  registerCovsevKernels,
  registeredCovsevKernels,
  unregisterCovsevKernels,
} from './register.js';
