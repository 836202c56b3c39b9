// The whole desired MCS state of the local cluster from every member's snapshot: ServiceImports, derived
// Services, EndpointSlices, the status of the local ServiceExports, and the managed objects to delete.
//
// Membership rule (issue 6, DESIGN principle 11): a member whose snapshot is unreachable or not synced is never
// read as "exports nothing". Its last known good state is used instead ("Stale"). Without one ("Unknown"), the
// EndpointSlices sourced from it are left exactly as they are, and so is every service that depends on it (its
// ServiceImport lists the cluster as an exporter, or it has slices from it): the service is "frozen", its import,
// derived Service and the status of the local exports of it stay as they are, since the merge cannot be computed
// without the unknown exporter. Only the slices of the frozen service's readable exporters keep following their
// endpoints (shaped by the live import's type and families), and the live import's ClustersSynced condition says
// which cluster it waits for. Only a cluster that is not a member at all (absent from the snapshots) loses its
// objects.
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { ServiceExportGVK, ServiceImportGVK, apiVersionOf, type ServiceImport } from '../api/index.js';
import { setCondition, setConditions, type Condition, type ConditionInput } from '../util/conditions.js';
import { sourceSlicesFor, desiredEndpointSlices, type SliceTarget } from './endpointslices.js';
import { compareKeys, compareStrings, exportsByService, objectKey, type ClusterView } from './exports.js';
import { mergeService, type MergeResult, type MergedService } from './merge.js';
import type { Verdict } from './validity.js';
import { derivedServiceName } from './names.js';
import { desiredDerivedService, desiredServiceImport, importIPs, importOwnerReference } from './serviceimport.js';
import {
  ANNOTATION_UNNAMED_PORT,
  ConditionType,
  ExportReason,
  ImportReason,
  keyString,
  LABEL_MANAGED_BY,
  LABEL_SERVICE_NAME,
  LABEL_SOURCE_CLUSTER,
  MANAGED_BY,
  MCS_OBJECT_LABEL,
  type AnyServiceExport,
  type ClusterSnapshot,
  type LocalLiveState,
  type McsObjectRole,
  type ObjectRef,
  type ServiceKey,
} from './types.js';

/** How the planner could read a member: live ("Synced"), from its last known good snapshot ("Stale"), or not at all. */
export type ClusterReadState = 'Synced' | 'Stale' | 'Unknown';

export interface ClusterReport {
  readonly clusterId: string;
  readonly state: ClusterReadState;
  /** Why it is not Synced: the API server could not be reached, or its caches are not synced yet. */
  readonly reason?: 'Unreachable' | 'NotSynced';
  readonly message: string;
}

export interface StatusUpdate<S> {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly status: S;
  /** False when the live status already says this: then nothing needs writing. */
  readonly changed: boolean;
}

export interface ExportStatus {
  conditions: Condition[];
}

export interface ImportStatus {
  clusters: { cluster: string }[];
  conditions: Condition[];
}

export interface McsPlan {
  /** False when the local cluster itself is not synced: then the plan is empty and nothing may be written. */
  readonly localReady: boolean;
  /** Every member, sorted by id. */
  readonly clusters: readonly ClusterReport[];
  readonly serviceImports: readonly ServiceImport[];
  /** Ready and ClustersSynced of every desired import; for a frozen one, only its ClustersSynced. Sorted by key. */
  readonly importStatuses: readonly StatusUpdate<ImportStatus>[];
  readonly derivedServices: readonly V1Service[];
  readonly endpointSlices: readonly V1EndpointSlice[];
  readonly exportStatuses: readonly StatusUpdate<ExportStatus>[];
  /** Managed local objects that are no longer desired. */
  readonly deletions: readonly ObjectRef[];
  /** Services left untouched because an exporter's state is unknown. */
  readonly frozen: readonly ServiceKey[];
}

// ---- membership ----------------------------------------------------------------------------------------------

export interface ResolvedClusters {
  readonly views: readonly ClusterView[];
  readonly reports: readonly ClusterReport[];
  /** Members whose state is unknown: no usable snapshot and no last known good one. */
  readonly unknown: ReadonlySet<string>;
}

