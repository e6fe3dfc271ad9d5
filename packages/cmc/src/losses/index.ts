export { jointLoss, type LossTerms } from './jointLoss.js';
export { drawMixup, type MixupDraw, mixBatch, mixupCrossEntropy, mixVolumes } from './mixup.js';
export { type SupervisedContrastiveOptions, supervisedContrastiveLoss } from './supervisedContrastive.js';
export { inverseFrequencyWeights, negativeLogLikelihood, weightedCrossEntropy } from './weightedCrossEntropy.js';
