export { formatWeightsInspection, type InspectedTensor, inspectWeights, type WeightsInspection } from './inspect.js';
export {
  checkPinnedSha256,
  inflate2dKernel,
  loadPretrained,
  type MappedWeights,
  mapWeights,
  meanStemKernel,
  type PretrainedOptions,
  type PretrainedResult,
  type StemInit,
  sha256Hex,
  type WeightMap,
  weightsFileSha256,
} from './pretrained.js';
export { describeSkippedWeights, loadRunInit, type PretrainedInit, pretrainedRunConfig } from './runInit.js';
export {
  decodeSafetensors,
  encodeSafetensors,
  parseSafetensorsHeader,
  readSafetensors,
  SAFETENSORS_DTYPES,
  type SafetensorsDtype,
  type SafetensorsEntry,
  type SafetensorsFile,
  type SafetensorsInput,
  type SafetensorsTensor,
  writeSafetensors,
} from './safetensors.js';
