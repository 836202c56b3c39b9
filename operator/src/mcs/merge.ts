// Merging the valid exports of one service into the properties of its ServiceImport, and the conflicts that
// merge finds. KEP-1645 "Constraints and Conflict Resolution":
//   - ports are the union of the constituent Services' ports, merged "first based on port name then by the
//     protocol and port number pair"; a clash leaves the younger port out (the oldest definition wins). mcs-api
//     v0.5.0 raises PortConflict "if the ports are not identical in all the constituent Services": any difference
//     in the port sets, a port present in one and missing in another included, is a conflict; the union stays;
//   - headlessness and session affinity are global properties resolved by the conflict resolution policy:
//     the oldest export wins and a Conflict condition is set "on all ServiceExports for the conflicted service".
// mcs-api v0.5.0 adds the same rule for sessionAffinityConfig, internalTrafficPolicy, trafficDistribution and the
// v1beta1 exportedLabels/exportedAnnotations (reasons in pkg/apis/v1beta1/serviceexport.go). For ipFamilies the
// handling is implementation-specific, but IPFamilyConflict must be raised when a family would reach only some
// backends: we take the intersection of the exports' families (in the oldest export's order), so every family of
// the import reaches every backend, and an export that shares no family with it is the conflict.
import type { V1Service } from '@kubernetes/client-node';
import { compareStrings, type JoinedExport, type ServiceExports } from './exports.js';
import { checkExport, type Verdict } from './validity.js';
import { ExportReason, REASON_SEPARATOR, type ImportPort, type ImportType, type ServiceKey } from './types.js';

/** The properties of one valid export that take part in the merge, normalised for comparison. */
export interface ExportedService {
  readonly clusterId: string;
  readonly type: ImportType;
  readonly ports: readonly ImportPort[];
  /** "None" when unset, as the API server defaults it. */
  readonly sessionAffinity: string;
  /** sessionAffinityConfig.clientIP.timeoutSeconds, the only field of sessionAffinityConfig. */
  readonly sessionAffinityTimeoutSeconds: number | undefined;
  readonly internalTrafficPolicy: string | undefined;
  readonly trafficDistribution: string | undefined;
  readonly ipFamilies: readonly string[];
  readonly exportedLabels: Readonly<Record<string, string>>;
  readonly exportedAnnotations: Readonly<Record<string, string>>;
}

/** What the ServiceImport gets: the oldest export's global properties, the port union, the family intersection. */
export type MergedService = Omit<ExportedService, 'clusterId'> & {
  /** The exporting clusters, sorted. */
  readonly clusters: readonly string[];
  /**
   * The name `ports` gives the port that is unnamed in the exporters' Services, when the union has other ports
   * too (see nameForUnnamedPort); mirrored slice ports named "" take this name.
   */
  readonly unnamedPortName?: string | undefined;
};

export interface ConflictDetail {
  /** The field under contention, e.g. "type" or "port \"http\"". */
  readonly field: string;
  readonly reason: ExportReason;
  /** The clusters whose export disagrees with the winner, sorted. */
  readonly clusters: readonly string[];
  /** The cluster whose (older) definition is used. */
  readonly winner: string;
  readonly message: string;
}

export interface MergeResult {
  readonly key: ServiceKey;
  /** Every export of the service, oldest first, with its validity. */
  readonly verdicts: readonly { readonly joined: JoinedExport; readonly verdict: Verdict }[];
  /** The valid exports, oldest first: the ones that are merged. */
  readonly participants: readonly JoinedExport[];
  /** undefined when no export is valid: then there is nothing to import. */
  readonly service: MergedService | undefined;
  /** In a fixed order: ports, type, session affinity (+config), traffic policy/distribution, families, labels, annotations. */
  readonly conflicts: readonly ConflictDetail[];
  /** The conflicts' distinct reasons joined with ","; undefined when there is none. */
  readonly conflictReason: string | undefined;
  /** The conflicts' messages joined with " "; undefined when there is none. */
  readonly conflictMessage: string | undefined;
}

// ---- normalising ---------------------------------------------------------------------------------------------

/** Headless when the Service's clusterIP is "None" (KEP-1645 "Service Types"); everything else is ClusterSetIP. */
export function importTypeOf(svc: V1Service): ImportType {
  return svc.spec?.clusterIP === 'None' ? 'Headless' : 'ClusterSetIP';
}

export function normalizePort(p: { name?: string | undefined; protocol?: string | undefined; port?: number | undefined; appProtocol?: string | undefined }): ImportPort {
  return {
    ...(p.name ? { name: p.name } : {}),
    protocol: p.protocol || 'TCP',
    port: p.port ?? 0,
    ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
  };
}

