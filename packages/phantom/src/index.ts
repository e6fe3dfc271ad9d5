/**
 * @covsev/phantom: deterministic synthetic chest CT with exact ground truth (lung and infection
 * masks, lung involvement, Table 1 grade), in the COV19-CT-DB and COVID-19-CT-Seg layouts.
 */

export {
  type CohortOptions,
  classCounts,
  DEFAULT_COHORT,
  largestRemainder,
  type PlannedScan,
  planCohort,
  SPLITS,
  type Split,
} from './cohort.js';
export {
  CATEGORY_TARGET_RANGES,
  CLASS_BORDERS,
  drawCategory,
  drawTarget,
  type GenerateOptions,
  generateScan,
  neighbourAcrossBorder,
  type PhantomScan,
  type ScanSpec,
} from './generate.js';
export {
  type CohortProgress,
  CTSEG_FOLDERS,
  classFolder,
  defaultName,
  JPEG_QUALITY,
  LABEL_FILES,
  LAYOUTS,
  type Layout,
  TRUTH_FILE,
  type TruthEntry,
  type TruthManifest,
  type WriteCohortOptions,
  writeCohort,
  writeCtSegScan,
  writeJpgSlices,
} from './layouts.js';
export { LEFT_LUNG, RIGHT_LUNG } from './lungs.js';
export { checkSeed, deriveSeed, PhantomRng } from './rng.js';
export type { Category } from './types.js';
