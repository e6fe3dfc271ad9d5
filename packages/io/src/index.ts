export { replaceDirectoryAtomic, replaceFileAtomic, syncDirectory, writeFileAtomic, writeFileDurable } from './atomic.js';
export { decodeNpy, encodeNpy, readNpy, writeNpy } from './cache/npy.js';
export { CACHE_FORMAT_VERSION, PreprocessCache, type PreprocessCacheOptions } from './cache/preprocessCache.js';
// Errors, the seeded random source and the severity grades (also `@covsev/io/core`, native-free).
export * from './core.js';
export { type PreprocessRecipe, preprocessScan, readJpgFolderResampled } from './preprocess.js';
export { type DicomReadOptions, dicomSeriesReader, readDicomFile, readDicomSeries } from './readers/dicom.js';
export {
  decodeJpgSlice,
  type JpgFolderReadOptions,
  jpgFolderReader,
  jpgSize,
  listSliceFiles,
  readJpgFolder,
} from './readers/jpgFolder.js';
export { type NiftiHeader, niftiReader, parseNiftiHeader, readNifti } from './readers/nifti.js';
export { DEFAULT_MAX_VOLUME_BYTES, type ReadOptions, type VolumeReader } from './readers/reader.js';
export { readVolume, VOLUME_READERS } from './readers/readVolume.js';
export {
  findScanFolder,
  type LabelRow,
  type ParseLabelsOptions,
  parseLabelCsv,
  type ReadLabelsOptions,
  readLabelCsv,
  writeLabelCsv,
} from './tables/labels.js';
export {
  PROBABILITY_SUM_TOLERANCE,
  type PredictionRow,
  predictionCsvText,
  readPredictionCsv,
  writePredictionCsv,
} from './tables/predictions.js';
export { compareScanNames, SCAN_NAME_PATTERN, SCAN_NAME_RULE, scanNameProblem } from './tables/scanName.js';
export {
  readSubmission,
  SUBMISSION_FILES,
  type SubmissionEntry,
  type SubmissionLayout,
  type WriteSubmissionOptions,
  writeSubmission,
} from './tables/submission.js';
export {
  applyContrast,
  applyFlip,
  applyImageView,
  applyResizedCrop,
  applyRotation,
  applyViewParams,
  augmentImageAndMask,
  type CropBox,
  drawContrast,
  drawResizedCrop,
  drawRotation,
  drawViewParams,
  type ViewParams,
} from './transforms/augment.js';
export { type NormaliseOptions, normaliseIntensity } from './transforms/normalise.js';
export {
  type ResampleMode,
  type ResampleOptions,
  resampledGeometry,
  resampleSlices,
  resampleVolume,
  type SliceGrid,
} from './transforms/resample.js';
export { type PlaneMatrix, type WarpOptions, warpSlices } from './transforms/warp.js';
export { applyHuWindow, HU_WINDOWS, type HuWindow, type HuWindowName, windowValue } from './transforms/window.js';
export {
  type Affine,
  diagonalAffine,
  type Intensity,
  makeVolume,
  type Shape3,
  type Spacing3,
  sliceView,
  type Volume,
  type VoxelArray,
  voxelCount,
  withData,
} from './volume.js';
export {
  CAPTION_HEIGHT,
  evenlySpacedSlices,
  heatColour,
  MASK_COLOURS,
  type MontageOptions,
  renderMontage,
  writeMontagePng,
} from './writers/montage.js';
export { type WriteNiftiOptions, writeNifti } from './writers/nifti.js';
