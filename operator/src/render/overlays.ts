// k8s.overlays: path-based patches on rendered objects, applied after every other setting. Istio-style paths
// (paths.ts) are resolved against the object into JSON Pointers and applied with fast-json-patch. A patch with
// a value sets it (creating missing maps on the way); a patch without a value (or with null) removes the field.
import jsonpatch, { type Operation } from 'fast-json-patch';
import { InvalidSpecError } from './errors.js';
import { isRecord } from './json.js';
import { PathError, formatPath, parsePath, type PathElement } from './paths.js';
import type { KubernetesObject, Overlay } from './types.js';

const IDENTITY_PATHS = new Set(['kind', 'apiVersion', 'metadata', 'metadata.name', 'metadata.namespace']);

function escapePointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

interface Walk {
  readonly ops: Operation[];
  cur: unknown;
  pointer: string;
}

function describe(elements: readonly PathElement[], upTo: number): string {
  const shown = formatPath(elements.slice(0, upTo));
  return shown === '' ? 'the object root' : shown;
}

function finish(walk: Walk, pointer: string, exists: boolean, value: unknown): Operation[] {
  if (value === undefined) return exists ? [...walk.ops, { op: 'remove', path: pointer }] : walk.ops;
  return [...walk.ops, exists ? { op: 'replace', path: pointer, value } : { op: 'add', path: pointer, value }];
}

/** Steps into a map key; returns operations when the walk ends here. */
function stepKey(walk: Walk, elements: readonly PathElement[], i: number, value: unknown): Operation[] | undefined {
  const e = elements[i] as { key: string };
  if (!isRecord(walk.cur)) throw new PathError(`${describe(elements, i)} is not a map`);
  const pointer = `${walk.pointer}/${escapePointer(e.key)}`;
  const exists = Object.hasOwn(walk.cur, e.key) && walk.cur[e.key] !== undefined;
  if (i === elements.length - 1) return finish(walk, pointer, exists, value);
  if (!exists) {
    if (value === undefined) return walk.ops; // nothing to remove below a missing key
    if (elements[i + 1]?.type !== 'key') throw new PathError(`there is no list at ${describe(elements, i + 1)}`);
    walk.ops.push({ op: 'add', path: pointer, value: {} });
    walk.cur = {};
  } else {
    walk.cur = walk.cur[e.key];
  }
  walk.pointer = pointer;
  return undefined;
}

function listIndex(list: unknown[], e: PathElement, elements: readonly PathElement[], i: number): number {
  if (e.type === 'index') return e.index;
  const { key, value } = e as { key: string; value: string };
  const at = list.findIndex((entry) => (key === '' ? String(entry) === value : isRecord(entry) && String(entry[key]) === value));
  if (at < 0) throw new PathError(`no entry of the list at ${describe(elements, i)} has ${key === '' ? 'the value' : key} ${JSON.stringify(value)}`);
  return at;
}

/** Steps into a list entry; returns operations when the walk ends here. */
function stepList(walk: Walk, elements: readonly PathElement[], i: number, value: unknown): Operation[] | undefined {
  const e = elements[i] as PathElement;
  if (!Array.isArray(walk.cur)) throw new PathError(`${describe(elements, i)} is not a list`);
  const last = i === elements.length - 1;
  const index = listIndex(walk.cur, e, elements, i);
  const appending = index === -1 || index === walk.cur.length;
  if (appending && last && value !== undefined) return [...walk.ops, { op: 'add', path: `${walk.pointer}/-`, value }];
  if (index < 0 || index >= walk.cur.length) {
    throw new PathError(`index ${index} is out of range: the list at ${describe(elements, i)} has ${walk.cur.length} entries`);
  }
  const pointer = `${walk.pointer}/${index}`;
  if (last) return finish(walk, pointer, true, value);
  walk.cur = walk.cur[index];
  walk.pointer = pointer;
  return undefined;
}

/** The JSON Patch operations that set (or, when value is undefined, remove) the value at an Istio path. */
export function patchOperations(doc: unknown, path: string, value: unknown): Operation[] {
  const elements = parsePath(path);
  const walk: Walk = { ops: [], cur: doc, pointer: '' };
  for (let i = 0; i < elements.length; i++) {
    const e = elements[i] as PathElement;
    const done = e.type === 'key' ? stepKey(walk, elements, i, value) : stepList(walk, elements, i, value);
    if (done) return done;
  }
  return walk.ops;
}

/** A copy of doc with the value at path set (or removed when value is undefined). Throws PathError. */
export function patchValue<T>(doc: T, path: string, value: unknown): T {
  const ops = patchOperations(doc, path, value);
  return ops.length === 0 ? structuredClone(doc) : jsonpatch.applyPatch(doc, ops, false, false).newDocument;
}

function overlayTargets(objects: readonly KubernetesObject[], overlay: Overlay, field: string): number[] {
  if (typeof overlay.kind !== 'string' || overlay.kind === '') throw new InvalidSpecError(`${field}.kind`, 'is required');
  if (typeof overlay.name !== 'string' || overlay.name === '') throw new InvalidSpecError(`${field}.name`, 'is required');
  const targets: number[] = [];
  objects.forEach((obj, i) => {
    const apiVersionMatches = overlay.apiVersion === undefined || overlay.apiVersion === '' || overlay.apiVersion === obj.apiVersion;
    if (obj.kind === overlay.kind && obj.metadata.name === overlay.name && apiVersionMatches) targets.push(i);
  });
  if (targets.length === 0) {
    const rendered = objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ');
    throw new InvalidSpecError(`${field}.name`, `no rendered ${overlay.kind} is named ${JSON.stringify(overlay.name)} in this component (it renders: ${rendered})`);
  }
  return targets;
}

function patchObject(obj: KubernetesObject, path: unknown, value: unknown, field: string): KubernetesObject {
  if (typeof path !== 'string') throw new InvalidSpecError(`${field}.path`, 'is required');
  try {
    if (IDENTITY_PATHS.has(formatPath(parsePath(path)))) {
      throw new PathError(`${JSON.stringify(path)} would change which object this is; overlays cannot patch it`);
    }
    return patchValue(obj, path, value === null ? undefined : value);
  } catch (err) {
    if (err instanceof PathError) throw new InvalidSpecError(`${field}.path`, err.message);
    throw err;
  }
}

/**
 * The component's objects with its overlays applied, in order. `field` is where the overlays live in the spec,
 * e.g. `components.pilot.k8s.overlays`; errors name `<field>[i].patches[j].path` and the like.
 */
export function applyOverlays(objects: readonly KubernetesObject[], overlays: readonly Overlay[] | undefined, field: string): KubernetesObject[] {
  const out = [...objects];
  const list: unknown = overlays ?? [];
  if (!Array.isArray(list)) throw new InvalidSpecError(field, 'must be a list of overlays');
  (list as Overlay[]).forEach((overlay, i) => {
    const at = `${field}[${i}]`;
    const raw: unknown = overlay;
    if (!isRecord(raw)) throw new InvalidSpecError(at, 'must be an object with kind, name and patches');
    const patches = overlay.patches ?? [];
    if (!Array.isArray(patches)) throw new InvalidSpecError(`${at}.patches`, 'must be a list of {path, value}');
    for (const t of overlayTargets(out, overlay, at)) {
      patches.forEach((patch: unknown, j) => {
        const p = `${at}.patches[${j}]`;
        if (!isRecord(patch)) throw new InvalidSpecError(p, 'must be an object with path and value');
        out[t] = patchObject(out[t] as KubernetesObject, patch.path, patch.value, p);
      });
    }
  });
  return out;
}
