import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import Papa from 'papaparse';
import { writeFileAtomic } from '../atomic.js';
import { CovsevInputError } from '../errors.js';
import type { SeverityCategory } from '../severity.js';
import { parseCsvRows } from './csvRows.js';
import { scanNameProblem } from './scanName.js';

/** One row of a COV19-CT-DB severity label file (`Name;Category`, docs/formats.md). */
export interface LabelRow {
  readonly name: string;
  readonly category: SeverityCategory;
}

const CATEGORY_NAMES = '1 Mild, 2 Moderate, 3 Severe, 4 Critical';

/** How `readLabelCsv` / `parseLabelCsv` treat a file. */
export interface ParseLabelsOptions {
  /**
   * Accept a file with only its header as zero labels, with a warning (default false: such a
   * file is refused with "no labels", as it is more often a truncated or wrong file than a split
   * that is meant to be empty).
   */
  readonly allowEmpty?: boolean;
  /** Receives warnings (default: `process.emitWarning` with code `COVSEV_LABELS`). */
  readonly onWarning?: (message: string) => void;
}

export interface ReadLabelsOptions extends ParseLabelsOptions {
  /**
   * Folder (or folders) where each labelled scan must exist as `<root>/<name>` or
   * `<root>/<class>/<name>`; a name with no scan folder is an error.
   */
  readonly scanRoots?: readonly string[];
}

interface LabelLine extends LabelRow {
  readonly line: number;
}

function parseCategory(text: string): SeverityCategory | string {
  if (/^[1-4]$/.test(text)) return Number(text) as SeverityCategory;
  if (/^[+-]?\d+$/.test(text)) return `Category: unknown category ${JSON.stringify(text)} (expected ${CATEGORY_NAMES})`;
  return `Category: ${JSON.stringify(text)} is not a category (an integer 1..4: ${CATEGORY_NAMES})`;
}

function parseLabelLines(text: string, path: string, options: ParseLabelsOptions): LabelLine[] {
  const [header, ...body] = parseCsvRows(text, path, ';');
  const fields = (header?.fields ?? []).map((h) => h.trim());
  const nameAt = fields.indexOf('Name');
  const categoryAt = fields.indexOf('Category');
  if (nameAt < 0 || categoryAt < 0) {
    throw new CovsevInputError(path, `label file needs the header "Name;Category", found "${fields.join(';')}"`, {
      line: header?.line ?? 1,
    });
  }
  if (body.length === 0) {
    if (options.allowEmpty !== true) throw new CovsevInputError(path, 'no labels (only the header)');
    const warn = options.onWarning ?? ((message: string) => process.emitWarning(message, { code: 'COVSEV_LABELS' }));
    warn(`${path}: no labels (only the header)`);
    return [];
  }
  const rows: LabelLine[] = [];
  const seen = new Map<string, number>();
  for (const { fields: cells, line } of body) {
    if (cells.length !== fields.length) {
      throw new CovsevInputError(path, `expected ${fields.length} fields (as the header), found ${cells.length}`, { line });
    }
    const name = (cells[nameAt] ?? '').trim();
    const nameProblem = scanNameProblem(name);
    if (nameProblem !== undefined) throw new CovsevInputError(path, nameProblem, { line });
    const category = parseCategory((cells[categoryAt] ?? '').trim());
    if (typeof category === 'string') throw new CovsevInputError(path, category, { line });
    const previous = seen.get(name);
    if (previous !== undefined) {
      throw new CovsevInputError(path, `duplicate scan name "${name}" (first on line ${previous})`, { line });
    }
    seen.set(name, line);
    rows.push({ name, category, line });
  }
  return rows;
}

/**
 * Parses `Name;Category` text. `path` only names the source in errors. Cells are trimmed; a
 * name must follow the scan-name rule (`scanNameProblem`), a category must be one of 1, 2, 3, 4,
 * and every row must have the header's number of fields; errors name the true line of the file.
 */
export function parseLabelCsv(text: string, path: string, options: ParseLabelsOptions = {}): LabelRow[] {
  return parseLabelLines(text, path, options).map(({ name, category }) => ({ name, category }));
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Finds the scan folder of `name` under the roots (directly, or one class folder down). */
export async function findScanFolder(name: string, roots: readonly string[]): Promise<string | undefined> {
  for (const root of roots) {
    const direct = join(root, name);
    if (await isDirectory(direct)) return direct;
    let entries: string[] = [];
    try {
      entries = await readdir(root);
    } catch {
      continue;
    }
    for (const entry of entries) {
      const nested = join(root, entry, name);
      if (await isDirectory(nested)) return nested;
    }
  }
  return undefined;
}

/**
 * Reads a COV19-CT-DB severity label file. Throws a CovsevInputError naming the file and line
 * for a bad header, a bad scan name, an unknown category, a row with too few or too many fields,
 * a duplicate name, a file with no labels (unless `allowEmpty`), or (with `scanRoots`) a name
 * whose scan folder does not exist.
 */
export async function readLabelCsv(path: string, options: ReadLabelsOptions = {}): Promise<LabelRow[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new CovsevInputError(path, `cannot read label file: ${(error as Error).message}`, { cause: error });
  }
  const rows = parseLabelLines(text, path, options);
  if (options.scanRoots !== undefined) {
    for (const row of rows) {
      if ((await findScanFolder(row.name, options.scanRoots)) === undefined) {
        throw new CovsevInputError(path, `scan "${row.name}" has no folder under ${options.scanRoots.join(', ')}`, {
          line: row.line,
        });
      }
    }
  }
  return rows.map(({ name, category }) => ({ name, category }));
}

/**
 * Writes `Name;Category` rows atomically (the challenge's label layout). A name that breaks the
 * scan-name rule is refused (CovsevInputError naming the file and the line it would have taken),
 * and nothing is written.
 */
export async function writeLabelCsv(path: string, rows: readonly LabelRow[]): Promise<void> {
  rows.forEach((r, index) => {
    const problem = scanNameProblem(r.name);
    if (problem !== undefined) throw new CovsevInputError(path, problem, { line: index + 2 });
  });
  const text = Papa.unparse(
    rows.map((r) => ({ Name: r.name, Category: r.category })),
    { delimiter: ';', columns: ['Name', 'Category'], newline: '\n' },
  );
  await writeFileAtomic(path, `${text}\n`);
}
