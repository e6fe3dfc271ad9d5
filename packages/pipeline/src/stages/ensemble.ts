/**
 * Stages "involvement" and "ensemble" (docs/method.md, "Ensemble"):
 *
 * - involvement: the involvement baseline, a model of its own: each scan's infected share of
 *   the lung from stage 1's masks, graded by Table 1's thresholds (`involvementBaseline`).
 * - ensemble: the members' prediction tables of one split combined into one (`combinePredictions`:
 *   the method's mean of plain CMC and infection-aware CMC, or a weighted mean, or a vote).
 *
 * Each writes one prediction table per split.
 */
import { type CombineRule, combinePredictions, involvementBaseline } from '@covsev/ensemble';
import { type PredictionRow, writePredictionCsv } from '@covsev/io';
import { beginStage, type StageContext } from '../stage.js';

export interface InvolvementStageOptions {
  /** Where the table goes (`runFolder(run).model('involvement').predictions(split)`). */
  readonly out?: string;
  /**
   * Soft probabilities (`involvementPrediction`'s softness, involvement units): needed when the
   * baseline is an ensemble member, so that it does not outvote the classifiers with one-hot rows.
   */
  readonly softness?: number;
  readonly split?: string;
}

/** The involvement baseline's table from each scan's stage 1 involvement (infected / lung voxels). */
export async function involvementStage(
  scans: readonly { readonly name: string; readonly involvement: number }[],
  options: InvolvementStageOptions = {},
  context: StageContext = {},
): Promise<PredictionRow[]> {
  const stage = beginStage(context, 'involvement', scans.length, {
    ...(options.split === undefined ? {} : { split: options.split }),
    ...(options.softness === undefined ? {} : { softness: options.softness }),
  });
  const rows =
    scans.length === 0 ? [] : involvementBaseline(scans, options.softness === undefined ? {} : { softness: options.softness });
  if (options.out !== undefined) await writePredictionCsv(options.out, rows);
  stage.end(options.out === undefined ? [] : [options.out], { scans: rows.length });
  return rows;
}

export interface EnsembleStageOptions {
  /** Default `'mean'`, the method's. */
  readonly rule?: CombineRule;
  /** One per member, for `'weighted-mean'`. */
  readonly weights?: readonly number[];
  readonly out?: string;
  readonly split?: string;
}

/** Combines the members' tables of one split; an empty split gives an empty table. */
export async function ensembleStage(
  members: readonly { readonly name: string; readonly rows: readonly PredictionRow[] }[],
  options: EnsembleStageOptions = {},
  context: StageContext = {},
): Promise<PredictionRow[]> {
  const rule = options.rule ?? 'mean';
  if (options.weights !== undefined && options.weights.length !== members.length)
    throw new RangeError(`ensemble: ${options.weights.length} weights for ${members.length} members`);
  const stage = beginStage(context, 'ensemble', members[0]?.rows.length ?? 0, {
    rule,
    members: members.map((m) => m.name).join(', '),
    ...(options.weights === undefined ? {} : { weights: options.weights.join(', ') }),
    ...(options.split === undefined ? {} : { split: options.split }),
  });
  const rows =
    (members[0]?.rows.length ?? 0) === 0
      ? []
      : combinePredictions(
          members.map((m, i) => ({
            name: m.name,
            rows: m.rows,
            ...(options.weights === undefined ? {} : { weight: options.weights[i] as number }),
          })),
          { rule },
        );
  if (options.out !== undefined) await writePredictionCsv(options.out, rows);
  stage.end(options.out === undefined ? [] : [options.out], { scans: rows.length, members: members.length });
  return rows;
}
