/**
 * Combining prediction tables on disk (docs/formats.md, "Prediction table"): read with io's
 * strict `readPredictionCsv`, combined by combinePredictions, written with `writePredictionCsv`
 * (atomic: a reader never sees half a table).
 */
import { type PredictionRow, readPredictionCsv, writePredictionCsv } from '@covsev/io';
import { type CombineOptions, combineAs } from './combine.js';
import type { EnsembleMember } from './tables.js';

/** Options of combinePredictionFiles. */
export interface CombineFilesOptions extends CombineOptions {
  /** One weight per path, for the `'weighted-mean'` rule (e.g. fitEnsembleWeights' `weights`). */
  readonly weights?: readonly number[];
}

/**
 * Reads prediction tables, combines them (combinePredictions) and writes the result.
 *
 * Each table is a member named by its path, so every error names the file. The output may be one
 * of the inputs (all are read before anything is written).
 *
 * Args:
 *   paths: the tables, at least one, each once.
 *   options: rule (default `'mean'`), weights (one per path; `'weighted-mean'` only), sumTolerance.
 *   outPath: where to write the combined table.
 * Returns:
 *   The combined rows, as written.
 * Throws:
 *   CovsevInputError naming the file (unreadable, malformed, scans that differ from the first
 *   file's, ...) or RangeError (no paths, weights not one per path or given for another rule).
 */
export async function combinePredictionFiles(
  paths: readonly string[],
  options: CombineFilesOptions,
  outPath: string,
): Promise<PredictionRow[]> {
  const fn = 'combinePredictionFiles';
  if (!Array.isArray(paths) || paths.length === 0) throw new RangeError(`${fn}: no prediction tables given`);
  const weights = options.weights;
  if (weights !== undefined) {
    if ((options.rule ?? 'mean') !== 'weighted-mean') {
      throw new RangeError(`${fn}: weights are given but the rule is '${options.rule ?? 'mean'}' (use 'weighted-mean')`);
    }
    if (weights.length !== paths.length) throw new RangeError(`${fn}: ${weights.length} weights for ${paths.length} tables`);
  }
  const tables = await Promise.all(paths.map((path) => readPredictionCsv(path)));
  const members: EnsembleMember[] = paths.map((path, i) => ({
    name: path,
    path,
    rows: tables[i] as PredictionRow[],
    ...(weights === undefined ? {} : { weight: weights[i] as number }),
  }));
  const combined = combineAs(fn, members, {
    ...(options.rule === undefined ? {} : { rule: options.rule }),
    ...(options.sumTolerance === undefined ? {} : { sumTolerance: options.sumTolerance }),
  });
  await writePredictionCsv(outPath, combined);
  return combined;
}