function reportOf(s: ClusterSnapshot): ClusterReport {
  if (s.reachable && s.synced) return { clusterId: s.clusterId, state: 'Synced', message: `Cluster "${s.clusterId}" is synced.` };
  const reason = s.reachable ? 'NotSynced' : 'Unreachable';
  const why = s.reachable ? 'its caches are not synced' : 'it cannot be reached';
  return s.lastKnownGood
    ? { clusterId: s.clusterId, state: 'Stale', reason, message: `Cluster "${s.clusterId}" is used as last seen: ${why}.` }
    : { clusterId: s.clusterId, state: 'Unknown', reason, message: `Objects from cluster "${s.clusterId}" are kept as they are: ${why} and it has not been seen yet.` };
}

/** The state to plan with for each member (sorted by id; the first snapshot of an id counts). */
export function resolveClusters(snapshots: readonly ClusterSnapshot[]): ResolvedClusters {
  const byId = new Map<string, ClusterSnapshot>();
  for (const s of snapshots) if (!byId.has(s.clusterId)) byId.set(s.clusterId, s);
  const views: ClusterView[] = [];
  const reports: ClusterReport[] = [];
  const unknown = new Set<string>();
  for (const id of [...byId.keys()].sort(compareStrings)) {
    const s = byId.get(id) as ClusterSnapshot;
    const report = reportOf(s);
    reports.push(report);
    if (report.state === 'Synced') views.push({ clusterId: id, state: s });
    else if (report.state === 'Stale' && s.lastKnownGood) views.push({ clusterId: id, state: s.lastKnownGood });
    else unknown.add(id);
  }
  return { views, reports, unknown };
}

// ---- live objects --------------------------------------------------------------------------------------------

function isManaged(obj: { metadata?: { labels?: Record<string, string> | undefined } | undefined }, role: McsObjectRole): boolean {
  const labels = obj.metadata?.labels ?? {};
  return labels[LABEL_MANAGED_BY] === MANAGED_BY && labels[MCS_OBJECT_LABEL] === role;
}

/** The key of a managed import that lists a member in `unknown` as an exporter. */
function importOnUnknown(imp: ServiceImport, unknown: ReadonlySet<string>): ServiceKey | undefined {
  const key = objectKey(imp);
  return key && isManaged(imp, 'service-import') && (imp.status?.clusters ?? []).some((c) => unknown.has(c.cluster)) ? key : undefined;
}

/** The key of the service a managed slice sourced from a member in `unknown` belongs to. */
function sliceOnUnknown(slice: V1EndpointSlice, unknown: ReadonlySet<string>): ServiceKey | undefined {
  const labels = slice.metadata?.labels ?? {};
  const namespace = slice.metadata?.namespace;
  const name = labels[LABEL_SERVICE_NAME];
  if (!namespace || !name || !isManaged(slice, 'endpoint-slice')) return undefined;
  return unknown.has(labels[LABEL_SOURCE_CLUSTER] ?? '') ? { namespace, name } : undefined;
}

/** The services whose local objects depend on a member in `unknown`: they are left untouched. */
function frozenKeys(live: LocalLiveState, unknown: ReadonlySet<string>): Map<string, ServiceKey> {
  const keys = [...live.serviceImports.map((i) => importOnUnknown(i, unknown)), ...live.endpointSlices.map((s) => sliceOnUnknown(s, unknown))];
  const frozen = new Map<string, ServiceKey>();
  for (const key of keys) if (key) frozen.set(keyString(key), key);
  return frozen;
}

/** Objects by "ns/name"; of two with the same key (one object listed at two versions) the first by apiVersion. */
function byKey<T extends { apiVersion?: string | undefined; metadata?: unknown }>(objects: readonly T[]): Map<string, T> {
  const out = new Map<string, T>();
  for (const o of [...objects].sort((a, b) => compareStrings(a.apiVersion ?? '', b.apiVersion ?? ''))) {
    const key = objectKey(o);
    if (key && !out.has(keyString(key))) out.set(keyString(key), o);
  }
  return out;
}

