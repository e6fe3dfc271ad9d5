export {
  type BooleanOption,
  type CliOption,
  type CliSpec,
  type CliValues,
  HelpRequested,
  integerIn,
  nonNegativeInteger,
  numberIn,
  type OptionValue,
  oneOf,
  type ParsedCli,
  parseCliArgs,
  path,
  positiveInteger,
  type StringOption,
  safetensorsPath,
  sha256Digest,
  UsageError,
  type ValueCheck,
} from './args.js';
export {
  describePretrainedInit,
  type InitOptionValues,
  pretrainedInitOption,
  type StemInitChoice,
  stemInitChoice,
} from './pretrained.js';
export { createProgress, formatDuration, type ProgressReporter, progressLine } from './progress.js';
export { type CliMain, type CliStreams, isUsageOrInputError, processStreams, type RunCliOptions, runCli } from './run.js';
export { runSubcommand, type Subcommand } from './subcommands.js';
