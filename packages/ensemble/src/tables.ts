/**
 * Checks shared by the ensemble's functions (not re-exported as such): prediction tables
 * (docs/formats.md, "Prediction table"), ensemble members, ground truth, and the arg-max with
 * its tie rule. Every error names the table (its file path where it has one, else the member's
 * name) and the problem.
 */
import {
  CovsevInputError,
  PROBABILITY_SUM_TOLERANCE,
  type PredictionRow,
  SEVERITY_CLASSES,
  type SeverityCategory,
  scanNameProblem,
} from '@covsev/io';

/** The four severity classes, Mild, Moderate, Severe, Critical (class id = category - 1; docs/method.md, "Severity grades"). */
export const NUM_CLASSES = 4;

/**
 * How far a member row's four probabilities may sum from 1 by default: the table reader's
 * `PROBABILITY_SUM_TOLERANCE` (1e-3, docs/formats.md "Prediction table"), so every table
 * `readPredictionCsv` accepts can be a member. Pass `sumTolerance` for a stricter check.
 */
export const MEMBER_SUM_TOLERANCE = PROBABILITY_SUM_TOLERANCE;

/**
 * Two scores closer than this count as tied (so that the sums of the same numbers in another
 * order, which may differ in the last bit, do not decide a grade).
 */
export const TIE_TOLERANCE = 1e-12;

/** The probabilities of one scan, Mild..Critical. */
export type Probabilities = readonly [number, number, number, number];

/**
 * One table of predictions to combine: a model, or one TTA pass of a model (docs/method.md,
 * "TTA" and "Ensemble").
 */
export interface EnsembleMember {
  /** Names the member in errors and results (e.g. "plain-cmc", "cmc-infection-tta-2"). */
  readonly name: string;
  /** One row per scan; every member holds the same scans (in any order). */
  readonly rows: readonly PredictionRow[];
  /** Non-negative weight, used by the `'weighted-mean'` rule only. */
  readonly weight?: number;
  /** The file the rows were read from, if any: errors then name it (as a CovsevInputError). */
  readonly path?: string;
}

/** Ground truth: scan name to category 1..4, as a Map or as label rows (io's `LabelRow`). */
export type SeverityTruth = ReadonlyMap<string, number> | ReadonlyArray<{ readonly name: string; readonly category: number }>;

/** What an error names: the file where there is one, else the member. */
export interface TableRef {
  readonly name: string;
  readonly path?: string;
  /** The noun before the name in messages (default 'member'). */
  readonly kind?: 'member' | 'table';
}

/** An error about one table: CovsevInputError naming its file, or a RangeError naming the member. */
export function tableError(fn: string, table: TableRef, problem: string): Error {
  if (table.path !== undefined) return new CovsevInputError(table.path, `${fn}: ${problem}`);
  return new RangeError(`${fn}: ${table.kind ?? 'member'} "${table.name}": ${problem}`);
}

/** `a, b, c` for at most `limit` items, then `and N more`. */
export function listSome(items: readonly string[], limit = 5): string {
  const shown = items.slice(0, limit).join(', ');
  return items.length > limit ? `${shown} and ${items.length - limit} more` : shown;
}

/** The class id whose score is largest; a tie (within TIE_TOLERANCE) goes to the lower class id. */
export function argmax(scores: ArrayLike<number>, offset = 0, count = NUM_CLASSES): number {
  let best = 0;
  let bestScore = scores[offset] as number;
  for (let c = 1; c < count; c++) {
    const s = scores[offset + c] as number;
    if (s > bestScore + TIE_TOLERANCE) {
      best = c;
      bestScore = s;
    }
  }
  return best;
}

/** Category 1..4 of a class id 0..3. */
export function categoryOf(classId: number): SeverityCategory {
  return (classId + 1) as SeverityCategory;
}

