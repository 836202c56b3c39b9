// The EndpointSlices a member cluster holds for an imported service: one slice set per source (exporting)
// cluster, mirroring that cluster's ready endpoints. KEP-1645 "Using EndpointSlice objects to track endpoints":
// each slice holds endpoints of a single source cluster, is labelled multicluster.kubernetes.io/service-name with
// the ServiceImport's name and multicluster.kubernetes.io/source-cluster with the cluster id, is marked as managed
// by the MCS controller (so the EndpointSlice controller leaves it alone), and has an owner reference to its
// ServiceImport.
//
// What is mirrored of an endpoint: its addresses, ready/serving/terminating conditions, zone and hints.forZones
// (KEP-1645 aims to keep topology across clusters of one region); the hostname for Headless imports (DNS names
// <hostname>.<clusterid>.<svc>.<ns>.svc.clusterset.local come from it). The nodeName and hints.forNodes only mean
// something in the cluster the node is in: they are kept for the local cluster's own endpoints (so
// internalTrafficPolicy: Local keeps working there) and dropped for every other source. targetRef points to a Pod
// in the source cluster and is dropped; deprecatedTopology is dropped.
import type { DiscoveryV1EndpointPort, V1Endpoint, V1EndpointSlice, V1OwnerReference } from '@kubernetes/client-node';
import { compareStrings, objectKey } from './exports.js';
import { derivedServiceName, endpointSliceName } from './names.js';
import { managedLabels } from './serviceimport.js';
import {
  ENDPOINTSLICE_MANAGED_BY,
  keyString,
  LABEL_ENDPOINTSLICE_MANAGED_BY,
  LABEL_KUBERNETES_SERVICE_NAME,
  LABEL_SOURCE_CLUSTER,
  MAX_ENDPOINTS_PER_SLICE,
  type ClusterState,
  type ImportType,
  type ServiceKey,
} from './types.js';

/** The import a slice set is for. */
export interface SliceTarget {
  readonly key: ServiceKey;
  readonly type: ImportType;
  /** The import's IP families; slices of other address types are not mirrored. Empty: IPv4 and IPv6. */
  readonly ipFamilies: readonly string[];
  /** Owner reference to the live ServiceImport, once it has a uid. */
  readonly owner?: V1OwnerReference | undefined;
  /** The name the import gives its unnamed port (MergedService.unnamedPortName): slice ports named "" take it. */
  readonly unnamedPortName?: string | undefined;
}

const ADDRESS_TYPES = ['IPv4', 'IPv6'];

/** True for a slice that mizzen (or any MCS controller) mirrored: never export it again. */
export function isImportedSlice(slice: V1EndpointSlice): boolean {
  const labels = slice.metadata?.labels ?? {};
  return labels[LABEL_SOURCE_CLUSTER] !== undefined || labels[LABEL_ENDPOINTSLICE_MANAGED_BY] === ENDPOINTSLICE_MANAGED_BY;
}

/**
 * The source cluster's own slices of a Service: labelled kubernetes.io/service-name with its name in its
 * namespace, not being deleted, and not themselves imported.
 */
export function sourceSlicesFor(state: ClusterState, key: ServiceKey): V1EndpointSlice[] {
  return state.endpointSlices.filter((slice) => {
    const k = objectKey(slice);
    return (
      k !== undefined &&
      keyString({ namespace: k.namespace, name: slice.metadata?.labels?.[LABEL_KUBERNETES_SERVICE_NAME] ?? '' }) === keyString(key) &&
      !slice.metadata?.deletionTimestamp &&
      !isImportedSlice(slice)
    );
  });
}

/** A nil ready condition means ready (discovery/v1 EndpointConditions). */
export function isReady(ep: V1Endpoint): boolean {
  return ep.conditions?.ready !== false;
}

function slicePort(p: DiscoveryV1EndpointPort, unnamedPortName: string | undefined): DiscoveryV1EndpointPort {
  const name = !p.name && unnamedPortName ? unnamedPortName : p.name;
  return {
    ...(name !== undefined ? { name } : {}),
    protocol: p.protocol || 'TCP',
    ...(p.port !== undefined ? { port: p.port } : {}),
    ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
  };
}

function compareSlicePorts(a: DiscoveryV1EndpointPort, b: DiscoveryV1EndpointPort): number {
  return compareStrings(a.name ?? '', b.name ?? '') || compareStrings(a.protocol ?? '', b.protocol ?? '') || (a.port ?? 0) - (b.port ?? 0);
}

function mirrorHints(ep: V1Endpoint, local: boolean): V1Endpoint['hints'] {
  const forZones = ep.hints?.forZones?.map((z) => ({ name: z.name }));
  const forNodes = local ? ep.hints?.forNodes?.map((n) => ({ name: n.name })) : undefined;
  if (!forZones?.length && !forNodes?.length) return undefined;
  return { ...(forZones?.length ? { forZones } : {}), ...(forNodes?.length ? { forNodes } : {}) };
}

