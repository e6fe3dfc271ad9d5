/**
 * Scores prediction tables against severity labels: per model the confusion matrix, per-class F1
 * (Mild, Moderate, Severe, Critical), Macro F1 with a percentile bootstrap interval and the
 * quadratic weighted kappa, all from `@covsev/eval` (sklearn's definitions).
 *
 * Scan sets: a table scan with no label is always refused (it cannot be scored, and it usually
 * means the wrong labels file: test predictions against validation labels). A labelled scan that
 * a table lacks is refused too, unless `subset` is set: then the labels are restricted to the
 * table's scans (a table of one split scored against a label file of several) and the count left
 * out is reported (`unscoredLabels`). Every refusal is a CovsevInputError naming the table file
 * and the scan.
 */
import { basename } from 'node:path';
import {
  type BootstrapInterval,
  bootstrapMacroF1,
  type ClassificationReport,
  type ConfusionMatrix,
  classificationReport,
  confusionMatrix,
} from '@covsev/eval';
import {
  CovsevInputError,
  type LabelRow,
  type PredictionRow,
  readLabelCsv,
  readPredictionCsv,
  SEVERITY_CLASSES,
  type SeverityCategory,
} from '@covsev/io';

/** One model's prediction table, as read by io's `readPredictionCsv`. */
export interface PredictionTable {
  /** The model's name in reports and file names (e.g. `plain`, `infection`). */
  readonly name: string;
  /** The file the rows came from; errors name it (default: `<name>`). */
  readonly path?: string;
  readonly rows: readonly PredictionRow[];
}

/** Options of `evaluatePredictions` / `evaluatePredictionFiles`. */
export interface EvaluateOptions {
  /**
   * Score each table on its own scans, ignoring labels it lacks (default false: a labelled scan
   * missing from a table is an error). A table scan without a label is an error either way.
   */
  readonly subset?: boolean;
  /** Bootstrap resamples of the Macro F1 interval (default 1000). */
  readonly resamples?: number;
  /** Two-sided confidence level of the interval (default 0.95). */
  readonly confidence?: number;
  /** Seed of the bootstrap draws, an integer in 0..2^32-1 (default 0): reports are reproducible. */
  readonly seed?: number;
  /** The label file, named in errors (default `labels`). */
  readonly labelsPath?: string;
}

/** The scores of one model. */
export interface ModelEvaluation {
  readonly name: string;
  /** The table's file (or its name when it came from memory). */
  readonly path: string;
  /** Scans scored. */
  readonly scans: number;
  /** Labelled scans the table lacks (0 unless `subset`). */
  readonly unscoredLabels: number;
  /** 4 x 4 counts, rows = truth, columns = prediction, classes Mild..Critical. */
  readonly confusion: ConfusionMatrix;
  /** F1 of Mild, Moderate, Severe, Critical (0 for a class neither present nor predicted). */
  readonly perClassF1: readonly [number, number, number, number];
  /** Macro F1 (the mean of the four) with its percentile bootstrap interval. */
  readonly macroF1: BootstrapInterval;
  /** Quadratic weighted Cohen's kappa over class ids; NaN when undefined (a single class in truth and prediction). */
  readonly quadraticKappa: number;
  readonly accuracy: number;
  /** Everything `classificationReport` gives (precision, recall, support per class, ...). */
  readonly report: ClassificationReport;
}

const MAX_LISTED = 5;

