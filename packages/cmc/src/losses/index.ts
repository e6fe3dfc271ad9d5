export { jointLoss, type LossTerms } from './jointLoss.js';
export { drawMixup, type MixupDraw, mixBatch, mixupCrossEntropy, mixVolumes } from './mixup.js';
export { type SupervisedContrastiveOptions, supervisedContrastiveLoss } from './supervisedContrastive.js';
export {
  CE_REDUCTIONS,
  type CeReduction,
  DEFAULT_CE_REDUCTION,
  inverseFrequencyWeights,
  negativeLogLikelihood,
  weightedCrossEntropy,
} from './weightedCrossEntropy.js';