function mirrorEndpoint(ep: V1Endpoint, headless: boolean, local: boolean): V1Endpoint {
  const c = ep.conditions;
  const hints = mirrorHints(ep, local);
  return {
    addresses: [...ep.addresses],
    conditions: {
      ready: true,
      ...(c?.serving !== undefined ? { serving: c.serving } : {}),
      ...(c?.terminating !== undefined ? { terminating: c.terminating } : {}),
    },
    ...(headless && ep.hostname ? { hostname: ep.hostname } : {}),
    ...(local && ep.nodeName ? { nodeName: ep.nodeName } : {}),
    ...(ep.zone ? { zone: ep.zone } : {}),
    ...(hints ? { hints } : {}),
  };
}

interface Group {
  readonly addressType: string;
  readonly ports: DiscoveryV1EndpointPort[];
  readonly endpoints: Map<string, V1Endpoint>;
}

/** Ready endpoints grouped by (address type, port set): the endpoints of one slice share both. */
function groupEndpoints(target: SliceTarget, sourceSlices: readonly V1EndpointSlice[], local: boolean): Map<string, Group> {
  const families = target.ipFamilies.length > 0 ? target.ipFamilies : ADDRESS_TYPES;
  const groups = new Map<string, Group>();
  for (const slice of sourceSlices) {
    if (!ADDRESS_TYPES.includes(slice.addressType) || !families.includes(slice.addressType)) continue;
    const ports = (slice.ports ?? []).map((p) => slicePort(p, target.unnamedPortName)).sort(compareSlicePorts);
    const id = `${slice.addressType}|${JSON.stringify(ports)}`;
    const group = groups.get(id) ?? { addressType: slice.addressType, ports, endpoints: new Map<string, V1Endpoint>() };
    groups.set(id, group);
    for (const ep of slice.endpoints ?? []) {
      const addrKey = [...ep.addresses].sort(compareStrings).join(',');
      if (!isReady(ep) || ep.addresses.length === 0 || group.endpoints.has(addrKey)) continue;
      group.endpoints.set(addrKey, mirrorEndpoint(ep, target.type === 'Headless', local));
    }
  }
  return groups;
}

function sliceLabels(target: SliceTarget, sourceCluster: string): Record<string, string> {
  const labels: Record<string, string> = {
    ...managedLabels(target.key, 'endpoint-slice'),
    [LABEL_SOURCE_CLUSTER]: sourceCluster,
    [LABEL_ENDPOINTSLICE_MANAGED_BY]: ENDPOINTSLICE_MANAGED_BY,
  };
  // kube-proxy programs the slice for the derived Service's clusterset IP. A headless import has no derived
  // Service, and naming the local Service here would merge remote endpoints into its cluster.local records.
  if (target.type === 'ClusterSetIP') labels[LABEL_KUBERNETES_SERVICE_NAME] = derivedServiceName(target.key);
  const sorted: Record<string, string> = {};
  for (const k of Object.keys(labels).sort(compareStrings)) sorted[k] = labels[k] as string;
  return sorted;
}

/**
 * The slices that mirror one source cluster's ready endpoints for an import, in the local cluster. Endpoints are
 * grouped by address type and port set, sorted by address and cut into chunks of at most 100 in that order, so the
 * same endpoints always give the same slices with the same names, whatever order the source listed them in.
 * `localClusterId` says whether the source is this cluster (whose node names stay meaningful).
 */
export function desiredEndpointSlices(
  target: SliceTarget,
  sourceCluster: string,
  sourceSlices: readonly V1EndpointSlice[],
  localClusterId: string,
): V1EndpointSlice[] {
  const groups = groupEndpoints(target, sourceSlices, sourceCluster === localClusterId);
  const out: V1EndpointSlice[] = [];
  for (const id of [...groups.keys()].sort(compareStrings)) {
    const group = groups.get(id) as Group;
    const endpoints = [...group.endpoints.entries()].sort((a, b) => compareStrings(a[0], b[0])).map((e) => e[1]);
    for (let i = 0; i * MAX_ENDPOINTS_PER_SLICE < endpoints.length; i++) {
      out.push({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: endpointSliceName(target.key, sourceCluster, `${id}#${i}`),
          namespace: target.key.namespace,
          labels: sliceLabels(target, sourceCluster),
          ...(target.owner ? { ownerReferences: [target.owner] } : {}),
        },
        addressType: group.addressType,
        endpoints: endpoints.slice(i * MAX_ENDPOINTS_PER_SLICE, (i + 1) * MAX_ENDPOINTS_PER_SLICE),
        ports: group.ports,
      });
    }
  }
  return out;
}
