// Istio's overlay merge of IstioOperator specs: objects merge key by key, the overlay wins, arrays are replaced
// rather than concatenated, and null removes a key (JSON merge patch). The gateway lists are the exception:
// like Istio's strategic merge (patchMergeKey "name"), entries merge by name and new names are appended.
import { clone, isRecord } from './json.js';

const MERGE_BY_NAME = new Set(['components.ingressGateways', 'components.egressGateways']);

/** `over` laid on top of `base`; neither input is modified. */
export function overlay(base: unknown, over: unknown): unknown {
  return merge(base, over, '');
}

function merge(base: unknown, over: unknown, path: string): unknown {
  if (over === undefined) return clone(base);
  if (Array.isArray(base) && Array.isArray(over) && MERGE_BY_NAME.has(path)) return mergeByName(base, over);
  if (!isRecord(base) || !isRecord(over)) return clone(over);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(base)) {
    if (value !== undefined) out[key] = clone(value);
  }
  for (const [key, value] of Object.entries(over)) {
    if (value === null) {
      delete out[key];
    } else if (value !== undefined) {
      out[key] = merge(out[key], value, path === '' ? key : `${path}.${key}`);
    }
  }
  return out;
}

function nameOf(entry: unknown): string | undefined {
  return isRecord(entry) && typeof entry.name === 'string' ? entry.name : undefined;
}

function mergeByName(base: unknown[], over: unknown[]): unknown[] {
  const out = base.map((entry) => clone(entry));
  for (const entry of over) {
    const name = nameOf(entry);
    const at = name === undefined ? -1 : out.findIndex((e) => nameOf(e) === name);
    if (at >= 0) out[at] = merge(out[at], entry, '');
    else out.push(clone(entry));
  }
  return out;
}
