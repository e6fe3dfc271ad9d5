/**
 * Narrow, defensive readers for event fields. An event on disk may come from an older or a newer
 * writer than the types this app was compiled against (optional fields being added: `samples`,
 * `memory`, `report`, `best`, `configHash`, `model`, `kind`, the `control` event), so every
 * field the dashboard shows is read through these and checked at run time; a wrong type reads as
 * absent, never as a crash.
 */

export type Fields = Readonly<Record<string, unknown>>;

/** The event (or any value) as a record of unknown fields; {} for anything else. */
export function fieldsOf(value: unknown): Fields {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Fields) : {};
}

export function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function bool(value: unknown): boolean | undefined {
  return typeof value === 'boolean' ? value : undefined;
}

/** A record of numbers (null or any non-number reads as null, a non-finite value). */
export function numbers(value: unknown): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const [key, v] of Object.entries(fieldsOf(value))) out[key] = num(v) ?? null;
  return out;
}

export function numberArray(value: unknown): number[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.map((v) => num(v) ?? Number.NaN);
}

export function stringArray(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.map((v) => (typeof v === 'string' ? v : String(v)));
}

/** A square-ish matrix of numbers, or undefined. */
export function matrix(value: unknown): number[][] | undefined {
  if (!Array.isArray(value)) return undefined;
  const rows: number[][] = [];
  for (const row of value) {
    const r = numberArray(row);
    if (r === undefined) return undefined;
    rows.push(r);
  }
  return rows;
}
