import { readFile } from 'node:fs/promises';
import Papa from 'papaparse';
import { writeFileAtomic } from '../atomic.js';
import { CovsevInputError } from '../errors.js';
import { SEVERITY_CLASSES, type SeverityCategory } from '../severity.js';
import { parseCsvRows } from './csvRows.js';
import { scanNameProblem } from './scanName.js';

/**
 * One scan's prediction: the class probabilities (Mild, Moderate, Severe, Critical, summing
 * to 1) and the predicted category (1..4, normally the arg-max). This is the hand-off between
 * the classifier, the ensemble and `pnpm submit`.
 */
export interface PredictionRow {
  readonly name: string;
  readonly category: SeverityCategory;
  readonly probabilities: readonly [number, number, number, number];
  /**
   * The scan's estimated involvement (infected lung voxels / lung voxels from stage 1's masks,
   * 0..1), when known: the optional `involvement` column (docs/formats.md, "Prediction table").
   */
  readonly involvement?: number;
}

/** How far a row's four probabilities may sum from 1 (docs/formats.md, "Prediction table"). */
export const PROBABILITY_SUM_TOLERANCE = 1e-3;

const PROB_COLUMNS = SEVERITY_CLASSES.map((c) => `p_${c.toLowerCase()}`) as [string, string, string, string];
const COLUMNS = ['name', 'category', ...PROB_COLUMNS];
/** The optional column after the six: the scan's estimated involvement, blank where unknown. */
const INVOLVEMENT_COLUMN = 'involvement';

/** A plain decimal number, with an optional exponent: no hex, no `Infinity`/`NaN`, no blank. */
const DECIMAL = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** float32 rounding a softmax can leave outside [0, 1]; the writer clamps it away. */
const ROUNDING = 1e-6;

function clampRounding(p: number): number {
  return p < 0 && p >= -ROUNDING ? 0 : p > 1 && p <= 1 + ROUNDING ? 1 : p;
}

/**
 * Writes a prediction table (comma-separated, header `name,category,p_mild,...`), atomically,
 * probabilities to 9 significant digits (an excursion of at most 1e-6 outside [0, 1], float32
 * rounding, is clamped); with an `involvement` column (6 significant digits, blank where a row
 * has none) when any row has one. A scan name that breaks the scan-name rule is refused (CovsevInputError
 * naming the file and the line it would have taken), and nothing is written.
 */
export async function writePredictionCsv(path: string, rows: readonly PredictionRow[]): Promise<void> {
  await writeFileAtomic(path, predictionCsvText(path, rows));
}

/** The text `writePredictionCsv` writes (scan names checked the same way; `path` names the file in errors). */
export function predictionCsvText(path: string, rows: readonly PredictionRow[]): string {
  rows.forEach((r, index) => {
    const problem = scanNameProblem(r.name);
    if (problem !== undefined) throw new CovsevInputError(path, problem, { line: index + 2 });
  });
  const withInvolvement = rows.some((r) => r.involvement !== undefined);
  const data = rows.map((r, index) => {
    const cells: (string | number)[] = [r.name, r.category, ...r.probabilities.map((p) => clampRounding(p).toPrecision(9))];
    if (!withInvolvement) return cells;
    const v = r.involvement;
    if (v !== undefined && !(Number.isFinite(v) && v >= 0 && v <= 1))
      throw new CovsevInputError(path, `${INVOLVEMENT_COLUMN}: ${v} is not a fraction in [0, 1]`, { line: index + 2 });
    return [...cells, v === undefined ? '' : Number(v.toPrecision(6)).toString()];
  });
  const fields = withInvolvement ? [...COLUMNS, INVOLVEMENT_COLUMN] : COLUMNS;
  return `${Papa.unparse({ fields, data }, { newline: '\n' })}\n`;
}