function listed(names: readonly string[]): string {
  const head = names.slice(0, MAX_LISTED).join(', ');
  return names.length > MAX_LISTED ? `${head} (and ${names.length - MAX_LISTED} more)` : head;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * Scores each table against the labels. The predicted grade is each row's `category` (the
 * table's decision, normally the arg-max of its probabilities), the truth the label's category.
 *
 * Args:
 *   tables: one or more models' tables, names unique.
 *   labels: io's `LabelRow[]` (`readLabelCsv`), at least one.
 *   options: `subset`, bootstrap `resamples` / `confidence` / `seed`, `labelsPath` for errors.
 * Returns:
 *   One `ModelEvaluation` per table, in order.
 * Throws:
 *   CovsevInputError: naming the table file and the scan, for a table scan with no label or (unless
 *   `subset`) a labelled scan the table lacks; naming the table for an empty table.
 *   RangeError: no tables, duplicate names, no labels, bad bootstrap options.
 */
export function evaluatePredictions(
  tables: readonly PredictionTable[],
  labels: readonly LabelRow[],
  options: EvaluateOptions = {},
): ModelEvaluation[] {
  if (tables.length === 0) throw new RangeError('evaluatePredictions: no prediction tables');
  const twice = tables.find((t, i) => tables.findIndex((u) => u.name === t.name) !== i);
  if (twice !== undefined) throw new RangeError(`evaluatePredictions: two tables are named "${twice.name}"`);
  const labelsPath = options.labelsPath ?? 'labels';
  if (labels.length === 0) throw new CovsevInputError(labelsPath, 'no labels to score against');
  const truthOf = new Map<string, SeverityCategory>();
  for (const label of labels) truthOf.set(label.name, label.category);
  return tables.map((table) => evaluateOne(table, truthOf, labelsPath, options));
}

function evaluateOne(
  table: PredictionTable,
  truthOf: ReadonlyMap<string, SeverityCategory>,
  labelsPath: string,
  options: EvaluateOptions,
): ModelEvaluation {
  const path = table.path ?? table.name;
  if (table.rows.length === 0) throw new CovsevInputError(path, 'prediction table has no rows to score');
  const unlabelled = table.rows.filter((r) => !truthOf.has(r.name)).map((r) => r.name);
  if (unlabelled.length > 0) {
    throw new CovsevInputError(
      path,
      `${plural(unlabelled.length, 'scan')} with no label in ${labelsPath}: ${listed(unlabelled)} (is it the labels file of the same split?)`,
    );
  }
  const predicted = new Set(table.rows.map((r) => r.name));
  const missing = [...truthOf.keys()].filter((name) => !predicted.has(name));
  if (missing.length > 0 && options.subset !== true) {
    throw new CovsevInputError(
      path,
      `${plural(missing.length, 'labelled scan')} of ${labelsPath} missing from the table: ${listed(missing)} (score only the table's scans with subset / --subset)`,
    );
  }
  const truth = table.rows.map((r) => (truthOf.get(r.name) as SeverityCategory) - 1);
  const pred = table.rows.map((r) => r.category - 1);
  const k = SEVERITY_CLASSES.length;
  const confusion = confusionMatrix(truth, pred, k);
  const report = classificationReport(confusion, { classNames: SEVERITY_CLASSES });
  const macroF1 = bootstrapMacroF1(truth, pred, {
    numClasses: k,
    seed: options.seed ?? 0,
    ...(options.resamples === undefined ? {} : { resamples: options.resamples }),
    ...(options.confidence === undefined ? {} : { confidence: options.confidence }),
  });
  return {
    name: table.name,
    path,
    scans: table.rows.length,
    unscoredLabels: missing.length,
    confusion,
    perClassF1: report.perClass.map((c) => c.f1) as unknown as readonly [number, number, number, number],
    macroF1,
    quadraticKappa: report.quadraticKappa,
    accuracy: report.accuracy,
    report,
  };
}

/** A model name from a table path: its file name without `.csv` (`runs/plain/val.csv` gives `val`). */
export function modelNameFromPath(path: string): string {
  return basename(path).replace(/\.csv$/i, '');
}

/**
 * `evaluatePredictions` on files: reads the label file (`readLabelCsv`) and each prediction
 * table (`readPredictionCsv`, strict); a missing or malformed file is a CovsevInputError naming
 * it. `names` (one per path) default to the file names (`modelNameFromPath`).
 */
export async function evaluatePredictionFiles(
  predictionPaths: readonly string[],
  labelsPath: string,
  options: EvaluateOptions & { readonly names?: readonly string[] } = {},
): Promise<ModelEvaluation[]> {
  const names = options.names ?? predictionPaths.map(modelNameFromPath);
  if (names.length !== predictionPaths.length) {
    throw new RangeError(`evaluatePredictionFiles: ${names.length} names for ${predictionPaths.length} tables`);
  }
  const labels = await readLabelCsv(labelsPath);
  const tables: PredictionTable[] = [];
  for (const [i, path] of predictionPaths.entries()) {
    tables.push({ name: names[i] as string, path, rows: await readPredictionCsv(path) });
  }
  return evaluatePredictions(tables, labels, { ...options, labelsPath });
}
