// `--set path=value` for IstioOperator specs (mizzen manifest generate --set …). Paths are relative to spec
// (a leading "spec." is accepted too) and use the overlay path syntax of paths.ts; missing maps and lists are
// created. A [key:value] selector that matches nothing appends {key: value}, so
//   components.ingressGateways.[name:istio-ingressgateway].enabled=false
// works on a spec that does not list the gateway yet (and then merges with the profile's entry by name).
// Values are parsed like Helm's --set: true/false, null, integers, {a,b} lists; everything else is a string
// (so tag=1.11 stays the string "1.11").
import { InvalidSpecError } from './errors.js';
import { clone, isRecord } from './json.js';
import { PathError, formatPath, parsePath, type PathElement } from './paths.js';

/** A --set value as Helm parses it. */
export function parseSetValue(raw: string): unknown {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (raw === 'null') return null;
  if (/^-?(0|[1-9]\d*)$/.test(raw) && Number.isSafeInteger(Number(raw))) return Number(raw);
  if (raw.startsWith('{') && raw.endsWith('}')) {
    const inner = raw.slice(1, -1);
    return inner === '' ? [] : inner.split(',').map((item) => parseSetValue(item));
  }
  return raw;
}

function emptyFor(next: PathElement | undefined): unknown {
  return next === undefined || next.type === 'key' ? {} : [];
}

function stepInto(container: Record<string, unknown> | unknown[], key: string | number, next: PathElement | undefined): unknown {
  const holder = container as Record<string | number, unknown>;
  const current = holder[key];
  if (current === undefined || current === null) holder[key] = emptyFor(next);
  return holder[key];
}

function listIndex(list: unknown[], e: PathElement, elements: readonly PathElement[], i: number): number {
  if (e.type === 'index') {
    const index = e.index === -1 ? list.length : e.index;
    if (index > list.length) throw new PathError(`index ${e.index} is out of range: the list at ${formatPath(elements.slice(0, i))} has ${list.length} entries`);
    return index;
  }
  const { key, value } = e as { key: string; value: string };
  const at = list.findIndex((entry) => (key === '' ? String(entry) === value : isRecord(entry) && String(entry[key]) === value));
  if (at >= 0) return at;
  list.push(key === '' ? value : { [key]: value });
  return list.length - 1;
}

function setIn(root: Record<string, unknown>, elements: readonly PathElement[], value: unknown): void {
  let cur: unknown = root;
  for (let i = 0; i < elements.length; i++) {
    const e = elements[i] as PathElement;
    const last = i === elements.length - 1;
    let key: string | number;
    if (e.type === 'key') {
      if (!isRecord(cur)) throw new PathError(`${formatPath(elements.slice(0, i)) || 'spec'} is not a map`);
      key = e.key;
    } else {
      if (!Array.isArray(cur)) throw new PathError(`${formatPath(elements.slice(0, i)) || 'spec'} is not a list`);
      key = listIndex(cur, e, elements, i);
    }
    if (last) {
      (cur as Record<string | number, unknown>)[key] = value;
      return;
    }
    cur = stepInto(cur as Record<string, unknown>, key, elements[i + 1]);
  }
}

/** A copy of spec with value set at path (relative to spec). Throws InvalidSpecError naming the path. */
export function setPath<T extends object>(spec: T, path: string, value: unknown): T {
  try {
    let elements = parsePath(path);
    if (elements[0]?.type === 'key' && elements[0].key === 'spec' && elements.length > 1) elements = elements.slice(1);
    const root = clone(spec) as Record<string, unknown>;
    setIn(root, elements, clone(value));
    return root as T;
  } catch (err) {
    if (err instanceof PathError) throw new InvalidSpecError(path, err.message);
    throw err;
  }
}

/** Applies one `path=value` assignment (the text of a --set flag). */
export function applySet<T extends object>(spec: T, assignment: string): T {
  const eq = assignment.indexOf('=');
  if (eq <= 0) throw new InvalidSpecError(assignment, 'a --set value must look like path=value, e.g. values.cni.cniBinDir=/home/kubernetes/bin');
  return setPath(spec, assignment.slice(0, eq), parseSetValue(assignment.slice(eq + 1)));
}
