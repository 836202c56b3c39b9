// Small helpers for plain JSON data: type guards, deep copies, key-sorted copies and stable text.
import { createHash } from 'node:crypto';

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A deep copy of JSON-like data (plain objects, arrays, scalars). */
export function clone<T>(value: T): T {
  return structuredClone(value);
}

/** A deep copy with every object's keys in code-point order; array order is kept; undefined members dropped. */
export function sortKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v: unknown) => sortKeys(v)) as T;
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort(compareStrings)) {
    const v = value[key];
    if (v !== undefined) out[key] = sortKeys(v);
  }
  return out as T;
}

/** Code-point order, independent of locale. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** JSON text with sorted keys: the same data always gives the same bytes. */
export function stableJson(value: unknown, indent?: number): string {
  return JSON.stringify(sortKeys(value), null, indent);
}

/** sha256 hex of the stable JSON text of a value. */
export function checksum(value: unknown): string {
  return createHash('sha256').update(stableJson(value)).digest('hex');
}
