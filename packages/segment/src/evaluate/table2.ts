/**
 * Stage 1's scores as the paper's Table 2 (docs/method.md, "Segmentation", Data and metrics):
 * per model, the lung segmentation's mIoU and lung IoU and the infection segmentation's mIoU and
 * infection IoU, in percent. mIoU is the mean of background and foreground IoU (`miou` of
 * `@covsev/eval`); both are computed on all pixels of all held-out slices pooled (intersections
 * and unions summed over slices and scans, then divided once), per scan as well.
 */
import { type BinaryMask, SegmentationMetricAccumulator, type SegmentationMetrics, segmentationMetrics } from '@covsev/eval';
import type { ArchName, EncoderName } from '../models/contract.js';

/** One scan's predicted and true masks (same layout, nonzero = foreground). */
export interface ScanMasks {
  readonly name: string;
  readonly pred: BinaryMask;
  readonly truth: BinaryMask;
}

export interface SegmentationEvaluation {
  /** Each scan's scores, in the order given. */
  readonly perScan: readonly { readonly name: string; readonly metrics: SegmentationMetrics }[];
  /** All scans' pixels pooled. */
  readonly overall: SegmentationMetrics;
}

/** Scores of each scan and of all scans pooled. */
export function evaluateSegmentation(cases: readonly ScanMasks[]): SegmentationEvaluation {
  if (cases.length === 0) throw new RangeError('evaluateSegmentation: no scans');
  const pooled = new SegmentationMetricAccumulator();
  const perScan = cases.map(({ name, pred, truth }) => {
    if (pred.length !== truth.length)
      throw new RangeError(`evaluateSegmentation: scan ${name}: prediction has ${pred.length} voxels, truth ${truth.length}`);
    pooled.update(pred, truth);
    return { name, metrics: segmentationMetrics(pred, truth) };
  });
  return { perScan, overall: pooled.aggregate() };
}

/** A row of Table 2; scores are fractions 0..1 (printed in percent). */
export interface Table2Row {
  /** The architecture as the paper names it (`U-Net`), or any label. */
  readonly model: string;
  readonly encoder: string;
  readonly lung?: { readonly miou: number; readonly iou: number };
  readonly infection?: { readonly miou: number; readonly iou: number };
}

/** The paper's names of the architectures and encoders. */
export const TABLE2_ARCH_NAMES: Record<ArchName, string> = {
  unet: 'U-Net',
  unetplusplus: 'U-Net++',
  fpn: 'FPN',
  deeplabv3: 'DeepLabV3',
};
export const TABLE2_ENCODER_NAMES: Record<EncoderName, string> = {
  resnet34: 'ResNet-34',
  densenet121: 'DenseNet-121',
};

const HEADER = ['Model', 'Encoder', 'Lung mIoU', 'Lung IoU', 'Infection mIoU', 'Infection IoU'] as const;

function percent(value: number | undefined, what: string): string {
  if (value === undefined) return '-';
  if (!(value >= 0 && value <= 1)) throw new RangeError(`formatTable2: ${what} must be a fraction in 0..1, got ${value}`);
  return (value * 100).toFixed(2);
}

/**
 * Table 2 as a Markdown table, columns padded: `Model | Encoder | Lung mIoU | Lung IoU |
 * Infection mIoU | Infection IoU`, scores in percent with two decimals, `-` where a row has none.
 */
export function formatTable2(rows: readonly Table2Row[]): string {
  const cells = rows.map((r) => [
    r.model,
    r.encoder,
    percent(r.lung?.miou, `${r.model} lung mIoU`),
    percent(r.lung?.iou, `${r.model} lung IoU`),
    percent(r.infection?.miou, `${r.model} infection mIoU`),
    percent(r.infection?.iou, `${r.model} infection IoU`),
  ]);
  const widths = HEADER.map((h, c) => Math.max(3, h.length, ...cells.map((row) => (row[c] as string).length)));
  const line = (row: readonly string[]) => `| ${row.map((v, c) => v.padEnd(widths[c] as number)).join(' | ')} |`;
  return [line(HEADER), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}
