/**
 * The whole method over a COV19-CT-DB cohort, in one run folder (docs/method.md, "Pipeline"):
 *
 *   load-cohort -> segment (stage 1: lung and infection masks of every scan)
 *     -> preprocess (every scan on the classifier grid)
 *     -> for each classifier: train-classifier, predict (val, test; with TTA)
 *     -> involvement (the baseline from stage 1's masks, Table 1's thresholds)
 *     -> ensemble (val, test) -> submission (test; `predictions.csv` with stage 1's involvement)
 *
 * The method's ensemble is the mean of plain CMC and infection-aware CMC; `gradeCohort` takes
 * any classifiers of Table 3 (`variant`), each with its own name, run and tables
 * (`runFolder(run).model(name)`), and may add the involvement baseline as a member. Every stage
 * is cached where its inputs allow (masks by scan and model hashes, the grid by scan and grid, a
 * finished training run restored), so a second call recomputes only the predictions.
 */
import { cmcVariantSpec, resolveCmcVariant } from '@covsev/cmc';
import type { CombineRule } from '@covsev/ensemble';
import type { TrainEvent } from '@covsev/events';
import type { PredictionRow, Volume } from '@covsev/io';
import { type ClassifierOutcome, trainAndPredict } from './classifyCohort.js';
import { readMasksOnGrid } from './masks.js';
import { type ClassifierRunConfig, parseClassifierRun } from './runConfig.js';
import { runFolder, type Split } from './runFolder.js';
import type { StageContext } from './stage.js';
import { ensembleStage, involvementStage } from './stages/ensemble.js';
import { type Cohort, loadCohort, splitScans } from './stages/loadCohort.js';
import { type PredictOptions, scorePredictions } from './stages/predict.js';
import { type Preprocessed, preprocessScans } from './stages/preprocess.js';
import { type SegmentedCohort, segmentCohort, segmentedInvolvement } from './stages/segment.js';
import { type Submission, writeChallengeSubmission } from './stages/submission.js';

/** The name of the involvement baseline among the models of a run. */
export const INVOLVEMENT_MODEL = 'involvement';
/** The name of the ensemble's tables among the models of a run. */
export const ENSEMBLE_MODEL = 'ensemble';
/**
 * The involvement baseline's softness (involvement units) when it is an ensemble member: a scan
 * 5 points of involvement past a grade border still gives the neighbouring grade a share, so
 * the baseline does not outvote the classifiers with one-hot rows.
 */
export const INVOLVEMENT_MEMBER_SOFTNESS = 0.05;

/** One classifier of the ensemble: a name (its folder) and its training settings. */
export interface GradedClassifierSpec {
  readonly name: string;
  readonly training: ClassifierRunConfig['training'];
}

export interface GradeCohortOptions extends PredictOptions {
  /** The COV19-CT-DB cohort folder. */
  readonly cohort: string;
  /** The run folder. */
  readonly run: string;
  /** The classifier grid [slices, rows, cols]. */
  readonly grid: readonly [number, number, number];
  /**
   * Stage 1's models (training run folders or model cards): the masks go to `<run>/masks`. Needed
   * by the lung- and infection-aware classifiers and the involvement baseline.
   */
  readonly segmentation?: { readonly lungModel: string; readonly lesionModel: string };
  /** The classifiers, trained in this order. */
  readonly classifiers: readonly GradedClassifierSpec[];
  readonly ensemble?: {
    /** Member names (classifiers, and `'involvement'` for the baseline); default every classifier. */
    readonly members?: readonly string[];
    /** Default `'mean'`. */
    readonly rule?: CombineRule;
    readonly weights?: readonly number[];
  };
  /**
   * The involvement baseline's probabilities: one-hot (omitted) or soft with this width in
   * involvement units (`involvementPrediction`); default INVOLVEMENT_MEMBER_SOFTNESS when it is
   * an ensemble member.
   */
  readonly involvementSoftness?: number;
  /** Every pipeline stage's events (also written to `<run>/events.jsonl`). */
  readonly onEvent?: StageContext['onEvent'];
  /** Every training event, with the classifier's name (also in `<run>/runs/<name>/events.jsonl`). */
  readonly onTrainEvent?: (model: string, event: TrainEvent) => void;
}