/** Name, then protocol, then port number: the order ports appear in on the ServiceImport and its derived Service. */
export function comparePorts(a: ImportPort, b: ImportPort): number {
  return compareStrings(a.name ?? '', b.name ?? '') || compareStrings(a.protocol, b.protocol) || a.port - b.port;
}

/** A copy with the keys sorted, so that equal maps print and serialise the same. */
export function sortedRecord(rec: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(rec ?? {}).sort(compareStrings)) out[k] = (rec ?? {})[k] as string;
  return out;
}

export function exportedService(joined: JoinedExport, svc: V1Service): ExportedService {
  const spec = svc.spec ?? {};
  return {
    clusterId: joined.clusterId,
    type: importTypeOf(svc),
    ports: (spec.ports ?? []).map(normalizePort),
    sessionAffinity: spec.sessionAffinity || 'None',
    sessionAffinityTimeoutSeconds: spec.sessionAffinityConfig?.clientIP?.timeoutSeconds,
    internalTrafficPolicy: spec.internalTrafficPolicy || undefined,
    trafficDistribution: spec.trafficDistribution || undefined,
    ipFamilies: [...new Set(spec.ipFamilies ?? [])],
    exportedLabels: sortedRecord(joined.export.spec?.exportedLabels),
    exportedAnnotations: sortedRecord(joined.export.spec?.exportedAnnotations),
  };
}

// ---- ports ---------------------------------------------------------------------------------------------------

interface AcceptedPort {
  readonly port: ImportPort;
  readonly clusterId: string;
}

/** A port left out of the union because its name or its (protocol, port) is taken by an older export's port. */
export interface PortClash {
  readonly loser: string;
  readonly winner: string;
  readonly text: string;
}

export function formatPort(p: ImportPort): string {
  const app = p.appProtocol ? ` (appProtocol ${p.appProtocol})` : '';
  return `${p.name ? `"${p.name}"` : 'unnamed'} ${p.protocol}/${p.port}${app}`;
}

function clashOf(p: ImportPort, clusterId: string, winner: AcceptedPort): PortClash {
  return {
    loser: clusterId,
    winner: winner.clusterId,
    text: `"${clusterId}"'s ${formatPort(p)} clashes with ${formatPort(winner.port)} of "${winner.clusterId}" and is left out`,
  };
}

/**
 * The name the union gives its unnamed port when it has other ports: a Service with several ports needs every one
 * named, so the derived Service would be rejected otherwise. "<protocol>-<port>" in lower case, with "-2", "-3"...
 * added if another port of the union has that name already.
 */
export function nameForUnnamedPort(port: ImportPort, taken: ReadonlySet<string>): string {
  const base = `${port.protocol.toLowerCase()}-${port.port}`;
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
  return name;
}

export interface PortUnion {
  /** The union, sorted (comparePorts); its unnamed port, if it needed a name, under `unnamedPortName`. */
  readonly ports: ImportPort[];
  /** Ports left out of the union, oldest export's first. */
  readonly clashes: PortClash[];
  /** The name given to the union's unnamed port because the union has several ports (see nameForUnnamedPort). */
  readonly unnamedPortName: string | undefined;
}

/**
 * The union of the ports (KEP-1645 "Service Port": merged first by name, then by protocol and port), oldest
 * export first: a port joins when neither its name nor its (protocol, port) is taken. Same name and same
 * (protocol, port) is the same port; a different appProtocol on it is a clash too. An unnamed port next to others
 * gets a name (nameForUnnamedPort).
 */
export function mergePorts(services: readonly ExportedService[]): PortUnion {
  const byName = new Map<string, AcceptedPort>();
  const byNumber = new Map<string, AcceptedPort>();
  const clashes: PortClash[] = [];
  for (const svc of services) {
    for (const p of svc.ports) {
      const sameName = byName.get(p.name ?? '');
      const sameNumber = byNumber.get(`${p.protocol}/${p.port}`);
      const taken = sameName ?? sameNumber;
      if (!taken) {
        const accepted = { port: p, clusterId: svc.clusterId };
        byName.set(p.name ?? '', accepted);
        byNumber.set(`${p.protocol}/${p.port}`, accepted);
      } else if (sameName !== sameNumber || (taken.port.appProtocol ?? '') !== (p.appProtocol ?? '')) {
        clashes.push(clashOf(p, svc.clusterId, taken));
      }
    }
  }
  let ports = [...byName.values()].map((a) => a.port);
  const unnamed = byName.get('');
  let unnamedPortName: string | undefined;
  if (unnamed && ports.length > 1) {
    const name = nameForUnnamedPort(unnamed.port, new Set(byName.keys()));
    unnamedPortName = name;
    ports = ports.map((p) => (p === unnamed.port ? { name, ...p } : p));
  }
  return { ports: ports.sort(comparePorts), clashes, unnamedPortName };
}