// ---- status --------------------------------------------------------------------------------------------------

/** Key order does not count: the API server returns objects with their keys in its own (sorted) order. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value).sort(compareStrings)) {
    const v = (value as Record<string, unknown>)[k];
    if (v !== undefined) out[k] = canonical(v);
  }
  return out;
}

/** Equal as JSON, whatever the order of object keys. */
export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/**
 * ClustersSynced of an import that depends on `clusters`: True when each of them is Synced; else False, with
 * ClusterUnreachable when any of them cannot be reached (ClusterNotSynced otherwise) and every such cluster's
 * report as the message. Clusters that are not members any more are not counted.
 */
export function clustersSyncedCondition(clusters: readonly string[], reports: ReadonlyMap<string, ClusterReport>): ConditionInput {
  const behind = [...new Set(clusters)]
    .sort(compareStrings)
    .map((id) => reports.get(id))
    .filter((r): r is ClusterReport => r !== undefined && r.state !== 'Synced');
  if (behind.length === 0) {
    return { type: ConditionType.ClustersSynced, status: 'True', reason: ImportReason.Synced, message: 'Every cluster this import is built from is synced.' };
  }
  const reason = behind.some((r) => r.reason === 'Unreachable') ? ImportReason.ClusterUnreachable : ImportReason.ClusterNotSynced;
  return { type: ConditionType.ClustersSynced, status: 'False', reason, message: behind.map((r) => r.message).join(' ') };
}

function importStatus(imp: ServiceImport, live: ServiceImport | undefined, ready: boolean, synced: ConditionInput, now: Date): StatusUpdate<ImportStatus> {
  const key = objectKey(imp) as ServiceKey;
  const cond: ConditionInput = ready
    ? { type: ConditionType.Ready, status: 'True', reason: ImportReason.Ready, message: `ServiceImport ${keyString(key)} is ready.` }
    : {
        type: ConditionType.Ready,
        status: 'False',
        reason: ImportReason.Pending,
        message: `Waiting for the derived Service ${key.namespace}/${derivedServiceName(key)} to get its cluster IPs.`,
      };
  const status: ImportStatus = {
    clusters: imp.status?.clusters ?? [],
    conditions: setConditions(live?.status?.conditions, [cond, synced], now),
  };
  const liveStatus = { clusters: live?.status?.clusters ?? [], conditions: live?.status?.conditions ?? [] };
  return { apiVersion: imp.apiVersion ?? apiVersionOf(ServiceImportGVK), kind: 'ServiceImport', namespace: key.namespace, name: key.name, status, changed: !live || !sameJson(status, liveStatus) };
}

/**
 * A frozen service's live import keeps its spec, its clusters and its other conditions; only ClustersSynced is
 * updated, so that the import says which cluster it is waiting for.
 */
function frozenImportStatus(key: ServiceKey, live: LocalLiveState, ctx: PlanContext): StatusUpdate<ImportStatus> | undefined {
  const imp = ctx.live.imports.get(keyString(key));
  if (!imp) return undefined;
  const sources = live.endpointSlices
    .filter((s) => s.metadata?.namespace === key.namespace && s.metadata.labels?.[LABEL_SERVICE_NAME] === key.name && isManaged(s, 'endpoint-slice'))
    .map((s) => s.metadata?.labels?.[LABEL_SOURCE_CLUSTER] ?? '');
  const clusters = [...(imp.status?.clusters ?? []).map((c) => c.cluster), ...sources];
  const before = imp.status?.conditions ?? [];
  const conditions = setCondition(before, clustersSyncedCondition(clusters, ctx.reports), ctx.now);
  return {
    apiVersion: imp.apiVersion ?? apiVersionOf(ServiceImportGVK),
    kind: 'ServiceImport',
    namespace: key.namespace,
    name: key.name,
    status: { clusters: imp.status?.clusters ?? [], conditions },
    changed: !sameJson(conditions, before),
  };
}

interface ExportContext {
  readonly merge: MergeResult | undefined;
  readonly liveImport: ServiceImport | undefined;
}