/** Checks a probability-sum tolerance option. */
export function resolveSumTolerance(fn: string, tolerance: number | undefined): number {
  const t = tolerance ?? MEMBER_SUM_TOLERANCE;
  if (!(Number.isFinite(t) && t >= 0)) throw new RangeError(`${fn}: sumTolerance must be a finite number >= 0, got ${String(t)}`);
  return t;
}

/**
 * Checks one prediction table: at least one row; each row a valid scan name (docs/formats.md,
 * "Scan names") that appears once, a category 1..4, and four finite probabilities in [0, 1]
 * summing to 1 within `tolerance`.
 *
 * Returns:
 *   The scan names in table order and the probabilities, row-major n x 4.
 * Throws:
 *   CovsevInputError (table with a path) or RangeError naming the table, the row and the problem.
 */
export function checkTable(
  fn: string,
  table: TableRef,
  rows: readonly PredictionRow[],
  tolerance: number,
): { names: string[]; probabilities: Float64Array } {
  if (!Array.isArray(rows)) throw tableError(fn, table, 'rows is not an array of prediction rows');
  if (rows.length === 0) throw tableError(fn, table, 'the table holds no rows');
  const names: string[] = [];
  const probabilities = new Float64Array(rows.length * NUM_CLASSES);
  const seen = new Map<string, number>();
  rows.forEach((row, index) => {
    const at = `row ${index + 1}`;
    const name = (row as { name?: unknown } | undefined)?.name;
    if (typeof name !== 'string') throw tableError(fn, table, `${at}: has no scan name`);
    const nameProblem = scanNameProblem(name);
    if (nameProblem !== undefined) throw tableError(fn, table, `${at}: ${nameProblem}`);
    const where = `${at} (scan "${name}")`;
    const first = seen.get(name);
    if (first !== undefined) throw tableError(fn, table, `scan "${name}" appears twice (rows ${first + 1} and ${index + 1})`);
    seen.set(name, index);
    if (!(row.category === 1 || row.category === 2 || row.category === 3 || row.category === 4)) {
      throw tableError(fn, table, `${where}: category ${String(row.category)} is not one of 1, 2, 3, 4`);
    }
    const p = row.probabilities;
    if (!Array.isArray(p) || p.length !== NUM_CLASSES) {
      throw tableError(fn, table, `${where}: needs ${NUM_CLASSES} probabilities (${SEVERITY_CLASSES.join(', ')})`);
    }
    let sum = 0;
    for (let c = 0; c < NUM_CLASSES; c++) {
      const v = p[c] as number;
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw tableError(
          fn,
          table,
          `${where}: p_${(SEVERITY_CLASSES[c] as string).toLowerCase()} = ${String(v)} is not a finite number`,
        );
      }
      if (v < 0 || v > 1) {
        throw tableError(fn, table, `${where}: p_${(SEVERITY_CLASSES[c] as string).toLowerCase()} = ${v} is outside [0, 1]`);
      }
      probabilities[index * NUM_CLASSES + c] = v;
      sum += v;
    }
    if (!(Math.abs(sum - 1) <= tolerance)) {
      throw tableError(fn, table, `${where}: probabilities sum to ${Number(sum.toPrecision(8))}, not 1 (tolerance ${tolerance})`);
    }
    names.push(name);
  });
  return { names, probabilities };
}

/** Members checked and aligned on the first member's scan order. */
export interface AlignedMembers {
  /** Scan names in the first member's order. */
  readonly names: readonly string[];
  /** Per member, the probabilities row-major n x 4 in `names` order. */
  readonly probabilities: readonly Float64Array[];
}

/**
 * Checks the members (at least one, names unique, every table valid, every table holding the
 * first member's scans and no other) and aligns them on the first member's scan order.
 *
 * Throws:
 *   RangeError (no members, a nameless or repeated member) or the table's error (see checkTable)
 *   naming the member whose scans differ, with up to 5 missing and 5 extra scan names.
 */