const portId = (p: ImportPort): string => `${p.name ?? ''}|${p.protocol}|${p.port}|${p.appProtocol ?? ''}`;

/** At most this many ports are named per cluster in a conflict message. */
const PORTS_SHOWN = 5;

function listPorts(ports: readonly ImportPort[]): string {
  const shown = [...ports].sort(comparePorts).slice(0, PORTS_SHOWN).map(formatPort);
  return ports.length > PORTS_SHOWN ? `${shown.join(', ')} and ${ports.length - PORTS_SHOWN} more` : shown.join(', ');
}

/** How one export's ports differ from the oldest export's, e.g. `"c1" has "grpc" TCP/9090, lacks "http" TCP/80`. */
function portDifference(svc: ExportedService, oldest: ExportedService): string | undefined {
  const mine = new Set(svc.ports.map(portId));
  const theirs = new Set(oldest.ports.map(portId));
  const extra = svc.ports.filter((p) => !theirs.has(portId(p)));
  const missing = oldest.ports.filter((p) => !mine.has(portId(p)));
  if (extra.length === 0 && missing.length === 0) return undefined;
  const parts = [...(extra.length > 0 ? [`has ${listPorts(extra)}`] : []), ...(missing.length > 0 ? [`lacks ${listPorts(missing)}`] : [])];
  return `"${svc.clusterId}" ${parts.join(', ')}`;
}

/**
 * mcs-api PortConflict: "the ports are not identical in all the constituent Services". Any export whose port set
 * (name, protocol, port, appProtocol; in any order) differs from the oldest export's disagrees, a port present in
 * one and missing in another included. The import keeps the union, so traffic keeps flowing to every port.
 */
function portConflict(services: readonly ExportedService[], union: PortUnion): ConflictDetail | undefined {
  const [oldest, ...rest] = services;
  if (!oldest) return undefined;
  const differing = rest
    .map((s) => ({ s, text: portDifference(s, oldest) }))
    .filter((d): d is { s: ExportedService; text: string } => d.text !== undefined)
    .sort((a, b) => compareStrings(a.s.clusterId, b.s.clusterId));
  if (differing.length === 0) return undefined;
  const clashes = union.clashes.length > 0 ? ` ${union.clashes.map((c) => c.text).join('; ')}: the oldest definition wins.` : '';
  const named = union.unnamedPortName
    ? ` The unnamed port is named "${union.unnamedPortName}" on the ServiceImport and its derived Service, since a Service with several ports needs every one named.`
    : '';
  return {
    field: 'ports',
    reason: ExportReason.PortConflict,
    clusters: differing.map((d) => d.s.clusterId),
    winner: oldest.clusterId,
    message:
      `Conflicting ports: ${differing.length}/${services.length} clusters differ from the oldest export, in cluster "${oldest.clusterId}" ` +
      `(${differing.map((d) => d.text).join('; ')}); the ServiceImport has the union of the ports.${clashes}${named}`,
  };
}

// ---- global properties ---------------------------------------------------------------------------------------

interface FieldRule {
  readonly field: string;
  readonly reason: ExportReason;
  /** The value as compared and shown. */
  readonly value: (s: ExportedService) => string;
}

const show = (v: string | number | undefined, unset = 'unset'): string => (v === undefined || v === '' ? unset : String(v));

/** The oldest-wins properties, in the order their conflicts are reported. */
export const fieldRules: readonly FieldRule[] = [
  { field: 'type', reason: ExportReason.TypeConflict, value: (s) => s.type },
  { field: 'sessionAffinity', reason: ExportReason.SessionAffinityConflict, value: (s) => s.sessionAffinity },
  {
    field: 'sessionAffinityConfig.clientIP.timeoutSeconds',
    reason: ExportReason.SessionAffinityConfigConflict,
    value: (s) => show(s.sessionAffinityTimeoutSeconds),
  },
  { field: 'internalTrafficPolicy', reason: ExportReason.InternalTrafficPolicyConflict, value: (s) => s.internalTrafficPolicy ?? 'Cluster' },
  { field: 'trafficDistribution', reason: ExportReason.TrafficDistributionConflict, value: (s) => show(s.trafficDistribution) },
];

/** Compared after the IP families, in this order. */
const metadataRules: readonly FieldRule[] = [
  { field: 'exportedLabels', reason: ExportReason.LabelsConflict, value: (s) => JSON.stringify(s.exportedLabels) },
  { field: 'exportedAnnotations', reason: ExportReason.AnnotationsConflict, value: (s) => JSON.stringify(s.exportedAnnotations) },
];

