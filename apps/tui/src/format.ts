/** Text formatting shared by the panels and plain mode. */
import { formatDuration } from '@covsev/cli';

export { formatDuration };

/** A number in a short, stable width: 4 significant digits, exponent for the very small or large. */
export function fmt(value: number | null | undefined, digits = 4): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '-';
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs < 1e-3 || abs >= 1e6) return value.toExponential(2);
  return Number(value.toPrecision(digits)).toString();
}

export function fmtBytes(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/** A progress bar of `width` cells (at least 1) for a fraction in [0, 1]. */
export function bar(fraction: number, width: number): string {
  const w = Math.max(1, Math.floor(width));
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const full = Math.round(f * w);
  return `${'█'.repeat(full)}${'░'.repeat(w - full)}`;
}

/** Cuts text to `width` columns (with an ellipsis), never below 0. */
export function clip(text: string, width: number): string {
  const w = Math.max(0, Math.floor(width));
  if (text.length <= w) return text;
  return w <= 1 ? text.slice(0, w) : `${text.slice(0, w - 1)}…`;
}

/** Human names of the loss terms the trainers write. */
export const LOSS_LABELS: Readonly<Record<string, string>> = {
  total: 'total (joint)',
  joint: 'joint',
  contrastive: 'contrastive',
  mixup: 'mixup',
  classification: 'classification (weighted CE)',
  weightContrastive: 'weight exp(-s1)',
  weightClassification: 'weight exp(-s2)',
  dice: 'Dice loss',
};

/** Human names of the validation metrics the trainers write (the classifier's Macro F1, segmentation's IoU). */
export const METRIC_LABELS: Readonly<Record<string, string>> = {
  valMacroF1: 'val Macro F1',
  valIoU: 'val IoU',
  valMIoU: 'val mIoU',
  valDice: 'val Dice',
};

/** A metric's human name, or its key. */
export function metricLabel(name: string): string {
  return METRIC_LABELS[name] ?? name;
}

/** What one training sample is: a CT slice (segmentation, 2D) or a volume (the classifier, 3D). */
export function sampleUnit(kind: string | undefined): 'slices' | 'volumes' {
  return kind === 'segmentation' ? 'slices' : 'volumes';
}
