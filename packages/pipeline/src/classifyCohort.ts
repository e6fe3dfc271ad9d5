/**
 * The classifier's way through a cohort, stage after stage, over one run folder:
 *
 *   load-cohort -> preprocess -> train-classifier -> predict (val, test) -> submission
 *
 * (docs/method.md, "Pipeline"). Stage 1's masks enter as `masks` (the infection-aware input,
 * eq. 2); predict runs the method's test-time augmentation (`tta`, `engine`: 3 passes on
 * onnxruntime unless told otherwise); the ensemble will stand between predict and submission.
 * Each stage can also be called alone (`loadCohort`, `preprocessScans`, `trainClassifier`,
 * `predictScans`, `writeChallengeSubmission`).
 */
import type { TrainEvent } from '@covsev/events';
import type { PredictionRow, Volume } from '@covsev/io';
import { readMasksOnGrid } from './masks.js';
import { type ClassifierRunConfig, parseClassifierRun } from './runConfig.js';
import { runFolder } from './runFolder.js';
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

/** Runs the classifier's stages over a cohort; the run config is checked before anything runs. */
export async function classifyCohort(options: ClassifyCohortOptions): Promise<ClassifiedCohort> {
  const config = parseClassifierRun({ cohort: options.cohort, run: options.run, grid: options.grid, training: options.training });
  const paths = runFolder(config.run);
  const context: StageContext = { runDir: config.run, ...(options.onEvent === undefined ? {} : { onEvent: options.onEvent }) };
  const cohort = await loadCohort(config.cohort, {}, context);
  const preprocessed = await preprocessScans(cohort.scans, { grid: config.grid, cacheDir: paths.cache }, context);
  const [train, val, test] = (['train', 'val', 'test'] as const).map((split) => splitScans(cohort, split));
  if (options.masks !== undefined && options.masksDir !== undefined)
    throw new RangeError('classifyCohort takes masks or masksDir, not both');
  const masks =
    options.masksDir === undefined ? options.masks : await readMasksOnGrid(cohort.scans, options.masksDir, config.grid);
  const data = { volumes: preprocessed.volumes, ...(masks === undefined ? {} : { masks }) };
  const classifier = await trainClassifier(
    {
      ...data,
      train: train ?? [],
      val: val ?? [],
      runDir: paths.classifierRun,
      ...(options.onTrainEvent === undefined ? {} : { onTrainEvent: options.onTrainEvent }),
    },
    config.training,
    context,
  );
  if (classifier.stopped)
    return { cohort, preprocessed, classifier, valMacroF1: Number.NaN, valPredictions: [], testPredictions: [], stopped: true };
  const predict = {
    ...data,
    classifier,
    ...(options.tta === undefined ? {} : { tta: options.tta }),
    ...(options.engine === undefined ? {} : { engine: options.engine }),
  };
  const valPredictions = await predictScans({ ...predict, scans: val ?? [], out: paths.predictions('val') }, context);
  const testPredictions = await predictScans({ ...predict, scans: test ?? [], out: paths.predictions('test') }, context);
  const submission =
    (test ?? []).length === 0
      ? undefined
      : await writeChallengeSubmission(
          { predictions: testPredictions, outDir: paths.submission, expectedScans: (test ?? []).map((s) => s.name) },
          context,
        );
  return {
    cohort,
    preprocessed,
    classifier,
    valMacroF1: scorePredictions(valPredictions, val ?? []),
    valPredictions,
    testPredictions,
    ...(submission === undefined ? {} : { submission }),
    stopped: false,
  };
}
