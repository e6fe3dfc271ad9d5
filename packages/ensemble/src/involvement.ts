/**
 * The lung-involvement baseline (covsev's addition, not the paper's): grade a scan straight from
 * its stage-1 masks by the fraction of lung that is infected, with the borders of Table 1
 * (docs/method.md, "Severity grades (Table 1)", io's `categoryFromInvolvement`). As a prediction
 * table it can be scored like the classifier or join an ensemble as one more member.
 */
import { categoryFromInvolvement, type PredictionRow, scanNameProblem, type Volume, voxelCount } from '@covsev/io';
import type { Probabilities } from './tables.js';

/** Options of involvementFromMasks. */
export interface InvolvementOptions {
  /** The scan's name, for errors (default: the lung mask's `source`). */
  readonly name?: string;
}

/**
 * The fraction of lung involved: voxels inside the lung (lung > 0) that are infected
 * (infection > 0), over the lung voxels. Infection outside the lung mask does not count (the
 * lesion model is meant to look inside the lung only: docs/method.md, "Segmentation (stage 1)").
 *
 * Args:
 *   lung: the lung mask, any voxel type (> 0 = lung).
 *   infection: the infection mask on the same grid (> 0 = infected).
 *   options: name, for errors.
 * Returns:
 *   A number in [0, 1].
 * Throws:
 *   RangeError naming the scan: the shapes differ (both named), a data length does not match
 *   its shape, or the lung mask has no voxel > 0.
 */
export function involvementFromMasks(lung: Volume, infection: Volume, options: InvolvementOptions = {}): number {
  const scan = options.name ?? lung.source ?? infection.source ?? 'unnamed scan';
  const fn = `involvementFromMasks: scan "${scan}"`;
  const a = lung.shape;
  const b = infection.shape;
  if (a.length !== 3 || b.length !== 3 || a[0] !== b[0] || a[1] !== b[1] || a[2] !== b[2]) {
    throw new RangeError(`${fn}: lung mask shape [${a.join(', ')}] and infection mask shape [${b.join(', ')}] differ`);
  }
  const count = voxelCount(a);
  if (lung.data.length !== count || infection.data.length !== count) {
    throw new RangeError(
      `${fn}: the masks hold ${lung.data.length} (lung) and ${infection.data.length} (infection) voxels for shape [${a.join(', ')}] (${count})`,
    );
  }
  const l = lung.data;
  const inf = infection.data;
  let lungVoxels = 0;
  let infected = 0;
  for (let i = 0; i < count; i++) {
    if ((l[i] as number) > 0) {
      lungVoxels++;
      if ((inf[i] as number) > 0) infected++;
    }
  }
  if (lungVoxels === 0) throw new RangeError(`${fn}: the lung mask has no lung voxel (none > 0), so involvement is undefined`);
  return infected / lungVoxels;
}

/** Options of involvementPrediction and involvementBaseline. */
export interface InvolvementPredictionOptions {
  /**
   * Soft probabilities: the width, in involvement units (e.g. 0.03 = 3 % of the lung), over
   * which a grade's score falls off outside its interval. Omitted: one-hot probabilities.
   */
  readonly softness?: number;
}

/** Table 1's involvement interval of each class, Mild..Critical. */
const INTERVALS: readonly (readonly [number, number])[] = [
  [0, 0.25],
  [0.25, 0.5],
  [0.5, 0.75],
  [0.75, 1],
];

/**
 * The least distance of a grade other than the one Table 1 gives: a fraction exactly on a border
 * (25 %, 50 %, 75 %) belongs to one grade only (as categoryFromInvolvement decides: 75 % is
 * Critical), so the neighbour sharing that border scores a little less, not the same.
 */
const BORDER_DISTANCE = 1e-9;

/**
 * A prediction row graded by Table 1 from the fraction of lung involved.
 *
 * Probabilities: one-hot at the grade by default. With `softness` s, each class c gets the score
 * 1 / (1 + exp(d_c / s)), a logistic in the distance d_c from the involvement to c's interval
 * (0 for the graded class, at least 1e-9 for the others), normalised to sum 1: the graded class
 * is always the most probable, and a scan near a border shares its probability with the
 * neighbouring grade.
 *
 * Args:
 *   name: the scan name (docs/formats.md, "Scan names").
 *   involvement: the fraction of lung involved, in [0, 1].
 *   options: softness (> 0), or none for one-hot.
 * Returns:
 *   The PredictionRow; category = categoryFromInvolvement(involvement).
 * Throws:
 *   RangeError naming the scan: a bad name, involvement not in [0, 1], softness not > 0.
 */
export function involvementPrediction(
  name: string,
  involvement: number,
  options: InvolvementPredictionOptions = {},
): PredictionRow {
  const nameProblem = scanNameProblem(name);
  if (nameProblem !== undefined) throw new RangeError(`involvementPrediction: ${nameProblem}`);
  const fn = `involvementPrediction: scan "${name}"`;
  if (!(typeof involvement === 'number' && involvement >= 0 && involvement <= 1)) {
    throw new RangeError(`${fn}: involvement ${String(involvement)} is not a fraction in [0, 1]`);
  }
  const category = categoryFromInvolvement(involvement);
  const graded = category - 1;
  const softness = options.softness;
  if (softness === undefined) {
    const oneHot = [0, 0, 0, 0];
    oneHot[graded] = 1;
    return { name, category, probabilities: oneHot as unknown as Probabilities };
  }
  if (!(Number.isFinite(softness) && softness > 0)) {
    throw new RangeError(`${fn}: softness must be a finite number > 0 (involvement units, e.g. 0.03), got ${String(softness)}`);
  }
  const scores = INTERVALS.map(([lo, hi], c) => {
    const d = c === graded ? 0 : Math.max(lo - involvement, involvement - hi, BORDER_DISTANCE);
    return 1 / (1 + Math.exp(d / softness));
  });
  let sum = 0;
  for (const s of scores) sum += s;
  const probabilities = scores.map((s) => s / sum);
  return { name, category, probabilities: probabilities as unknown as Probabilities };
}

/** One scan for involvementBaseline: its involvement, or its two masks. */
export type InvolvementEntry =
  | { readonly name: string; readonly involvement: number }
  | { readonly name: string; readonly lung: Volume; readonly infection: Volume };

/**
 * The involvement baseline of many scans: involvementPrediction of each (involvementFromMasks
 * first where masks are given).
 *
 * Args:
 *   entries: scans with a fraction or with lung and infection masks; each name once.
 *   options: softness, as involvementPrediction.
 * Returns:
 *   One PredictionRow per entry, in order.
 * Throws:
 *   RangeError: no entries, a name given twice, or the errors of the functions above.
 */
export function involvementBaseline(
  entries: readonly InvolvementEntry[],
  options: InvolvementPredictionOptions = {},
): PredictionRow[] {
  if (!Array.isArray(entries) || entries.length === 0) throw new RangeError('involvementBaseline: no scans given');
  const seen = new Set<string>();
  return entries.map((entry) => {
    if (seen.has(entry.name)) throw new RangeError(`involvementBaseline: scan "${entry.name}" is given twice`);
    seen.add(entry.name);
    const involvement =
      'involvement' in entry ? entry.involvement : involvementFromMasks(entry.lung, entry.infection, { name: entry.name });
    return involvementPrediction(entry.name, involvement, options);
  });
}
