export {
  closeMask,
  dilateMask,
  type ErosionOptions,
  erodeMask,
  openMask,
  type StructuringElement,
} from './binaryMorphology.js';
export { type ComponentLabels, keepLargestComponents, labelComponents, removeSmallComponents } from './components.js';
export { CONNECTIVITIES, type Connectivity, type Connectivity2d, type Connectivity3d } from './connectivity.js';
export { fillHoles } from './fillHoles.js';
