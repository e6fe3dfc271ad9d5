/**
 * The classifier's way through a cohort, stage after stage, over one run folder:
 *
 *   load-cohort -> preprocess -> train-classifier -> predict (val, test) -> submission
 *
 * (docs/method.md, "Pipeline"). Stage 1's masks enter as `masks` (the infection-aware input,
 * eq. 2); predict runs the method's test-time augmentation (`tta`, `engine`: 3 passes on
 * onnxruntime unless told otherwise). `gradeCohort` runs the whole method: stage 1, several
 * classifiers, the involvement baseline and the ensemble before the submission.
 * Each stage can also be called alone (`loadCohort`, `preprocessScans`, `trainClassifier`,
 * `predictScans`, `writeChallengeSubmission`).
 */
import type { TrainEvent } from '@covsev/events';
import type { PredictionRow, Volume } from '@covsev/io';
import { readMasksOnGrid } from './masks.js';
import { type ClassifierRunConfig, parseClassifierRun } from './runConfig.js';
import { type ModelFolder, runFolder } from './runFolder.js';
import type { StageContext } from './stage.js';
import { type Cohort, loadCohort, splitScans } from './stages/loadCohort.js';
import { type PredictOptions, predictScans, scorePredictions } from './stages/predict.js';
import { type Preprocessed, preprocessScans } from './stages/preprocess.js';
import { type Submission, writeChallengeSubmission } from './stages/submission.js';
import { type TrainedClassifier, trainClassifier } from './stages/trainClassifier.js';

/** A classifier run config (`classifierRunSchema`: cohort, run folder, grid, training) and where its events go. */
export interface ClassifyCohortOptions extends ClassifierRunConfig, PredictOptions {
  /** Infection masks on the grid by scan name (stage 1), for `inChannels: 2`. */
  readonly masks?: ReadonlyMap<string, Volume<Uint8Array>>;
  /**
   * Or a folder of mask NIfTIs, one per scan of the cohort (`<masksDir>/<scan>.nii.gz`, on any
   * grid): read with `readMasksOnGrid` onto the classifier grid. Not with `masks`.
   */
  readonly masksDir?: string;
  /** Every pipeline stage's events (also written to `<run>/events.jsonl`). */
  readonly onEvent?: StageContext['onEvent'];
  /** Every training event (also written to `<run>/runs/cmc/events.jsonl`). */
  readonly onTrainEvent?: (event: TrainEvent) => void;
}

export interface ClassifiedCohort {
  readonly cohort: Cohort;
  readonly preprocessed: Preprocessed;
  readonly classifier: TrainedClassifier;
  /** Macro F1 on the val split (NaN without one). */
  readonly valMacroF1: number;
  readonly valPredictions: readonly PredictionRow[];
  readonly testPredictions: readonly PredictionRow[];
  /** The submission, when the cohort has a test split and training was not stopped. */
  readonly submission?: Submission;
  /**
   * True when training was stopped through its control channel (`stop`): the run ends there,
   * with a checkpoint to resume from, and nothing is predicted from the half-trained model.
   */
  readonly stopped: boolean;
}

/** One classifier's part of a run: trained on the train split, val and test predicted. */
export interface ClassifierOutcome {
  readonly classifier: TrainedClassifier;
  /** Macro F1 on the val split against the published labels (NaN without one, or when stopped). */
  readonly valMacroF1: number;
  readonly valPredictions: readonly PredictionRow[];
  readonly testPredictions: readonly PredictionRow[];
  readonly stopped: boolean;
}

/** What `trainAndPredict` needs besides the training settings. */
export interface TrainAndPredictInputs extends PredictOptions {
  readonly cohort: Cohort;
  readonly volumes: ReadonlyMap<string, Volume<Uint8Array>>;
  readonly masks?: ReadonlyMap<string, Volume<Uint8Array>>;
  /** The training run's folder and where the val and test tables go. */
  readonly folder: ModelFolder;
  readonly onTrainEvent?: (event: TrainEvent) => void;
  /** Names the classifier in the stages' events (`detail.model`) when a run has several. */
  readonly model?: string;
}

/**
 * Stage "train-classifier" then "predict" (val, then test) for one classifier: the part of
 * `classifyCohort` that `gradeCohort` runs once per member of its ensemble.
 */
export async function trainAndPredict(
  inputs: TrainAndPredictInputs,
  training: ClassifierRunConfig['training'],
  context: StageContext,
): Promise<ClassifierOutcome> {
  const [train, val, test] = (['train', 'val', 'test'] as const).map((split) => splitScans(inputs.cohort, split));
  const data = { volumes: inputs.volumes, ...(inputs.masks === undefined ? {} : { masks: inputs.masks }) };
  const model = inputs.model === undefined ? {} : { model: inputs.model };
  const classifier = await trainClassifier(
    {
      ...data,
      train: train ?? [],
      val: val ?? [],
      runDir: inputs.folder.run,
      ...(inputs.onTrainEvent === undefined ? {} : { onTrainEvent: inputs.onTrainEvent }),
      ...model,
    },
    training,
    context,
  );
  if (classifier.stopped) return { classifier, valMacroF1: Number.NaN, valPredictions: [], testPredictions: [], stopped: true };
  const predict = {
    ...data,
    classifier,
    ...(inputs.tta === undefined ? {} : { tta: inputs.tta }),
    ...(inputs.engine === undefined ? {} : { engine: inputs.engine }),
    ...model,
  };
  const valPredictions = await predictScans({ ...predict, scans: val ?? [], out: inputs.folder.predictions('val') }, context);
  const testPredictions = await predictScans({ ...predict, scans: test ?? [], out: inputs.folder.predictions('test') }, context);
  return { classifier, valMacroF1: scorePredictions(valPredictions, val ?? []), valPredictions, testPredictions, stopped: false };
}

/** Runs the classifier's stages over a cohort; the run config is checked before anything runs. */
export async function classifyCohort(options: ClassifyCohortOptions): Promise<ClassifiedCohort> {
  const config = parseClassifierRun({ cohort: options.cohort, run: options.run, grid: options.grid, training: options.training });
  const paths = runFolder(config.run);
  const context: StageContext = { runDir: config.run, ...(options.onEvent === undefined ? {} : { onEvent: options.onEvent }) };
  const cohort = await loadCohort(config.cohort, {}, context);
  const preprocessed = await preprocessScans(cohort.scans, { grid: config.grid, cacheDir: paths.cache }, context);
  if (options.masks !== undefined && options.masksDir !== undefined)
    throw new RangeError('classifyCohort takes masks or masksDir, not both');
  const masks =
    options.masksDir === undefined ? options.masks : await readMasksOnGrid(cohort.scans, options.masksDir, config.grid);
  const outcome = await trainAndPredict(
    {
      cohort,
      volumes: preprocessed.volumes,
      ...(masks === undefined ? {} : { masks }),
      folder: { run: paths.classifierRun, predictions: paths.predictions },
      ...(options.onTrainEvent === undefined ? {} : { onTrainEvent: options.onTrainEvent }),
      ...(options.tta === undefined ? {} : { tta: options.tta }),
      ...(options.engine === undefined ? {} : { engine: options.engine }),
    },
    config.training,
    context,
  );
  const test = splitScans(cohort, 'test');
  const submission =
    outcome.stopped || test.length === 0
      ? undefined
      : await writeChallengeSubmission(
          { predictions: outcome.testPredictions, outDir: paths.submission, expectedScans: test.map((s) => s.name) },
          context,
        );
  return { cohort, preprocessed, ...outcome, ...(submission === undefined ? {} : { submission }) };
}
