/**
 * Table 2 on held-out COVID-19-CT-Seg scans from trained runs (`trainSegmentation` run folders):
 * every slice of every scan predicted by the model (tfjs, batched: `predictVolumeMask`, the
 * probabilities resized back to the scan's grid and thresholded at the card's threshold) and
 * scored on the scan's own grid against its masks (`evaluateSegmentation`).
 *
 * Three evaluations, each said by name:
 *
 * - `lung`: the lung model on the raw slices, against the lung mask (left and right together);
 * - `lesion`: the lesion model on slices masked by the GROUND-TRUTH lung mask (eq. 1 with the
 *   true lung, as it was trained: the paper's Table 2 setting), against the infection mask;
 * - `lesionPipeline`: the lesion model as the pipeline runs it (`segmentVolume`): on slices
 *   masked by the lung model's PREDICTED (cleaned) lung, its mask kept inside that lung; needs
 *   both runs. Its row says "lesion on predicted lung".
 *
 * The models' raw thresholded masks are scored for `lung` and `lesion` (no clean-up), so the
 * numbers are the networks'.
 */
import type { SegmentationMetrics } from '@covsev/eval';
import { type CtSegScan, loadCtSegCohort } from '../data/ctSegCohort.js';
import { binaryMaskData } from '../data/slices.js';
import { predictVolumeMask } from '../infer/predictVolumeMask.js';
import { TfjsSegmenter } from '../infer/segmenter.js';
import { segmentVolume } from '../infer/segmentVolume.js';
import type { ModelCard } from '../modelCard.js';
import { type LoadedSegmentation, loadTrainedSegmentation, type SegmentationCheckpointChoice } from '../train/loadTrained.js';
import {
  evaluateSegmentation,
  type SegmentationEvaluation,
  TABLE2_ARCH_NAMES,
  TABLE2_ENCODER_NAMES,
  type Table2Row,
} from './table2.js';

export interface EvaluateOnCohortOptions {
  /** A lung run folder (`trainSegmentation`, task lung). */
  readonly lungRunDir?: string;
  /** A lesion run folder (task lesion). */
  readonly lesionRunDir?: string;
  /** The held-out scans; or `cohortDir` (+ `names`). */
  readonly scans?: readonly CtSegScan[];
  readonly cohortDir?: string;
  /** Scans of `cohortDir` to evaluate; default the validation scans the run(s) stored (the lung run's first). */
  readonly names?: readonly string[];
  /** Default 'best' (the epoch with the highest validation IoU). */
  readonly checkpoint?: SegmentationCheckpointChoice;
  /** Slices per model call; default 8. */
  readonly batchSize?: number;
}

export interface CohortEvaluation {
  /** Table 2's rows (`formatTable2`). */
  readonly rows: Table2Row[];
  /** The scans evaluated. */
  readonly scans: string[];
  readonly lung?: SegmentationEvaluation;
  /** The lesion model on ground-truth-lung-masked slices (the paper's setting). */
  readonly lesion?: SegmentationEvaluation;
  /** The lesion model on slices masked by the lung model's prediction (the pipeline). */
  readonly lesionPipeline?: SegmentationEvaluation;
}

function architectureNames(card: ModelCard): { model: string; encoder: string } {
  const a = card.architecture;
  if (a === undefined) return { model: card.onnx ?? 'ONNX model', encoder: '-' };
  return { model: TABLE2_ARCH_NAMES[a.arch], encoder: TABLE2_ENCODER_NAMES[a.encoder] };
}

function scores(metrics: SegmentationMetrics): { miou: number; iou: number } {
  return { miou: metrics.miou, iou: metrics.iou };
}

async function loadRun(
  runDir: string,
  task: 'lung' | 'lesion',
  checkpoint: SegmentationCheckpointChoice,
): Promise<LoadedSegmentation> {
  const loaded = await loadTrainedSegmentation(runDir, { checkpoint });
  if (loaded.card.task !== task)
    throw new RangeError(`evaluateOnCohort: ${runDir} trained a ${loaded.card.task} model, given as the ${task} run`);
  return loaded;
}