function readyCondition(valid: boolean, ctx: ExportContext, key: ServiceKey): ConditionInput {
  const imp = ctx.liveImport;
  const imported = imp !== undefined && (imp.spec?.type === 'Headless' || (imp.spec?.ips ?? []).length > 0);
  if (!valid) return { type: ConditionType.Ready, status: 'False', reason: ExportReason.Failed, message: 'The ServiceExport is not valid: see the Valid condition.' };
  if (imported) return { type: ConditionType.Ready, status: 'True', reason: ExportReason.Ready, message: `Service ${keyString(key)} is exported and imported as ServiceImport ${keyString(key)}.` };
  return { type: ConditionType.Ready, status: 'False', reason: ExportReason.Pending, message: `Waiting for ServiceImport ${keyString(key)} and its clusterset IP.` };
}

function conflictCondition(merge: MergeResult | undefined): ConditionInput {
  if (merge?.conflictReason && merge.conflictMessage) {
    return { type: ConditionType.Conflict, status: 'True', reason: merge.conflictReason, message: merge.conflictMessage };
  }
  return { type: ConditionType.Conflict, status: 'False', reason: ExportReason.NoConflicts, message: 'The exports of this service agree.' };
}

function validCondition(verdict: Verdict | undefined): ConditionInput {
  if (!verdict) return { type: ConditionType.Valid, status: 'Unknown', reason: ExportReason.Pending, message: 'The ServiceExport has not been evaluated yet.' };
  return { type: ConditionType.Valid, status: verdict.valid ? 'True' : 'False', reason: verdict.reason, message: verdict.message };
}

/** Valid, Ready and Conflict on a local ServiceExport; an invalid export takes no part, so it has no Conflict. */
export function exportStatus(ex: AnyServiceExport, localClusterId: string, ctx: ExportContext, now: Date): StatusUpdate<ExportStatus> {
  const key = objectKey(ex) as ServiceKey;
  const gen = ex.metadata.generation === undefined ? {} : { observedGeneration: ex.metadata.generation };
  const verdict = ctx.merge?.verdicts.find((v) => v.joined.clusterId === localClusterId)?.verdict;
  const valid = verdict?.valid ?? false;
  const next = [validCondition(verdict), readyCondition(valid, ctx, key), ...(valid ? [conflictCondition(ctx.merge)] : [])];
  let conditions = setConditions(ex.status?.conditions, next.map((c) => ({ ...c, ...gen })), now);
  if (!valid) conditions = conditions.filter((c) => c.type !== ConditionType.Conflict);
  return {
    apiVersion: ex.apiVersion ?? apiVersionOf(ServiceExportGVK),
    kind: 'ServiceExport',
    namespace: key.namespace,
    name: key.name,
    status: { conditions },
    changed: !sameJson(conditions, ex.status?.conditions ?? []),
  };
}

// ---- desired objects -----------------------------------------------------------------------------------------

interface Desired {
  imports: ServiceImport[];
  importStatuses: StatusUpdate<ImportStatus>[];
  derived: V1Service[];
  slices: V1EndpointSlice[];
}

interface PlanContext {
  readonly localClusterId: string;
  readonly views: ReadonlyMap<string, ClusterView>;
  readonly live: { imports: Map<string, ServiceImport>; derived: Map<string, V1Service> };
  /** The namespaces of the local cluster: only there are services imported. */
  readonly namespaces: ReadonlySet<string>;
  /** Every member's report, by id. */
  readonly reports: ReadonlyMap<string, ClusterReport>;
  readonly now: Date;
}

