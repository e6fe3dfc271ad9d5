/**
 * A folder of new scans (the challenge's test set, COV19-CT-DB layout: one folder of slices per
 * scan) graded with what a run trained, into the challenge's files:
 *
 *   segment (stage 1, when a classifier reads masks or the baseline is a member)
 *     -> preprocess (each classifier's grid, through the run's cache)
 *     -> predict (each classifier, with TTA; resumable) -> involvement -> ensemble -> submission
 *
 * What to run is read from the run itself (`<run>/events.jsonl`): the classifiers it trained
 * (`gradeCohort`'s named ones, or `classifyCohort`'s `runs/cmc`), stage 1's models its segment
 * stage used, and its ensemble's members and rule, so the test set is graded the way the
 * validation split was. Everything made for the scans goes to a work folder of its own
 * (`<run>/graded/<folder name>/` by default: masks/, predictions/, events.jsonl); a second call
 * reuses the masks and the grid from their caches and finished prediction tables' rows.
 */
import { basename, join } from 'node:path';
import type { CombineRule } from '@covsev/ensemble';
import { CovsevInputError, type PredictionRow, type SubmissionLayout } from '@covsev/io';
import { ENSEMBLE_MODEL, INVOLVEMENT_MODEL, withInvolvement } from './gradeCohort.js';
import { readMasksOnGrid, scanFolders } from './masks.js';
import { runFolder } from './runFolder.js';
import type { StageContext } from './stage.js';
import { ensembleStage, involvementStage } from './stages/ensemble.js';
import { type PredictOptions, predictScans } from './stages/predict.js';
import { preprocessScans } from './stages/preprocess.js';
import { segmentCohort, segmentedInvolvement } from './stages/segment.js';
import { type Submission, writeChallengeSubmission } from './stages/submission.js';
import { type CheckpointChoice, type LoadedClassifier, loadTrainedClassifier, readPipelineEvents } from './trained.js';

/** What a trained run grades with: its classifiers, stage 1's models, its ensemble. */
export interface TrainedRunPlan {
  /** Classifier names (`runs/<name>`); `undefined` is `classifyCohort`'s single `runs/cmc`. */
  readonly classifiers: readonly (string | undefined)[];
  /** Stage 1's lung and lesion models, when the run segmented its cohort. */
  readonly segmentation?: { readonly lungModel: string; readonly lesionModel?: string };
  /** The ensemble's members, rule and weights, when the run combined several models. */
  readonly ensemble?: { readonly members: readonly string[]; readonly rule: CombineRule; readonly weights?: readonly number[] };
  /** The involvement baseline's softness, when the run made it soft. */
  readonly involvementSoftness?: number;
  /** The test-time augmentation and engine of the run's last predictions. */
  readonly tta?: { readonly passes: number; readonly seed: number };
  readonly engine?: 'onnx' | 'tfjs';
}

/** The plan of a trained run from its events; a run that trained no classifier is refused, naming the file. */
export async function readTrainedRunPlan(run: string): Promise<TrainedRunPlan> {
  const { path, events } = await readPipelineEvents(run);
  const starts = events.flatMap((e) => (e.type === 'stage-start' ? [e] : []));
  const classifiers: (string | undefined)[] = [];
  for (const e of starts)
    if (e.stage === 'train-classifier') {
      const name = typeof e.detail?.model === 'string' ? e.detail.model : undefined;
      if (!classifiers.includes(name)) classifiers.push(name);
    }
  if (classifiers.length === 0)
    throw new CovsevInputError(path, 'holds no train-classifier stage: the run never trained a classifier');
  const segment = starts.findLast((e) => e.stage === 'segment');
  const lung = segment?.detail?.lung;
  const lesion = segment?.detail?.lesion;
  const ensemble = starts.findLast((e) => e.stage === 'ensemble');
  const members = typeof ensemble?.detail?.members === 'string' ? ensemble.detail.members.split(', ') : undefined;
  const weights = typeof ensemble?.detail?.weights === 'string' ? ensemble.detail.weights.split(', ').map(Number) : undefined;
  const softness = starts.findLast((e) => e.stage === 'involvement')?.detail?.softness;
  const predict = starts.findLast((e) => e.stage === 'predict')?.detail;
  const engine = predict?.engine;
  return {
    classifiers,
    ...(typeof lung === 'string'
      ? { segmentation: { lungModel: lung, ...(typeof lesion === 'string' ? { lesionModel: lesion } : {}) } }
      : {}),
    ...(members === undefined
      ? {}
      : {
          ensemble: {
            members,
            rule: (ensemble?.detail?.rule ?? 'mean') as CombineRule,
            ...(weights === undefined ? {} : { weights }),
          },
        }),
    ...(typeof softness === 'number' ? { involvementSoftness: softness } : {}),
    ...(typeof predict?.passes === 'number' && typeof predict.seed === 'number'
      ? { tta: { passes: predict.passes, seed: predict.seed } }
      : {}),
    ...(engine === 'onnx' || engine === 'tfjs' ? { engine } : {}),
  };
}

export interface GradeScansOptions extends PredictOptions {
  /** The folder of scan folders (e.g. the cohort's `test/`). */
  readonly scans: string;
  /** The trained run folder (`gradeCohort` or `classifyCohort`). */
  readonly run: string;
  /** The submission folder: the four class files and `predictions.csv`. */
  readonly out: string;
  /** Masks, prediction tables and events for these scans; default `<run>/graded/<basename(scans)>`. */
  readonly work?: string;
  /**
   * Which checkpoint of each classifier (default 'latest', as the run's own predictions). TTA and
   * engine (`PredictOptions`) default to those of the run's own predictions.
   */
  readonly checkpoint?: CheckpointChoice;
  readonly layout?: SubmissionLayout;
  readonly onEvent?: StageContext['onEvent'];
}

