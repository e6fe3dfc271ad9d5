/**
 * Stage "segment": stage 1 of the method (docs/method.md, "Segmentation (stage 1)") over a
 * cohort: every scan's lung mask from the lung model and its infection mask from the lesion
 * model inside the lung, as NIfTI under `<run>/masks/` (`lung/`, `infection/`, `overlays/`,
 * `records/`). A scan whose file and models are unchanged is read from its record, not
 * segmented again (`segmentScans`' cache, keyed by the scan's bytes and the models' hashes).
 *
 * The models are stage 1 training runs (`trainSegmentation`) or model cards; they are exported
 * to ONNX and run on onnxruntime (`openSegmenter`).
 */
import { join, resolve } from 'node:path';
import {
  openSegmenter,
  type ScanSegmentationReport,
  SEGMENT_OUTPUT_FOLDERS,
  type SegmentScansResult,
  segmentScans,
  type VolumeIntensity,
} from '@covsev/segment';
import { beginStage, type StageContext } from '../stage.js';
import type { CohortScan } from './loadCohort.js';

export interface SegmentCohortOptions {
  /** The lung model: a stage 1 training run folder or a model card. */
  readonly lungModel: string;
  /** The lesion model (run folder or card); without it only lung masks are made. */
  readonly lesionModel?: string;
  /** The output folder (`runFolder(run).masks`). */
  readonly out: string;
  /** What the scans' numbers are where their reader does not say; default COV19-CT-DB's JPG window. */
  readonly intensity?: VolumeIntensity;
  /** Write the PNG overlays (default true). */
  readonly overlays?: boolean;
}

export interface SegmentedCohort extends SegmentScansResult {
  /** `<out>/lung` and `<out>/infection` (`<scan>.nii.gz` each). */
  readonly lungDir: string;
  readonly infectionDir?: string;
}

/** The infected share of the lung of one segmented scan (infection voxels / lung voxels; 0 without lung). */
export function segmentedInvolvement(report: Pick<ScanSegmentationReport, 'lungVoxels' | 'lesionVoxels'>): number {
  return report.lungVoxels > 0 ? Math.min(1, (report.lesionVoxels ?? 0) / report.lungVoxels) : 0;
}

/** Segments every scan (from the cache where it can); emits `segment` stage events. */
export async function segmentCohort(
  scans: readonly CohortScan[],
  options: SegmentCohortOptions,
  context: StageContext = {},
): Promise<SegmentedCohort> {
  // Absolute paths: `pnpm submit --run` reads them back from the events, maybe from another folder.
  const stage = beginStage(context, 'segment', scans.length, {
    lung: resolve(options.lungModel),
    ...(options.lesionModel === undefined ? {} : { lesion: resolve(options.lesionModel) }),
    out: resolve(options.out),
  });
  const lung = await openSegmenter(options.lungModel);
  let result: SegmentScansResult;
  try {
    const lesion = options.lesionModel === undefined ? undefined : await openSegmenter(options.lesionModel);
    try {
      const warnings: string[] = [];
      let done = 0;
      result = await segmentScans(
        scans.map((scan) => ({ name: scan.name, path: scan.folder })),
        {
          out: options.out,
          lung,
          ...(lesion === undefined ? {} : { lesion }),
          intensity: options.intensity ?? { window: 'cov19ctdb' },
          ...(options.overlays === undefined ? {} : { overlays: options.overlays }),
          onScan: (report) => stage.progress(++done, report.name, report.cached),
          onWarning: (message) => warnings.push(message),
        },
      );
      warnings.push(...result.scans.flatMap((r) => r.warnings.map((w) => `${r.name}: ${w}`)));
      stage.end([options.out], { scans: result.scans.length, cached: result.cached, segmented: result.computed }, warnings);
    } finally {
      await lesion?.dispose();
    }
  } finally {
    await lung.dispose();
  }
  return {
    ...result,
    lungDir: join(options.out, SEGMENT_OUTPUT_FOLDERS.lung),
    ...(options.lesionModel === undefined ? {} : { infectionDir: join(options.out, SEGMENT_OUTPUT_FOLDERS.infection) }),
  };
}