/** Table 2 for the given runs on held-out scans; see the file comment for what each number is. */
export async function evaluateOnCohort(options: EvaluateOnCohortOptions): Promise<CohortEvaluation> {
  const checkpoint = options.checkpoint ?? 'best';
  if (options.lungRunDir === undefined && options.lesionRunDir === undefined)
    throw new RangeError('evaluateOnCohort: give lungRunDir, lesionRunDir or both');
  const lungRun = options.lungRunDir === undefined ? undefined : await loadRun(options.lungRunDir, 'lung', checkpoint);
  const lesionRun = options.lesionRunDir === undefined ? undefined : await loadRun(options.lesionRunDir, 'lesion', checkpoint);

  let scans: readonly CtSegScan[];
  if (options.scans !== undefined) scans = options.scans;
  else if (options.cohortDir !== undefined) {
    const names = options.names ?? lungRun?.split?.val ?? lesionRun?.split?.val;
    if (names === undefined || names.length === 0)
      throw new RangeError('evaluateOnCohort: no held-out scans: give names (the runs stored no validation scans)');
    scans = await loadCtSegCohort(options.cohortDir, { names });
  } else throw new RangeError('evaluateOnCohort: give scans or cohortDir');
  if (scans.length === 0) throw new RangeError('evaluateOnCohort: no scans');

  const batch = options.batchSize === undefined ? {} : { batchSize: options.batchSize };
  const lungSeg = lungRun === undefined ? undefined : new TfjsSegmenter(lungRun.model, lungRun.card);
  const lesionSeg = lesionRun === undefined ? undefined : new TfjsSegmenter(lesionRun.model, lesionRun.card);
  const lungCases = [];
  const lesionCases = [];
  const pipelineCases = [];
  for (const scan of scans) {
    const infection = binaryMaskData(scan.infection);
    const lung = binaryMaskData(scan.lung);
    if (lungSeg !== undefined)
      lungCases.push({ name: scan.name, pred: await predictVolumeMask(scan.ct, lungSeg, { kind: 'hu' }, batch), truth: lung });
    if (lesionSeg !== undefined)
      lesionCases.push({
        name: scan.name,
        pred: await predictVolumeMask(scan.ct, lesionSeg, { kind: 'hu' }, { ...batch, lung }),
        truth: infection,
      });
    if (lungSeg !== undefined && lesionSeg !== undefined) {
      const piped = await segmentVolume(scan.ct, { lung: lungSeg, lesion: lesionSeg, intensity: 'hu', ...batch });
      pipelineCases.push({ name: scan.name, pred: (piped.lesion as { data: Uint8Array }).data, truth: infection });
    }
  }
  const lungEval = lungCases.length === 0 ? undefined : evaluateSegmentation(lungCases);
  const lesionEval = lesionCases.length === 0 ? undefined : evaluateSegmentation(lesionCases);
  const pipelineEval = pipelineCases.length === 0 ? undefined : evaluateSegmentation(pipelineCases);

  const rows: Table2Row[] = [];
  const lungNames = lungRun === undefined ? undefined : architectureNames(lungRun.card);
  const lesionNames = lesionRun === undefined ? undefined : architectureNames(lesionRun.card);
  const sameModel =
    lungNames !== undefined &&
    lesionNames !== undefined &&
    lungNames.model === lesionNames.model &&
    lungNames.encoder === lesionNames.encoder;
  if (sameModel && lungEval !== undefined && lesionEval !== undefined)
    rows.push({ ...lungNames, lung: scores(lungEval.overall), infection: scores(lesionEval.overall) });
  else {
    if (lungNames !== undefined && lungEval !== undefined) rows.push({ ...lungNames, lung: scores(lungEval.overall) });
    if (lesionNames !== undefined && lesionEval !== undefined)
      rows.push({ ...lesionNames, infection: scores(lesionEval.overall) });
  }
  if (lesionNames !== undefined && pipelineEval !== undefined)
    rows.push({
      model: `${lesionNames.model} (lesion on predicted lung)`,
      encoder: lesionNames.encoder,
      infection: scores(pipelineEval.overall),
    });
  return {
    rows,
    scans: scans.map((s) => s.name),
    ...(lungEval === undefined ? {} : { lung: lungEval }),
    ...(lesionEval === undefined ? {} : { lesion: lesionEval }),
    ...(pipelineEval === undefined ? {} : { lesionPipeline: pipelineEval }),
  };
}
