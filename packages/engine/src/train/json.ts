/**
 * JSON value types and a canonical form, for configs and descriptions stored in checkpoints and
 * event logs.
 */

import type { JsonObject, JsonPrimitive, JsonValue } from '@covsev/events';

export type { JsonObject, JsonPrimitive, JsonValue };

/** JSON with object keys sorted at every level: equal values give equal strings. */
export function canonicalJson(value: unknown): string {
  const text: string | undefined = JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
  return text ?? 'undefined';
}

/** Top-level keys whose canonical JSON differs between two objects (all keys when either is not one). */
export function differingKeys(a: unknown, b: unknown): string[] {
  const isObject = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
  if (!isObject(a) || !isObject(b)) return canonicalJson(a) === canonicalJson(b) ? [] : ['(value)'];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.filter((k) => canonicalJson(a[k]) !== canonicalJson(b[k]));
}