export interface GradedScans {
  readonly plan: TrainedRunPlan;
  readonly work: string;
  /** Each model's table (classifiers, the baseline when a member), then the submitted one. */
  readonly tables: readonly { readonly name: string; readonly path: string; readonly rows: readonly PredictionRow[] }[];
  readonly submission: Submission;
}

/** Grades a folder of scans with a trained run (see the file's comment). */
export async function gradeScans(options: GradeScansOptions): Promise<GradedScans> {
  const plan = await readTrainedRunPlan(options.run);
  const work = options.work ?? join(options.run, 'graded', basename(options.scans));
  const workFolder = runFolder(work);
  const context: StageContext = { runDir: work, ...(options.onEvent === undefined ? {} : { onEvent: options.onEvent }) };
  const members = plan.ensemble?.members ?? [plan.classifiers[0] ?? 'cmc'];
  const loaded = new Map<string, LoadedClassifier>();
  for (const name of plan.classifiers) {
    const key = name ?? 'cmc';
    if (!members.includes(key) && plan.classifiers.length > 1) continue;
    loaded.set(
      key,
      await loadTrainedClassifier(options.run, {
        ...(name === undefined ? {} : { model: name }),
        ...(options.checkpoint === undefined ? {} : { checkpoint: options.checkpoint }),
      }),
    );
  }
  const scans = await scanFolders(options.scans);
  if (scans.length === 0) throw new CovsevInputError(options.scans, 'holds no scan folders');

  const masksNeeded = [...loaded.values()].some((c) => c.inChannels === 2) || members.includes(INVOLVEMENT_MODEL);
  let segmentation: Awaited<ReturnType<typeof segmentCohort>> | undefined;
  if (masksNeeded) {
    if (plan.segmentation === undefined)
      throw new CovsevInputError(runFolder(options.run).events, 'names no stage 1 models, but its classifiers read masks');
    segmentation = await segmentCohort(
      scans,
      {
        lungModel: plan.segmentation.lungModel,
        ...(plan.segmentation.lesionModel === undefined ? {} : { lesionModel: plan.segmentation.lesionModel }),
        out: workFolder.masks,
      },
      context,
    );
  }

  // The run's own TTA and engine unless told otherwise: the test set graded as the val split was.
  const tta = options.tta ?? plan.tta;
  const engine = options.engine ?? plan.engine;
  const tables: { name: string; path: string; rows: PredictionRow[] }[] = [];
  for (const [name, classifier] of loaded) {
    const { volumes } = await preprocessScans(scans, { grid: classifier.grid, cacheDir: runFolder(options.run).cache }, context);
    const mask = classifier.config.variant === 'lung-cmc' ? segmentation?.lungDir : segmentation?.infectionDir;
    const masks =
      classifier.inChannels === 2 && mask !== undefined ? await readMasksOnGrid(scans, mask, classifier.grid) : undefined;
    const path = workFolder.model(name).predictions('test');
    const rows = await predictScans(
      {
        classifier,
        scans,
        volumes,
        ...(masks === undefined ? {} : { masks }),
        out: path,
        resume: true,
        model: name,
        ...(tta === undefined ? {} : { tta }),
        ...(engine === undefined ? {} : { engine }),
      },
      context,
    );
    tables.push({ name, path, rows });
  }
  if (members.includes(INVOLVEMENT_MODEL) && segmentation !== undefined) {
    const involvement = new Map(segmentation.scans.map((r) => [r.name, segmentedInvolvement(r)]));
    const path = workFolder.model(INVOLVEMENT_MODEL).predictions('test');
    const rows = await involvementStage(
      scans.map((s) => ({ name: s.name, involvement: involvement.get(s.name) ?? 0 })),
      {
        out: path,
        split: 'test',
        ...(plan.involvementSoftness === undefined ? {} : { softness: plan.involvementSoftness }),
      },
      context,
    );
    tables.push({ name: INVOLVEMENT_MODEL, path, rows });
  }
  const byName = new Map(tables.map((t) => [t.name, t]));
  const missing = members.filter((m) => !byName.has(m));
  if (missing.length > 0)
    throw new CovsevInputError(
      runFolder(options.run).events,
      `its ensemble names ${missing.join(', ')}, which this run cannot make (no such classifier, or no stage 1 lesion model)`,
    );
  const chosen = members.map((m) => byName.get(m) as (typeof tables)[number]);
  let submitted = chosen[0]?.rows ?? [];
  if (chosen.length > 1) {
    const path = workFolder.model(ENSEMBLE_MODEL).predictions('test');
    const weights = plan.ensemble?.weights;
    submitted = await ensembleStage(
      chosen,
      { out: path, split: 'test', rule: plan.ensemble?.rule ?? 'mean', ...(weights === undefined ? {} : { weights }) },
      context,
    );
    tables.push({ name: ENSEMBLE_MODEL, path, rows: submitted });
  }
  const involvement = new Map(segmentation?.scans.map((r) => [r.name, segmentedInvolvement(r)]) ?? []);
  const submission = await writeChallengeSubmission(
    {
      predictions: withInvolvement(submitted, involvement),
      outDir: options.out,
      testDir: options.scans,
      ...(options.layout === undefined ? {} : { layout: options.layout }),
    },
    context,
  );
  return { plan, work, tables, submission };
}