/** A model's tables and its val Macro F1 against the published labels. */
export interface GradedModel {
  readonly name: string;
  readonly valPredictions: readonly PredictionRow[];
  readonly testPredictions: readonly PredictionRow[];
  readonly valMacroF1: number;
}

export interface GradedCohort {
  readonly cohort: Cohort;
  readonly segmentation?: SegmentedCohort;
  readonly preprocessed: Preprocessed;
  /** Each classifier's outcome, by name, in training order. */
  readonly classifiers: ReadonlyMap<string, ClassifierOutcome>;
  /** The classifiers, the involvement baseline (with stage 1) and the ensemble, in that order. */
  readonly models: readonly GradedModel[];
  readonly ensemble: GradedModel;
  readonly submission?: Submission;
  /** True when a classifier's training was stopped through its control channel: nothing after it ran. */
  readonly stopped: boolean;
}

/**
 * The submitted rows with each scan's involvement estimate from stage 1 (`predictions.csv`'s
 * `involvement` column), where the run segmented its scans.
 */
export function withInvolvement(rows: readonly PredictionRow[], involvement: ReadonlyMap<string, number>): PredictionRow[] {
  return rows.map((r) => {
    const v = involvement.get(r.name);
    return v === undefined ? r : { ...r, involvement: v };
  });
}

/** Checks the options before anything runs: names, variants, masks, ensemble members. */
function checkOptions(options: GradeCohortOptions): void {
  if (options.classifiers.length === 0) throw new RangeError('gradeCohort: no classifiers given');
  const names = new Set<string>();
  for (const c of options.classifiers) {
    runFolder(options.run).model(c.name);
    if (c.name === INVOLVEMENT_MODEL || c.name === ENSEMBLE_MODEL)
      throw new RangeError(`gradeCohort: "${c.name}" names the ${c.name} tables; give the classifier another name`);
    if (names.has(c.name)) throw new RangeError(`gradeCohort: two classifiers are named "${c.name}"`);
    names.add(c.name);
    parseClassifierRun(
      { cohort: options.cohort, run: options.run, grid: options.grid, training: c.training },
      `classifier ${c.name}`,
    );
    const mask = cmcVariantSpec(resolveCmcVariant(c.training).variant).mask;
    if (mask !== undefined && options.segmentation === undefined)
      throw new RangeError(`gradeCohort: classifier "${c.name}" reads ${mask} masks: give stage 1's models (segmentation)`);
  }
  for (const m of options.ensemble?.members ?? []) {
    if (m === INVOLVEMENT_MODEL && options.segmentation === undefined)
      throw new RangeError('gradeCohort: the involvement baseline needs stage 1 (segmentation)');
    if (m !== INVOLVEMENT_MODEL && !names.has(m))
      throw new RangeError(
        `gradeCohort: ensemble member "${m}" is not a classifier (${[...names].join(', ')}) nor "${INVOLVEMENT_MODEL}"`,
      );
  }
}