function desiredFor(key: ServiceKey, merged: MergedService, participants: readonly string[], ctx: PlanContext, out: Desired): void {
  const liveImport = ctx.live.imports.get(keyString(key));
  const clusterSetIP = merged.type === 'ClusterSetIP';
  const ips = clusterSetIP ? importIPs(ctx.live.derived.get(keyString({ namespace: key.namespace, name: derivedServiceName(key) }))) : [];
  const imp = desiredServiceImport(key, merged, { ips });
  const owner = importOwnerReference(liveImport);
  out.imports.push(imp);
  const synced = clustersSyncedCondition(merged.clusters, ctx.reports);
  out.importStatuses.push(importStatus(imp, liveImport, !clusterSetIP || ips.length > 0, synced, ctx.now));
  if (clusterSetIP) out.derived.push(desiredDerivedService(key, imp));
  mirror({ key, type: merged.type, ipFamilies: merged.ipFamilies, owner, unnamedPortName: merged.unnamedPortName }, participants, ctx, out);
}

/** The slices of every participating (valid, readable) exporter. */
function mirror(target: SliceTarget, participants: readonly string[], ctx: PlanContext, out: Desired): void {
  for (const cluster of participants) {
    const view = ctx.views.get(cluster);
    if (view) out.slices.push(...desiredEndpointSlices(target, cluster, sourceSlicesFor(view.state, target.key), ctx.localClusterId));
  }
}

/**
 * For a frozen service whose import is live, the slice target as that import says (type and families): the
 * slices of readable exporters keep following their endpoints while the import itself stays untouched.
 */
function frozenTarget(key: ServiceKey, ctx: PlanContext): SliceTarget | undefined {
  const imp = ctx.live.imports.get(keyString(key));
  if (!imp?.spec?.type || !ctx.namespaces.has(key.namespace)) return undefined;
  const unnamedPortName = imp.metadata.annotations?.[ANNOTATION_UNNAMED_PORT];
  return { key, type: imp.spec.type, ipFamilies: imp.spec.ipFamilies ?? [], owner: importOwnerReference(imp), ...(unnamedPortName ? { unnamedPortName } : {}) };
}

// ---- deletions -----------------------------------------------------------------------------------------------

function refOf(apiVersion: string, kind: string, obj: { metadata?: unknown }): ObjectRef | undefined {
  const key = objectKey(obj);
  return key ? { apiVersion, kind, namespace: key.namespace, name: key.name } : undefined;
}

function compareRefs(a: ObjectRef, b: ObjectRef): number {
  return compareStrings(a.kind, b.kind) || compareKeys(a, b);
}

interface Keep {
  readonly frozen: ReadonlyMap<string, ServiceKey>;
  /** Frozen services whose slices from readable members are still planned (see frozenTarget). */
  readonly mirrored: ReadonlySet<string>;
  readonly unknown: ReadonlySet<string>;
}

/** Whether an undesired managed object stays: it is sourced from an unknown member, or its service is frozen. */
function kept(kind: string, serviceKey: string, sourceCluster: string | undefined, keep: Keep): boolean {
  if (sourceCluster !== undefined && keep.unknown.has(sourceCluster)) return true;
  if (!keep.frozen.has(serviceKey)) return false;
  return !(kind === 'EndpointSlice' && keep.mirrored.has(serviceKey));
}

