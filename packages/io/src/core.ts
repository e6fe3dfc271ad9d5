/**
 * `@covsev/io/core`: the parts of io that load no native image library (no sharp, no
 * @napi-rs/image) and no file-format parser: input errors, the seeded random source and the
 * severity grades. Import from here in code that only needs these (CLIs, dashboards, metrics).
 */
export { CovsevInputError, isInputError } from './errors.js';
export { type RandomSource, Rng } from './random.js';
export {
  COV19_TRAIN_COUNTS,
  COV19_VAL_COUNTS,
  categoryFromInvolvement,
  categoryName,
  SEVERITY_CLASSES,
  type SeverityCategory,
  type SeverityClass,
} from './severity.js';
