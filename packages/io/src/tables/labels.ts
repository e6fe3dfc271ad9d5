import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import Papa from 'papaparse';
import { z } from 'zod';
import { writeFileAtomic } from '../atomic.js';
import { CovsevInputError } from '../errors.js';
import type { SeverityCategory } from '../severity.js';

/** One row of a COV19-CT-DB severity label file (`Name;Category`, docs/formats.md). */
export interface LabelRow {
  readonly name: string;
  readonly category: SeverityCategory;
}

const scanName = z
  .string()
  .trim()
  .min(1, 'empty scan name')
  .regex(/^[^/\\]+$/, 'a scan name cannot contain a path separator');
const category = z.coerce
  .number({ error: 'category is not a number' })
  .int('category must be an integer 1..4')
  .refine((n) => n >= 1 && n <= 4, 'unknown category (expected 1 Mild, 2 Moderate, 3 Severe, 4 Critical)');
const labelRow = z.object({ Name: scanName, Category: category });

export interface ReadLabelsOptions {
  /**
   * Folder (or folders) where each labelled scan must exist as `<root>/<name>` or
   * `<root>/<class>/<name>`; a name with no scan folder is an error.
   */
  readonly scanRoots?: readonly string[];
}

/** Parses `Name;Category` text. `path` only names the source in errors. */
export function parseLabelCsv(text: string, path: string): LabelRow[] {
  const parsed = Papa.parse<Record<string, string>>(text.replace(/^\uFEFF/, ''), {
    header: true,
    delimiter: ';',
    skipEmptyLines: 'greedy',
    transformHeader: (h) => h.trim(),
  });
  const fields = parsed.meta.fields ?? [];
  if (!fields.includes('Name') || !fields.includes('Category')) {
    throw new CovsevInputError(path, `label file needs the header "Name;Category", found "${fields.join(';')}"`, { line: 1 });
  }
  const firstError = parsed.errors[0];
  if (firstError !== undefined) {
    throw new CovsevInputError(path, `CSV error: ${firstError.message}`, { line: (firstError.row ?? 0) + 2 });
  }
  const rows: LabelRow[] = [];
  const seen = new Map<string, number>();
  parsed.data.forEach((record, index) => {
    const line = index + 2; // header is line 1
    const result = labelRow.safeParse(record);
    if (!result.success) {
      const issue = result.error.issues[0];
      const where = issue?.path.join('.') ?? '';
      throw new CovsevInputError(
        path,
        `bad row ${JSON.stringify(Object.values(record).join(';'))}: ${where ? `${where}: ` : ''}${issue?.message ?? 'invalid'}`,
        { line },
      );
    }
    const previous = seen.get(result.data.Name);
    if (previous !== undefined) {
      throw new CovsevInputError(path, `duplicate scan name "${result.data.Name}" (first on line ${previous})`, { line });
    }
    seen.set(result.data.Name, line);
    rows.push({ name: result.data.Name, category: result.data.Category as SeverityCategory });
  });
  return rows;
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
 * for a bad header, an unknown category, a duplicate name, or (with `scanRoots`) a name whose
 * scan folder does not exist.
 */
export async function readLabelCsv(path: string, options: ReadLabelsOptions = {}): Promise<LabelRow[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new CovsevInputError(path, `cannot read label file: ${(error as Error).message}`, { cause: error });
  }
  const rows = parseLabelCsv(text, path);
  if (options.scanRoots !== undefined) {
    for (const [index, row] of rows.entries()) {
      if ((await findScanFolder(row.name, options.scanRoots)) === undefined) {
        throw new CovsevInputError(path, `scan "${row.name}" has no folder under ${options.scanRoots.join(', ')}`, {
          line: index + 2,
        });
      }
    }
  }
  return rows;
}

/** Writes `Name;Category` rows atomically (the challenge's label layout). */
export async function writeLabelCsv(path: string, rows: readonly LabelRow[]): Promise<void> {
  const text = Papa.unparse(
    rows.map((r) => ({ Name: r.name, Category: r.category })),
    { delimiter: ';', columns: ['Name', 'Category'], newline: '\n' },
  );
  await writeFileAtomic(path, `${text}\n`);
}
