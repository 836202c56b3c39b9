// Builders for the plain JSON objects MCS reads, as the API server returns them (timestamps are strings).
import type { V1EndpointSlice, V1ObjectMeta, V1Service } from '@kubernetes/client-node';
import type { ServiceExport, ServiceImport } from '../../src/api/index.js';
import type { AnyServiceExport, ClusterSnapshot, ClusterState, LocalLiveState, McsPlan } from '../../src/mcs/index.js';

export const NS = 'app';
export const T = ['2024-01-01T00:00:00Z', '2024-01-02T00:00:00Z', '2024-01-03T00:00:00Z', '2024-01-04T00:00:00Z'] as const;
export const NOW = new Date('2025-06-01T12:00:00Z');

/** Metadata with string timestamps, as the API server sends them (client-node types them as Date). */
function meta(m: Record<string, unknown>): V1ObjectMeta {
  return m;
}

export interface ExportOpts {
  created?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  version?: 'v1alpha1' | 'v1beta1';
  namespace?: string;
}

export function svcExport(name: string, o: ExportOpts = {}): ServiceExport {
  const spec = {
    ...(o.labels ? { exportedLabels: o.labels } : {}),
    ...(o.annotations ? { exportedAnnotations: o.annotations } : {}),
  };
  return {
    apiVersion: 'multicluster.x-k8s.io/v1alpha1',
    kind: 'ServiceExport',
    metadata: meta({ name, namespace: o.namespace ?? NS, creationTimestamp: o.created ?? T[0], generation: o.generation ?? 1, uid: `uid-${name}` }),
    ...(Object.keys(spec).length > 0 ? { spec } : {}),
  };
}

export interface PortOpts {
  name?: string;
  port: number;
  protocol?: string;
  appProtocol?: string;
}

export interface ServiceOpts {
  type?: string;
  headless?: boolean;
  ports?: PortOpts[];
  sessionAffinity?: string;
  timeoutSeconds?: number;
  internalTrafficPolicy?: string;
  trafficDistribution?: string;
  ipFamilies?: string[];
  labels?: Record<string, string>;
  namespace?: string;
}

export function service(name: string, o: ServiceOpts = {}): V1Service {
  const ports = o.ports ?? [{ name: 'http', port: 80 }];
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta({ name, namespace: o.namespace ?? NS, labels: o.labels ?? { app: name }, creationTimestamp: T[0] }),
    spec: {
      type: o.type ?? 'ClusterIP',
      ...(o.type === 'ExternalName' ? { externalName: 'example.com' } : { clusterIP: o.headless ? 'None' : '10.96.0.10', ports: ports.map((p) => ({ protocol: 'TCP', ...p })) }),
      sessionAffinity: o.sessionAffinity ?? 'None',
      ...(o.timeoutSeconds !== undefined ? { sessionAffinityConfig: { clientIP: { timeoutSeconds: o.timeoutSeconds } } } : {}),
      ...(o.internalTrafficPolicy ? { internalTrafficPolicy: o.internalTrafficPolicy } : {}),
      ...(o.trafficDistribution ? { trafficDistribution: o.trafficDistribution } : {}),
      ipFamilies: o.ipFamilies ?? ['IPv4'],
      selector: { app: name },
    },
  };
}

export interface EndpointOpts {
  ip: string;
  ready?: boolean | null;
  hostname?: string;
  nodeName?: string;
  zone?: string;
}

export interface SliceOpts {
  addressType?: string;
  ports?: { name?: string; port?: number; protocol?: string }[];
  labels?: Record<string, string>;
  namespace?: string;
}

export function slice(service: string, sliceName: string, endpoints: EndpointOpts[], o: SliceOpts = {}): V1EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: meta({
      name: sliceName,
      namespace: o.namespace ?? NS,
      labels: o.labels ?? { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
    }),
    addressType: o.addressType ?? 'IPv4',
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: e.ready === null ? {} : { ready: e.ready ?? true, serving: e.ready ?? true, terminating: false },
      ...(e.hostname ? { hostname: e.hostname } : {}),
      nodeName: e.nodeName ?? 'node-1',
      ...(e.zone ? { zone: e.zone } : {}),
      targetRef: { kind: 'Pod', name: `pod-${e.ip}`, namespace: o.namespace ?? NS },
    })),
    ports: (o.ports ?? [{ name: 'http', port: 8080, protocol: 'TCP' }]).map((p) => ({ ...p })),
  };
}

export interface ClusterOpts {
  namespaces?: readonly string[];
  exports?: readonly AnyServiceExport[];
  services?: readonly V1Service[];
  slices?: readonly V1EndpointSlice[];
  reachable?: boolean;
  synced?: boolean;
  lastKnownGood?: ClusterState;
}

export function cluster(clusterId: string, o: ClusterOpts = {}): ClusterSnapshot {
  return {
    clusterId,
    reachable: o.reachable ?? true,
    synced: o.synced ?? true,
    namespaces: o.namespaces ?? ['default', NS],
    serviceExports: o.exports ?? [],
    services: o.services ?? [],
    endpointSlices: o.slices ?? [],
    ...(o.lastKnownGood ? { lastKnownGood: o.lastKnownGood } : {}),
  };
}

/** A cluster exporting `name` with a Service and one slice of the given endpoints. */
export function exporter(clusterId: string, name: string, o: { exp?: ExportOpts; svc?: ServiceOpts; endpoints?: EndpointOpts[]; extra?: ClusterOpts } = {}): ClusterSnapshot {
  const endpoints = o.endpoints ?? [{ ip: `10.${clusterId.length}.0.1` }];
  return cluster(clusterId, {
    exports: [svcExport(name, o.exp)],
    services: [service(name, o.svc)],
    slices: [slice(name, `${name}-abcde`, endpoints)],
    ...o.extra,
  });
}

/** The state of a cluster of a snapshot, to pass as lastKnownGood. */
export function stateOf(s: ClusterSnapshot): ClusterState {
  return { namespaces: s.namespaces, serviceExports: s.serviceExports, services: s.services, endpointSlices: s.endpointSlices };
}

export const noLive: LocalLiveState = { serviceImports: [], derivedServices: [], endpointSlices: [] };

/**
 * The local objects as they would be after applying the plan: imports get a uid and their status, derived
 * Services get cluster IPs (one per family, 10.100.0.x / fd00::x).
 */
export function applied(p: McsPlan): LocalLiveState {
  const statuses = new Map(p.importStatuses.map((s) => [`${s.namespace}/${s.name}`, s.status]));
  const serviceImports: ServiceImport[] = p.serviceImports.map((imp) => ({
    ...imp,
    metadata: { ...imp.metadata, uid: `uid-import-${imp.metadata.name}` },
    status: statuses.get(`${imp.metadata.namespace}/${imp.metadata.name}`) ?? {},
  }));
  const derivedServices = p.derivedServices.map((svc, i) => {
    const ips = (svc.spec?.ipFamilies ?? ['IPv4']).map((f) => (f === 'IPv6' ? `fd00::${i + 1}` : `10.100.0.${i + 1}`));
    return { ...svc, spec: { ...svc.spec, clusterIP: ips[0], clusterIPs: ips } };
  });
  return { serviceImports, derivedServices, endpointSlices: [...p.endpointSlices] };
}

/** Deterministic shuffle (a seeded LCG), for the determinism tests. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
