export * from './classical/index.js';
export * from './data/augment.js';
export * from './data/batch.js';
export * from './data/ctSegCohort.js';
export * from './data/slices.js';
export * from './encoders/index.js';
export * from './evaluate/evaluateOnCohort.js';
export * from './evaluate/table2.js';
export * from './infer/modelInput.js';
export * from './infer/openSegmenter.js';
export * from './infer/predictVolumeMask.js';
export * from './infer/segmenter.js';
export * from './infer/segmentScans.js';
export * from './infer/segmentVolume.js';
export * from './losses/index.js';
export * from './modelCard.js';
export {
  conv2dReLU,
  EncoderDecoderModel,
  ModuleDict,
  type SegmentationDecoder,
  scaledChannels,
  segmentationHead,
} from './models/common.js';
export * from './models/contract.js';
export * from './models/factory.js';
export * from './models/unet/decoder.js';
export * from './models/unet/model.js';
export * from './models/unetplusplus/decoder.js';
export * from './models/unetplusplus/model.js';
export * from './morphology/index.js';
export * from './onnx/exportSegmentationOnnx.js';
export * from './onnx/modelCardFile.js';
export * from './onnx/onnxSegmenter.js';
export * from './train/loadTrained.js';
export * from './train/trainer.js';
