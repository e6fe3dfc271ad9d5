import { readFile } from 'node:fs/promises';
import Papa from 'papaparse';
import { z } from 'zod';
import { writeFileAtomic } from '../atomic.js';
import { CovsevInputError } from '../errors.js';
import { SEVERITY_CLASSES, type SeverityCategory } from '../severity.js';

/**
 * One scan's prediction: the class probabilities (Mild, Moderate, Severe, Critical, summing
 * to 1) and the predicted category (1..4, normally the arg-max). This is the hand-off between
 * the classifier, the ensemble and `pnpm submit`.
 */
export interface PredictionRow {
  readonly name: string;
  readonly category: SeverityCategory;
  readonly probabilities: readonly [number, number, number, number];
}

const PROB_COLUMNS = SEVERITY_CLASSES.map((c) => `p_${c.toLowerCase()}`) as [string, string, string, string];
const COLUMNS = ['name', 'category', ...PROB_COLUMNS];

const probability = z.coerce.number().min(0, 'probability below 0').max(1, 'probability above 1');
const predictionRow = z.object({
  name: z.string().trim().min(1, 'empty scan name'),
  category: z.coerce.number().int().min(1).max(4),
  [PROB_COLUMNS[0]]: probability,
  [PROB_COLUMNS[1]]: probability,
  [PROB_COLUMNS[2]]: probability,
  [PROB_COLUMNS[3]]: probability,
});

/** Writes a prediction table (comma-separated, header `name,category,p_mild,...`), atomically. */
export async function writePredictionCsv(path: string, rows: readonly PredictionRow[]): Promise<void> {
  const data = rows.map((r) => [r.name, r.category, ...r.probabilities.map((p) => p.toPrecision(9))]);
  await writeFileAtomic(path, `${Papa.unparse({ fields: COLUMNS, data }, { newline: '\n' })}\n`);
}

/** Reads a prediction table; errors name the file and line. Probabilities must sum to 1 (± 1e-4). */
export async function readPredictionCsv(path: string): Promise<PredictionRow[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new CovsevInputError(path, `cannot read prediction table: ${(error as Error).message}`, { cause: error });
  }
  const parsed = Papa.parse<Record<string, string>>(text, {
    header: true,
    skipEmptyLines: 'greedy',
    transformHeader: (h) => h.trim(),
  });
  const missing = COLUMNS.filter((c) => !(parsed.meta.fields ?? []).includes(c));
  if (missing.length > 0) throw new CovsevInputError(path, `prediction table lacks columns: ${missing.join(', ')}`, { line: 1 });
  const seen = new Set<string>();
  return parsed.data.map((record, index) => {
    const line = index + 2;
    const result = predictionRow.safeParse(record);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new CovsevInputError(path, `bad row: ${issue?.path.join('.')}: ${issue?.message}`, { line });
    }
    const r = result.data as Record<string, unknown> & { name: string; category: number };
    if (seen.has(r.name)) throw new CovsevInputError(path, `duplicate scan name "${r.name}"`, { line });
    seen.add(r.name);
    const probabilities = PROB_COLUMNS.map((c) => r[c] as number) as [number, number, number, number];
    const sum = probabilities.reduce((a, b) => a + b, 0);
    if (Math.abs(sum - 1) > 1e-4) throw new CovsevInputError(path, `probabilities sum to ${sum}, not 1`, { line });
    return { name: r.name, category: r.category as SeverityCategory, probabilities };
  });
}
