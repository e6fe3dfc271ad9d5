export {
  type ClassicalLungComponent,
  type ClassicalLungMaskOptions,
  type ClassicalLungMaskResult,
  type ClassicalLungReport,
  type ClassicalLungSlice,
  classicalLungMask,
  type LungOverlayOptions,
  writeLungOverlayPng,
} from './lungMask.js';