/** Managed live objects that are not desired and not kept. */
function deletions(live: LocalLiveState, desired: Desired, keep: Keep): ObjectRef[] {
  const wanted = new Set<string>();
  const mark = (kind: string, objs: readonly { metadata?: unknown }[]): void => {
    for (const o of objs) wanted.add(`${kind}/${keyString(objectKey(o) as ServiceKey)}`);
  };
  mark('ServiceImport', desired.imports);
  mark('Service', desired.derived);
  mark('EndpointSlice', desired.slices);
  const candidates: { kind: string; apiVersion: string; obj: { metadata?: { namespace?: string; labels?: Record<string, string> } }; role: McsObjectRole }[] = [
    ...live.serviceImports.map((obj) => ({ kind: 'ServiceImport', apiVersion: obj.apiVersion ?? apiVersionOf(ServiceImportGVK), obj, role: 'service-import' as const })),
    ...live.derivedServices.map((obj) => ({ kind: 'Service', apiVersion: 'v1', obj, role: 'derived-service' as const })),
    ...live.endpointSlices.map((obj) => ({ kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', obj, role: 'endpoint-slice' as const })),
  ];
  const out: ObjectRef[] = [];
  for (const c of candidates) {
    const labels = c.obj.metadata?.labels ?? {};
    const serviceKey = keyString({ namespace: c.obj.metadata?.namespace ?? '', name: labels[LABEL_SERVICE_NAME] ?? objectKey(c.obj)?.name ?? '' });
    const ref = refOf(c.apiVersion, c.kind, c.obj);
    if (!ref || !isManaged(c.obj, c.role) || wanted.has(`${c.kind}/${keyString(ref)}`)) continue;
    if (kept(c.kind, serviceKey, labels[LABEL_SOURCE_CLUSTER], keep)) continue;
    out.push(ref);
  }
  return out.sort(compareRefs);
}

// ---- the plan ------------------------------------------------------------------------------------------------

function emptyPlan(reports: readonly ClusterReport[]): McsPlan {
  return { localReady: false, clusters: reports, serviceImports: [], importStatuses: [], derivedServices: [], endpointSlices: [], exportStatuses: [], deletions: [], frozen: [] };
}

const byObjectKey = (a: { metadata?: unknown }, b: { metadata?: unknown }): number => compareKeys(objectKey(a) as ServiceKey, objectKey(b) as ServiceKey);

/**
 * The desired MCS state of the local cluster. `snapshots` holds every member (the local cluster too); `live` the
 * managed objects as they are in the local cluster; `now` stamps condition transitions.
 */
export function plan(localClusterId: string, snapshots: readonly ClusterSnapshot[], live: LocalLiveState, now: Date): McsPlan {
  const resolved = resolveClusters(snapshots);
  const localReport = resolved.reports.find((r) => r.clusterId === localClusterId);
  const localView = resolved.views.find((v) => v.clusterId === localClusterId);
  if (!localView || localReport?.state !== 'Synced') return emptyPlan(resolved.reports);

  const frozen = frozenKeys(live, resolved.unknown);
  const ctx: PlanContext = {
    localClusterId,
    views: new Map(resolved.views.map((v) => [v.clusterId, v])),
    live: { imports: byKey(live.serviceImports.filter((i) => isManaged(i, 'service-import'))), derived: byKey(live.derivedServices) },
    namespaces: new Set(localView.state.namespaces),
    reports: new Map(resolved.reports.map((r) => [r.clusterId, r])),
    now,
  };
  const mirrored = new Set([...frozen].filter(([, key]) => frozenTarget(key, ctx)).map(([id]) => id));
  const merges = new Map<string, MergeResult>();
  const desired: Desired = { imports: [], importStatuses: [], derived: [], slices: [] };
  for (const group of exportsByService(resolved.views)) {
    const id = keyString(group.key);
    const merge = mergeService(group);
    const participants = merge.participants.map((p) => p.clusterId);
    const target = frozen.has(id) ? frozenTarget(group.key, ctx) : undefined;
    if (target) mirror(target, participants, ctx, desired);
    if (frozen.has(id)) continue;
    merges.set(id, merge);
    if (merge.service && ctx.namespaces.has(group.key.namespace)) desiredFor(group.key, merge.service, participants, ctx, desired);
  }

  for (const key of frozen.values()) {
    const update = frozenImportStatus(key, live, ctx);
    if (update) desired.importStatuses.push(update);
  }

  const exportStatuses = [...byKey(localView.state.serviceExports).entries()]
    .filter(([id, ex]) => !frozen.has(id) && !ex.metadata.deletionTimestamp)
    .map(([id, ex]) => exportStatus(ex, localClusterId, { merge: merges.get(id), liveImport: ctx.live.imports.get(id) }, now))
    .sort(compareKeys);

  return {
    localReady: true,
    clusters: resolved.reports,
    serviceImports: desired.imports,
    importStatuses: desired.importStatuses.sort(compareKeys),
    derivedServices: desired.derived.sort(byObjectKey),
    endpointSlices: desired.slices.sort(byObjectKey),
    exportStatuses,
    deletions: deletions(live, desired, { frozen, mirrored, unknown: resolved.unknown }),
    frozen: [...frozen.values()].sort(compareKeys),
  };
}
