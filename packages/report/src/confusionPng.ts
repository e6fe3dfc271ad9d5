/**
 * A confusion matrix as a heatmap PNG: one cell per (truth, prediction) pair coloured by its
 * count, the count written in the cell, truth down the rows and prediction across the columns,
 * the class names on the axes and a title.
 */
import { SEVERITY_CLASSES } from '@covsev/io';
import type { TopLevelSpec } from 'vega-lite';
import { type RenderedChart, type RenderOptions, writeChartPng } from './render.js';

/** Options of `writeConfusionMatrixPng` / `confusionMatrixSpec`. */
export interface ConfusionMatrixPngOptions extends RenderOptions {
  /** The title (default `Confusion matrix`; '' for none). */
  readonly title?: string;
  /** A second title line, e.g. `Macro F1 81.23 %, 59 scans`. */
  readonly subtitle?: string;
  /** Names of classes 0..K-1 (default the severity grades Mild..Critical). */
  readonly classNames?: readonly string[];
  /** The side of a cell in chart units (default 90). */
  readonly cellSize?: number;
}

/** The Vega-Lite spec `writeConfusionMatrixPng` draws (rows of `matrix` = truth, columns = prediction). */
export function confusionMatrixSpec(
  matrix: readonly (readonly number[])[],
  options: ConfusionMatrixPngOptions = {},
): TopLevelSpec {
  const classNames = options.classNames ?? SEVERITY_CLASSES;
  const k = classNames.length;
  if (matrix.length !== k || matrix.some((row) => row.length !== k)) {
    throw new RangeError(`confusionMatrixSpec: expected a ${k} x ${k} matrix (one row and column per class)`);
  }
  if (new Set(classNames).size !== k) throw new RangeError('confusionMatrixSpec: class names must be unique');
  for (const row of matrix) {
    for (const v of row) {
      if (!(Number.isInteger(v) && v >= 0)) throw new RangeError(`confusionMatrixSpec: counts must be integers >= 0, got ${v}`);
    }
  }
  const values = matrix.flatMap((row, t) => row.map((count, p) => ({ truth: classNames[t], prediction: classNames[p], count })));
  const max = Math.max(1, ...values.map((v) => v.count));
  const side = (options.cellSize ?? 90) * k;
  const title = options.title ?? 'Confusion matrix';
  const domain = [...classNames];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(title === '' && options.subtitle === undefined
      ? {}
      : { title: { text: title, ...(options.subtitle === undefined ? {} : { subtitle: options.subtitle }), fontSize: 16 } }),
    width: side,
    height: side,
    data: { values },
    encoding: {
      x: {
        field: 'prediction',
        type: 'nominal',
        sort: domain,
        scale: { domain },
        title: 'Prediction',
        axis: { labelAngle: 0, orient: 'bottom', labelFontSize: 12, titleFontSize: 13 },
      },
      y: {
        field: 'truth',
        type: 'nominal',
        sort: domain,
        scale: { domain },
        title: 'Truth (label)',
        axis: { labelFontSize: 12, titleFontSize: 13 },
      },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
        encoding: {
          color: {
            field: 'count',
            type: 'quantitative',
            scale: { scheme: 'blues', domain: [0, max] },
            legend: { title: 'scans', titleFontSize: 12, format: 'd', tickMinStep: 1 },
          },
        },
      },
      {
        mark: { type: 'text', fontSize: 18, fontWeight: 'bold' },
        encoding: {
          text: { field: 'count', type: 'quantitative' },
          color: { condition: { test: `datum.count > ${max / 2}`, value: 'white' }, value: 'black' },
        },
      },
    ],
  } as TopLevelSpec;
}

/**
 * Draws `matrix` (counts, rows = truth, columns = prediction) as a heatmap with the counts in the
 * cells, axis titles (truth, prediction), class names and a title, and writes it to `path` as a
 * PNG, atomically.
 *
 * Throws:
 *   RangeError: a matrix that is not K x K for the K class names, or a count that is not an integer >= 0.
 */
export async function writeConfusionMatrixPng(
  path: string,
  matrix: readonly (readonly number[])[],
  options: ConfusionMatrixPngOptions = {},
): Promise<RenderedChart> {
  return writeChartPng(path, confusionMatrixSpec(matrix, options), options);
}