/**
 * Reads a prediction table strictly; every error is a CovsevInputError `file:line: column:
 * problem`. The header (names trimmed) must hold the six columns, each once (other columns are
 * allowed and ignored); every row has exactly the header's number of fields; cells are not
 * trimmed. `name` follows the scan-name rule and appears once; `category` is exactly one of
 * `1`, `2`, `3`, `4`; each probability is a decimal number (an exponent is allowed, hex,
 * `Infinity`, `NaN` and blanks are not) in [0, 1], and the four sum to 1 within
 * `PROBABILITY_SUM_TOLERANCE`. An `involvement` column, when there, holds blanks or decimal
 * fractions in [0, 1]. Blank lines are skipped; lines are the file's own.
 */
export async function readPredictionCsv(path: string): Promise<PredictionRow[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new CovsevInputError(path, `cannot read prediction table: ${(error as Error).message}`, { cause: error });
  }
  const [header, ...body] = parseCsvRows(text, path, ',');
  const fields = (header?.fields ?? []).map((h) => h.trim());
  const headerLine = header?.line ?? 1;
  const missing = COLUMNS.filter((c) => !fields.includes(c));
  if (missing.length > 0)
    throw new CovsevInputError(path, `prediction table lacks columns: ${missing.join(', ')}`, { line: headerLine });
  const doubled = COLUMNS.filter((c) => fields.indexOf(c) !== fields.lastIndexOf(c));
  if (doubled.length > 0) throw new CovsevInputError(path, `columns given twice: ${doubled.join(', ')}`, { line: headerLine });
  const at = COLUMNS.map((c) => fields.indexOf(c));
  const involvementAt = fields.indexOf(INVOLVEMENT_COLUMN);
  if (involvementAt !== fields.lastIndexOf(INVOLVEMENT_COLUMN))
    throw new CovsevInputError(path, `columns given twice: ${INVOLVEMENT_COLUMN}`, { line: headerLine });
  const seen = new Map<string, number>();
  return body.map(({ fields: cells, line }) => {
    const fail = (problem: string): never => {
      throw new CovsevInputError(path, problem, { line });
    };
    if (cells.length !== fields.length) fail(`expected ${fields.length} fields (as the header), found ${cells.length}`);
    const cell = (column: number): string => cells[at[column] as number] as string;
    const name = cell(0);
    const nameProblem = scanNameProblem(name);
    if (nameProblem !== undefined) fail(`name: ${nameProblem}`);
    const categoryText = cell(1);
    if (!/^[1-4]$/.test(categoryText)) fail(`category: ${JSON.stringify(categoryText)} is not one of 1, 2, 3, 4`);
    const probabilities = PROB_COLUMNS.map((column, k) => {
      const value = cell(k + 2);
      if (value === '') return fail(`${column}: empty (a probability is required)`);
      if (!DECIMAL.test(value)) return fail(`${column}: ${JSON.stringify(value)} is not a decimal number`);
      const p = Number(value);
      if (!(Number.isFinite(p) && p >= 0 && p <= 1)) return fail(`${column}: ${value} is outside [0, 1]`);
      return p;
    }) as [number, number, number, number];
    const sum = probabilities.reduce((a, b) => a + b, 0);
    if (!(Math.abs(sum - 1) <= PROBABILITY_SUM_TOLERANCE)) {
      fail(`probabilities sum to ${Number(sum.toPrecision(6))}, not 1 (tolerance ${PROBABILITY_SUM_TOLERANCE})`);
    }
    const previous = seen.get(name);
    if (previous !== undefined) fail(`duplicate scan name "${name}" (first on line ${previous})`);
    seen.set(name, line);
    const row = { name, category: Number(categoryText) as SeverityCategory, probabilities };
    const involvementText = involvementAt < 0 ? '' : (cells[involvementAt] as string);
    if (involvementText === '') return row;
    const involvement = Number(involvementText);
    if (!DECIMAL.test(involvementText) || !(involvement >= 0 && involvement <= 1))
      fail(`${INVOLVEMENT_COLUMN}: ${JSON.stringify(involvementText)} is not a fraction in [0, 1]`);
    return { ...row, involvement };
  });
}