export function alignMembers(fn: string, members: readonly EnsembleMember[], tolerance: number): AlignedMembers {
  if (!Array.isArray(members) || members.length === 0) {
    throw new RangeError(`${fn}: no members (give at least one prediction table)`);
  }
  const memberNames = new Set<string>();
  members.forEach((m, i) => {
    if (typeof m?.name !== 'string' || m.name.length === 0) throw new RangeError(`${fn}: member ${i + 1} has no name`);
    if (memberNames.has(m.name)) {
      throw new RangeError(`${fn}: member name "${m.name}" is given twice (each table once; weight it instead)`);
    }
    memberNames.add(m.name);
  });
  const first = members[0] as EnsembleMember;
  const reference = checkTable(fn, first, first.rows, tolerance);
  const order = new Map<string, number>();
  reference.names.forEach((name, i) => {
    order.set(name, i);
  });
  const n = reference.names.length;
  const aligned: Float64Array[] = [reference.probabilities];
  for (const member of members.slice(1)) {
    const table = checkTable(fn, member, member.rows, tolerance);
    const present = new Set(table.names);
    const missing = reference.names.filter((name) => !present.has(name));
    const extra = table.names.filter((name) => !order.has(name));
    if (missing.length > 0 || extra.length > 0) {
      const parts: string[] = [];
      if (missing.length > 0) parts.push(`${missing.length} missing (${listSome(missing)})`);
      if (extra.length > 0) parts.push(`${extra.length} extra (${listSome(extra)})`);
      const reference = first.path === undefined ? `member "${first.name}"` : first.path;
      throw tableError(fn, member, `its scans differ from those of ${reference}: ${parts.join(', ')}`);
    }
    const probabilities = new Float64Array(n * NUM_CLASSES);
    table.names.forEach((name, i) => {
      const to = order.get(name) as number;
      probabilities.set(table.probabilities.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES), to * NUM_CLASSES);
    });
    aligned.push(probabilities);
  }
  return { names: reference.names, probabilities: aligned };
}

/**
 * The true class ids (category - 1) of `names`, from `truth`. Truth may hold other scans too
 * (a label file of every split): they are ignored.
 *
 * Throws:
 *   RangeError: a category that is not 1..4, a scan given twice in a label array, or scans of
 *   `names` without truth (up to 5 named).
 */
export function truthClassIds(fn: string, truth: SeverityTruth, names: readonly string[]): Int32Array {
  const byName = new Map<string, number>();
  const add = (name: string, category: number): void => {
    if (!(category === 1 || category === 2 || category === 3 || category === 4)) {
      throw new RangeError(`${fn}: truth: scan "${name}" has category ${String(category)}, not one of 1, 2, 3, 4`);
    }
    byName.set(name, category - 1);
  };
  if (truth instanceof Map) {
    for (const [name, category] of truth) add(name, category);
  } else if (Array.isArray(truth)) {
    for (const row of truth as ReadonlyArray<{ readonly name: string; readonly category: number }>) {
      if (byName.has(row.name)) throw new RangeError(`${fn}: truth: scan "${row.name}" is given twice`);
      add(row.name, row.category);
    }
  } else {
    throw new RangeError(`${fn}: truth must be a Map of scan name to category or an array of { name, category }`);
  }
  const ids = new Int32Array(names.length);
  const missing: string[] = [];
  names.forEach((name, i) => {
    const id = byName.get(name);
    if (id === undefined) missing.push(name);
    else ids[i] = id;
  });
  if (missing.length > 0) {
    throw new RangeError(`${fn}: truth lacks ${missing.length} of the ${names.length} scans (${listSome(missing)})`);
  }
  return ids;
}

/** Rows from names and row-major probabilities, category = given class ids + 1. */
export function toRows(names: readonly string[], probabilities: Float64Array, classIds: ArrayLike<number>): PredictionRow[] {
  return names.map((name, i) => ({
    name,
    category: categoryOf(classIds[i] as number),
    probabilities: Array.from(probabilities.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES)) as unknown as Probabilities,
  })) as PredictionRow[];
}
