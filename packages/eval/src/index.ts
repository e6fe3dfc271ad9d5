export type { BootstrapInterval, BootstrapOptions } from './bootstrap.js';
export { bootstrapMacroF1, bootstrapMetric, quantileSorted } from './bootstrap.js';
export type { PerClassScores } from './classification.js';
export { accuracy, macroF1, macroPrecision, macroRecall, perClassScores } from './classification.js';
export type { ConfusionMatrix, ConfusionMatrixLike } from './confusion.js';
export { ConfusionMatrixAccumulator, confusionMatrix } from './confusion.js';
export type { KappaWeights } from './kappa.js';
export { cohenKappa, quadraticWeightedKappa } from './kappa.js';
export type {
  LabelMask,
  LabelScores,
  LabelSegmentationMetrics,
  LabelSegmentationOptions,
} from './label-segmentation.js';
export {
  LabelSegmentationAccumulator,
  labelSegmentationMetrics,
  perLabelDice,
  perLabelIou,
} from './label-segmentation.js';
export type { ClassificationReport, ClassificationReportOptions, ClassReport } from './report.js';
export { classificationReport } from './report.js';
export type { BinaryMask, BinaryOverlap, SegmentationMetrics } from './segmentation.js';
export {
  binaryOverlap,
  dice,
  iou,
  miou,
  SegmentationMetricAccumulator,
  segmentationMetrics,
  segmentationMetricsFromOverlap,
} from './segmentation.js';