function fieldConflict(rule: FieldRule, services: readonly ExportedService[]): ConflictDetail | undefined {
  const [oldest, ...rest] = services;
  if (!oldest) return undefined;
  const want = rule.value(oldest);
  const losers = rest.filter((s) => rule.value(s) !== want);
  if (losers.length === 0) return undefined;
  const sortedLosers = [...losers].sort((a, b) => compareStrings(a.clusterId, b.clusterId));
  const detail = sortedLosers.map((s) => `"${s.clusterId}" has ${rule.value(s)}`).join(', ');
  return {
    field: rule.field,
    reason: rule.reason,
    clusters: sortedLosers.map((s) => s.clusterId),
    winner: oldest.clusterId,
    message: `Conflicting ${rule.field}: ${losers.length}/${services.length} clusters disagree (${detail}); using ${want} from the oldest export, in cluster "${oldest.clusterId}".`,
  };
}

/** The intersection of the families, in the oldest export's order; exports without families are left out. */
export function intersectFamilies(services: readonly ExportedService[]): { families: string[]; conflict: ConflictDetail | undefined } {
  const withFamilies = services.filter((s) => s.ipFamilies.length > 0);
  const [first, ...rest] = withFamilies;
  if (!first) return { families: [], conflict: undefined };
  let families = [...first.ipFamilies];
  const disjoint: ExportedService[] = [];
  for (const s of rest) {
    const common = families.filter((f) => s.ipFamilies.includes(f));
    if (common.length === 0) disjoint.push(s);
    else families = common;
  }
  if (disjoint.length === 0) return { families, conflict: undefined };
  const losers = [...disjoint].sort((a, b) => compareStrings(a.clusterId, b.clusterId));
  return {
    families,
    conflict: {
      field: 'ipFamilies',
      reason: ExportReason.IPFamilyConflict,
      clusters: losers.map((s) => s.clusterId),
      winner: first.clusterId,
      message: `Conflicting ipFamilies: ${losers.length}/${services.length} clusters share no IP family with the others (${losers.map((s) => `"${s.clusterId}" has ${s.ipFamilies.join(',')}`).join(', ')}); using ${families.join(',')}, their backends are unreachable.`,
    },
  };
}

// ---- the merge -----------------------------------------------------------------------------------------------

function mergeValid(services: readonly ExportedService[]): { service: MergedService; conflicts: ConflictDetail[] } {
  const oldest = services[0] as ExportedService;
  const union = mergePorts(services);
  const families = intersectFamilies(services);
  const conflicts = [
    portConflict(services, union),
    ...fieldRules.map((r) => fieldConflict(r, services)),
    families.conflict,
    ...metadataRules.map((r) => fieldConflict(r, services)),
  ].filter((c): c is ConflictDetail => c !== undefined);
  const service: MergedService = {
    type: oldest.type,
    ports: union.ports,
    unnamedPortName: union.unnamedPortName,
    sessionAffinity: oldest.sessionAffinity,
    sessionAffinityTimeoutSeconds: oldest.sessionAffinityTimeoutSeconds,
    internalTrafficPolicy: oldest.internalTrafficPolicy,
    trafficDistribution: oldest.trafficDistribution,
    ipFamilies: families.families,
    exportedLabels: oldest.exportedLabels,
    exportedAnnotations: oldest.exportedAnnotations,
    clusters: services.map((s) => s.clusterId).sort(compareStrings),
  };
  return { service, conflicts };
}

/**
 * Validates every export of the service, merges the valid ones (oldest first) and lists the conflicts. Invalid
 * exports take no part: they neither shape the import nor count in a conflict.
 */
export function mergeService(group: ServiceExports): MergeResult {
  const verdicts = group.exports.map((joined) => ({ joined, verdict: checkExport(joined, group.key) }));
  const participants = verdicts.filter((v) => v.verdict.valid).map((v) => v.joined);
  const services = participants.map((j) => exportedService(j, j.service as V1Service));
  const merged = services.length > 0 ? mergeValid(services) : undefined;
  const conflicts = merged?.conflicts ?? [];
  return {
    key: group.key,
    verdicts,
    participants,
    service: merged?.service,
    conflicts,
    conflictReason: conflicts.length > 0 ? [...new Set(conflicts.map((c) => c.reason))].join(REASON_SEPARATOR) : undefined,
    conflictMessage: conflicts.length > 0 ? conflicts.map((c) => c.message).join(' ') : undefined,
  };
}
