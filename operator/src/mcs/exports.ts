// Which ServiceExports exist across the ClusterSet, grouped by service and joined with their Services, oldest
// first. The order is the conflict resolution order of KEP-1645 ("precedence based on each ServiceExport's
// creationTimestamp, from oldest to newest"), with the cluster id as the tie-break so that every member agrees.
import type { V1Service } from '@kubernetes/client-node';
import { keyString, type AnyServiceExport, type ClusterState, type ServiceKey } from './types.js';

/** One cluster's view that the planner can read: a usable snapshot or the last known good one. */
export interface ClusterView {
  readonly clusterId: string;
  readonly state: ClusterState;
}

/** A ServiceExport in one cluster, with the Service of the same namespace/name in that cluster, if any. */
export interface JoinedExport {
  readonly clusterId: string;
  readonly export: AnyServiceExport;
  readonly service: V1Service | undefined;
  /** creationTimestamp of the export in milliseconds; +Infinity when missing or unparseable (sorts last). */
  readonly createdAt: number;
}

/** All exports of one service across the ClusterSet, oldest first. */
export interface ServiceExports {
  readonly key: ServiceKey;
  readonly exports: readonly JoinedExport[];
}

/**
 * Milliseconds of a metav1.Time: an RFC 3339 string as the API returns it, or a Date when the object went through
 * client-node's typed deserialisation. Anything else is +Infinity, so an export without a timestamp never wins.
 */
export function timeMillis(value: unknown): number {
  let ms = Number.NaN;
  if (typeof value === 'string') ms = Date.parse(value);
  else if (value instanceof Date) ms = value.getTime();
  return Number.isNaN(ms) ? Number.POSITIVE_INFINITY : ms;
}

/** Oldest first by creationTimestamp, then by cluster id. */
export function compareExports(a: Pick<JoinedExport, 'createdAt' | 'clusterId'>, b: Pick<JoinedExport, 'createdAt' | 'clusterId'>): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? -1 : 1;
  return compareStrings(a.clusterId, b.clusterId);
}

/** Code-unit order, the same in every locale (localeCompare is not). */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

export function compareKeys(a: ServiceKey, b: ServiceKey): number {
  return compareStrings(a.namespace, b.namespace) || compareStrings(a.name, b.name);
}

interface Meta {
  name?: string | undefined;
  namespace?: string | undefined;
  deletionTimestamp?: unknown;
  creationTimestamp?: unknown;
}

function metaOf(obj: { metadata?: unknown }): Meta {
  return obj.metadata ?? {};
}

/** The key of a namespaced object, or undefined when it lacks a name or namespace. */
export function objectKey(obj: { metadata?: unknown }): ServiceKey | undefined {
  const md = metaOf(obj);
  if (!md.name || !md.namespace) return undefined;
  return { namespace: md.namespace, name: md.name };
}

function isDeleting(obj: { metadata?: unknown }): boolean {
  const ts = metaOf(obj).deletionTimestamp;
  return ts !== undefined && ts !== null;
}

/**
 * The exports of one cluster that take part, keyed by "ns/name". An export that is being deleted no longer
 * exports (KEP-1645: "Deleting a ServiceExport will stop exporting the name-mapped Service"). When the same export
 * is listed at two versions, the first by apiVersion is kept.
 */
function clusterExports(view: ClusterView): Map<string, JoinedExport> {
  const services = new Map<string, V1Service>();
  for (const svc of view.state.services) {
    const key = objectKey(svc);
    if (key) services.set(keyString(key), svc);
  }
  const sorted = [...view.state.serviceExports].sort((a, b) => compareStrings(a.apiVersion ?? '', b.apiVersion ?? ''));
  const out = new Map<string, JoinedExport>();
  for (const ex of sorted) {
    const key = objectKey(ex);
    if (!key || isDeleting(ex) || out.has(keyString(key))) continue;
    out.set(keyString(key), {
      clusterId: view.clusterId,
      export: ex,
      service: services.get(keyString(key)),
      createdAt: timeMillis(metaOf(ex).creationTimestamp),
    });
  }
  return out;
}

/**
 * Groups the exports of every cluster by namespace/name, each joined with its Service in the same cluster.
 * Services come out sorted by key, exports within a service oldest first (creationTimestamp, then cluster id).
 */
export function exportsByService(views: readonly ClusterView[]): ServiceExports[] {
  const groups = new Map<string, { key: ServiceKey; exports: JoinedExport[] }>();
  for (const view of views) {
    for (const [id, joined] of clusterExports(view)) {
      const key = objectKey(joined.export) as ServiceKey;
      const group = groups.get(id) ?? { key, exports: [] };
      group.exports.push(joined);
      groups.set(id, group);
    }
  }
  return [...groups.values()]
    .map((g) => ({ key: g.key, exports: g.exports.sort(compareExports) }))
    .sort((a, b) => compareKeys(a.key, b.key));
}
