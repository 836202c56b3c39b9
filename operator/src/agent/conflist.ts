// Pure edits of the primary CNI's network configuration: which file in cniConfDir is the primary one (as
// Istio's install-cni picks it), inserting mizzen-cni at the end of its plugin chain, and removing exactly our
// entry again. No I/O: install.ts reads and writes the files.
import { PLUGIN_TYPE } from './protocol.js';

export type JsonObject = Record<string, unknown>;

export interface ConfFile {
  readonly name: string;
  readonly content: string;
}

/** Extensions a CNI runtime loads (Istio 1.11's install-cni considers these two). */
export function isConfFileName(name: string): boolean {
  return !name.startsWith('.') && (name.endsWith('.conf') || name.endsWith('.conflist'));
}

function parseObject(content: string): JsonObject | undefined {
  try {
    const doc: unknown = JSON.parse(content);
    return typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? (doc as JsonObject) : undefined;
  } catch {
    return undefined;
  }
}

/** Why a file is not a usable network configuration, or undefined when it is. */
export function confProblem(file: ConfFile): string | undefined {
  const doc = parseObject(file.content);
  if (doc === undefined) return 'is not a JSON object';
  if (file.name.endsWith('.conflist')) {
    if (!Array.isArray(doc.plugins) || doc.plugins.length === 0) return 'has no plugins';
    if (!doc.plugins.every((p) => typeof p === 'object' && p !== null && typeof (p as JsonObject).type === 'string')) return 'has a plugin without a type';
    return undefined;
  }
  return typeof doc.type === 'string' && doc.type !== '' ? undefined : 'has no type';
}

export type Pick = { readonly file: ConfFile } | { readonly file?: undefined; readonly reason: string };

/**
 * The primary CNI's file, as Istio picks it: `configured` (cniConfFileName) if set — or its `.conflist` twin when
 * a `.conf` of that name was already converted — else the first valid `.conf`/`.conflist` by name.
 */
export function pickConfFile(files: readonly ConfFile[], configured: string): Pick {
  if (configured !== '') {
    const byName = new Map(files.map((f) => [f.name, f]));
    const file = byName.get(configured) ?? (configured.endsWith('.conf') ? byName.get(`${configured}list`) : undefined);
    if (file === undefined) return { reason: `${configured} does not exist yet` };
    const problem = confProblem(file);
    return problem === undefined ? { file } : { reason: `${file.name} ${problem}` };
  }
  const candidates = files.filter((f) => isConfFileName(f.name)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const f of candidates) if (confProblem(f) === undefined) return { file: f };
  return { reason: candidates.length === 0 ? 'no .conf or .conflist file yet' : `no valid network configuration (${candidates.map((f) => `${f.name} ${confProblem(f) ?? ''}`).join('; ')})` };
}

export interface PluginEntryOptions {
  /** The agent's socket as the host (the runtime that execs the plugin) sees it. */
  readonly agentSocket: string;
}

/** mizzen-cni's entry in the plugin chain. */
export function pluginEntry(opts: PluginEntryOptions): JsonObject {
  return { type: PLUGIN_TYPE, agentSocket: opts.agentSocket };
}

export function isOurEntry(plugin: unknown): boolean {
  return typeof plugin === 'object' && plugin !== null && (plugin as JsonObject).type === PLUGIN_TYPE;
}

export function render(doc: JsonObject): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export interface InsertPlan {
  /** The file to write (the `.conflist` twin when a `.conf` is wrapped). */
  readonly name: string;
  readonly content: string;
  /** A `.conf` to delete after writing its wrapped `.conflist`. */
  readonly remove?: string;
}

/**
 * The primary file with our entry as the last plugin, or undefined when it already is exactly that. A single
 * `.conf` becomes `{cniVersion, name, plugins: [conf, ours]}` in a `.conflist` of the same base name; other
 * mizzen-cni entries (e.g. from an older agent) are dropped so there is exactly one, last.
 */
export function planInsert(file: ConfFile, entry: JsonObject): InsertPlan | undefined {
  const doc = parseObject(file.content);
  if (doc === undefined) throw new Error(`${file.name} is not a JSON object`);
  if (file.name.endsWith('.conflist')) {
    const plugins = Array.isArray(doc.plugins) ? (doc.plugins as unknown[]) : [];
    const others = plugins.filter((p) => !isOurEntry(p));
    if (others.length === plugins.length - 1 && sameJson(plugins[plugins.length - 1], entry)) return undefined;
    return { name: file.name, content: render({ ...doc, plugins: [...others, entry] }) };
  }
  const list: JsonObject = { cniVersion: doc.cniVersion ?? '0.3.1', name: doc.name ?? 'k8s-pod-network', plugins: [doc, entry] };
  return { name: `${file.name}list`, content: render(list), remove: file.name };
}

/** The file without any mizzen-cni entry, or undefined when it has none (or is not a conflist we can read). */
export function planRemove(file: ConfFile): string | undefined {
  const doc = parseObject(file.content);
  if (doc === undefined || !Array.isArray(doc.plugins)) return undefined;
  const plugins = doc.plugins as unknown[];
  const others = plugins.filter((p) => !isOurEntry(p));
  if (others.length === plugins.length) return undefined;
  return render({ ...doc, plugins: others });
}

/** Whether the file's chain ends with exactly this entry. */
export function hasEntryLast(file: ConfFile, entry: JsonObject): boolean {
  const doc = parseObject(file.content);
  const plugins = doc && Array.isArray(doc.plugins) ? (doc.plugins as unknown[]) : [];
  return plugins.length > 0 && sameJson(plugins[plugins.length - 1], entry) && plugins.filter(isOurEntry).length === 1;
}

/**
 * Whether `original` (the primary CNI's file as it was before we inserted, under its own name) is `current` without
 * our entry: then uninstall writes `original` back byte for byte instead of re-rendering `current`. False when the
 * primary CNI changed anything else since (its change wins; uninstall only removes our entry then).
 */
export function isOriginalOf(original: ConfFile, current: ConfFile): boolean {
  const stripped = planRemove(current);
  if (stripped === undefined) return false;
  try {
    if (planRemove(original) !== undefined) return false;
    const inserted = planInsert(original, { type: PLUGIN_TYPE });
    return inserted !== undefined && inserted.name === current.name && planRemove({ name: inserted.name, content: inserted.content }) === stripped;
  } catch {
    return false;
  }
}
