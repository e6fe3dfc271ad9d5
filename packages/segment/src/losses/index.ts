export {
  type DiceBceLossOptions,
  type DiceLossOptions,
  type DiceMode,
  diceBceLoss,
  diceLoss,
  type SegmentationTarget,
} from './dice.js';
