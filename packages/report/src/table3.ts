/**
 * Text tables of an evaluation: the layout of the paper's Table 3 (one row per model, per-class
 * F1 and Macro F1 in percent) with the bootstrap interval and the quadratic kappa added, and a
 * confusion matrix. Both are pipe tables (Markdown renders them; a terminal shows them aligned).
 */
import { SEVERITY_CLASSES } from '@covsev/io';
import type { ModelEvaluation } from './evaluate.js';

/** Options of `formatTable3`. */
export interface Table3Options {
  /** The ID column, one per model (default 1, 2, 3, ...). */
  readonly ids?: readonly string[];
  /** Add a column with the number of scans scored (default true). */
  readonly scans?: boolean;
}

/** A fraction as a percentage with 2 decimals (`0.81234` gives `81.23`); `n/a` when not finite. */
export function percent(value: number): string {
  return Number.isFinite(value) ? (value * 100).toFixed(2) : 'n/a';
}

/** Pads the cells of each column to one width and joins rows as `| a | b |` lines, with a separator after the header. */
export function pipeTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  rightAligned: readonly boolean[],
): string {
  const widths = header.map((h, c) => Math.max(h.length, 3, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((cell, c) => (rightAligned[c] === true ? cell.padStart(widths[c] as number) : cell.padEnd(widths[c] as number))).join(' | ')} |`;
  const separator = `|${widths.map((w, c) => (rightAligned[c] === true ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`)).join('|')}|`;
  return [line(header), separator, ...rows.map(line)].join('\n');
}

/**
 * The paper's Table 3 for the given models: `ID | Model | Mild | Moderate | Severe | Critical |
 * Macro F1 | Macro F1 95 % CI | QW kappa | Scans`. F1 values are percentages with 2 decimals; the
 * interval is the bootstrap percentile interval in percent (its level is the evaluation's); kappa
 * has 4 decimals (`n/a` when undefined).
 */
export function formatTable3(models: readonly ModelEvaluation[], options: Table3Options = {}): string {
  if (options.ids !== undefined && options.ids.length !== models.length) {
    throw new RangeError(`formatTable3: ${options.ids.length} ids for ${models.length} models`);
  }
  const withScans = options.scans !== false;
  const levels = [...new Set(models.map((m) => Math.round(m.macroF1.confidence * 1000) / 10))];
  const ciTitle = levels.length === 1 ? `Macro F1 ${levels[0]} % CI` : 'Macro F1 CI';
  const header = ['ID', 'Model', ...SEVERITY_CLASSES, 'Macro F1', ciTitle, 'QW kappa', ...(withScans ? ['Scans'] : [])];
  const rows = models.map((m, i) => [
    options.ids?.[i] ?? String(i + 1),
    m.name,
    ...m.perClassF1.map(percent),
    percent(m.macroF1.estimate),
    `[${percent(m.macroF1.low)}, ${percent(m.macroF1.high)}]`,
    Number.isFinite(m.quadraticKappa) ? m.quadraticKappa.toFixed(4) : 'n/a',
    ...(withScans ? [String(m.scans)] : []),
  ]);
  return pipeTable(
    header,
    rows,
    header.map((_, c) => c >= 2),
  );
}

/**
 * A confusion matrix as a pipe table: rows = truth, columns = prediction, with row and column
 * totals. `classNames` default to the severity grades.
 */
export function formatConfusionMatrix(
  matrix: readonly (readonly number[])[],
  classNames: readonly string[] = SEVERITY_CLASSES,
): string {
  if (matrix.length !== classNames.length || matrix.some((row) => row.length !== classNames.length)) {
    throw new RangeError(`formatConfusionMatrix: expected a ${classNames.length} x ${classNames.length} matrix`);
  }
  const header = ['truth \\ prediction', ...classNames, 'total'];
  const rows = matrix.map((row, t) => [classNames[t] as string, ...row.map(String), String(row.reduce((a, b) => a + b, 0))]);
  const columnTotals = classNames.map((_, p) => matrix.reduce((s, row) => s + (row[p] as number), 0));
  rows.push(['total', ...columnTotals.map(String), String(columnTotals.reduce((a, b) => a + b, 0))]);
  return pipeTable(
    header,
    rows,
    header.map((_, c) => c >= 1),
  );
}