/** Runs the method's stages over a cohort (see the file's comment). */
export async function gradeCohort(options: GradeCohortOptions): Promise<GradedCohort> {
  checkOptions(options);
  const paths = runFolder(options.run);
  const context: StageContext = { runDir: options.run, ...(options.onEvent === undefined ? {} : { onEvent: options.onEvent }) };
  const cohort = await loadCohort(options.cohort, {}, context);
  const segmentation =
    options.segmentation === undefined
      ? undefined
      : await segmentCohort(
          cohort.scans,
          { lungModel: options.segmentation.lungModel, lesionModel: options.segmentation.lesionModel, out: paths.masks },
          context,
        );
  const preprocessed = await preprocessScans(cohort.scans, { grid: options.grid, cacheDir: paths.cache }, context);
  const maskCache = new Map<'lung' | 'infection', ReadonlyMap<string, Volume<Uint8Array>>>();
  const masksOf = async (kind: 'lung' | 'infection') => {
    const dir = kind === 'lung' ? segmentation?.lungDir : segmentation?.infectionDir;
    if (dir === undefined) throw new RangeError(`gradeCohort: no ${kind} masks (stage 1 did not make them)`);
    const cached = maskCache.get(kind) ?? (await readMasksOnGrid(cohort.scans, dir, options.grid));
    maskCache.set(kind, cached);
    return cached;
  };

  const classifiers = new Map<string, ClassifierOutcome>();
  const models: GradedModel[] = [];
  // What every outcome returns (the maps and lists fill as the stages run).
  const graded = { cohort, ...(segmentation === undefined ? {} : { segmentation }), preprocessed, classifiers, models };
  for (const spec of options.classifiers) {
    const mask = cmcVariantSpec(resolveCmcVariant(spec.training).variant).mask;
    const outcome = await trainAndPredict(
      {
        cohort,
        volumes: preprocessed.volumes,
        ...(mask === undefined ? {} : { masks: await masksOf(mask) }),
        folder: paths.model(spec.name),
        model: spec.name,
        ...(options.onTrainEvent === undefined ? {} : { onTrainEvent: (e: TrainEvent) => options.onTrainEvent?.(spec.name, e) }),
        ...(options.tta === undefined ? {} : { tta: options.tta }),
        ...(options.engine === undefined ? {} : { engine: options.engine }),
      },
      spec.training,
      context,
    );
    classifiers.set(spec.name, outcome);
    if (outcome.stopped) {
      const none: GradedModel = { name: ENSEMBLE_MODEL, valPredictions: [], testPredictions: [], valMacroF1: Number.NaN };
      return { ...graded, ensemble: none, stopped: true };
    }
    models.push({ name: spec.name, ...outcome });
  }

  const split = (s: Split) => splitScans(cohort, s);
  const members = options.ensemble?.members ?? options.classifiers.map((c) => c.name);
  const involvement = new Map(segmentation?.scans.map((r) => [r.name, segmentedInvolvement(r)]) ?? []);
  if (segmentation !== undefined) {
    const softness =
      options.involvementSoftness ?? (members.includes(INVOLVEMENT_MODEL) ? INVOLVEMENT_MEMBER_SOFTNESS : undefined);
    const folder = paths.model(INVOLVEMENT_MODEL);
    const baseline = async (s: Split) =>
      involvementStage(
        split(s).map((scan) => ({ name: scan.name, involvement: involvement.get(scan.name) ?? 0 })),
        { out: folder.predictions(s), split: s, ...(softness === undefined ? {} : { softness }) },
        context,
      );
    const val = await baseline('val');
    const test = await baseline('test');
    models.push({
      name: INVOLVEMENT_MODEL,
      valPredictions: val,
      testPredictions: test,
      valMacroF1: scorePredictions(val, split('val')),
    });
  }

  const byName = new Map(models.map((m) => [m.name, m]));
  const combine = (s: Split) =>
    ensembleStage(
      members.map((name) => {
        const m = byName.get(name) as GradedModel;
        return { name, rows: s === 'val' ? m.valPredictions : m.testPredictions };
      }),
      {
        out: paths.predictions(s),
        split: s,
        ...(options.ensemble?.rule === undefined ? {} : { rule: options.ensemble.rule }),
        ...(options.ensemble?.weights === undefined ? {} : { weights: options.ensemble.weights }),
      },
      context,
    );
  const ensembleVal = await combine('val');
  const ensembleTest = await combine('test');
  const ensemble: GradedModel = {
    name: ENSEMBLE_MODEL,
    valPredictions: ensembleVal,
    testPredictions: ensembleTest,
    valMacroF1: scorePredictions(ensembleVal, split('val')),
  };
  models.push(ensemble);
  const test = split('test');
  const submission =
    test.length === 0
      ? undefined
      : await writeChallengeSubmission(
          {
            predictions: withInvolvement(ensembleTest, involvement),
            outDir: paths.submission,
            expectedScans: test.map((s) => s.name),
          },
          context,
        );
  return { ...graded, ensemble, ...(submission === undefined ? {} : { submission }), stopped: false };
}
