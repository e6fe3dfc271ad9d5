/**
 * The rows of a delimited text file with the line each starts on. papaparse's `skipEmptyLines`
 * renumbers rows, so covsev's table readers parse every row, note where it starts (papaparse's
 * cursor) and skip blank lines themselves: an error names the true line of the file.
 */
import Papa from 'papaparse';
import { CovsevInputError } from '../errors.js';

export interface CsvRow {
  /** The row's fields, unquoted, as they are (not trimmed). */
  readonly fields: readonly string[];
  /** 1-based line of the file where the row starts. */
  readonly line: number;
}

/**
 * Parses `text` (a leading BOM is dropped) into rows, skipping blank and whitespace-only lines.
 * A quoting error throws a CovsevInputError naming `path` and the line. `delimiter` is fixed, not
 * guessed.
 */
export function parseCsvRows(text: string, path: string, delimiter: string): CsvRow[] {
  const body = text.replace(/^\uFEFF/, '');
  const rows: CsvRow[] = [];
  let start = 0;
  let line = 1;
  let failure: CovsevInputError | undefined;
  Papa.parse<string[]>(body, {
    delimiter,
    header: false,
    skipEmptyLines: false,
    step: (result, parser) => {
      const end = result.meta.cursor;
      const rowLine = line;
      const linebreak = result.meta.linebreak || '\n';
      line += body.slice(start, end).split(linebreak).length - 1;
      start = end;
      const error = result.errors[0];
      if (error !== undefined) {
        failure = new CovsevInputError(path, `CSV error: ${error.message}`, { line: rowLine });
        parser.abort();
        return;
      }
      const fields = result.data;
      if (fields.length === 0 || (fields.length === 1 && (fields[0] ?? '').trim() === '')) return;
      rows.push({ fields, line: rowLine });
    },
  });
  if (failure !== undefined) throw failure;
  return rows;
}
