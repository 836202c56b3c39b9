// The ServiceImport every member cluster where the namespace exists gets for a merged service, and, for a
// ClusterSetIP import, the derived Service whose cluster IPs are the import's clusterset IPs.
//
// KEP-1645 "ClusterSetIP": the IP "may be a single IP used clusterset-wide or assigned on a per-cluster basis, but is
// expected to be consistent for the life of a ServiceImport". mizzen assigns it per cluster: each cluster creates a
// selector-less ClusterIP Service ("derived Service", the KEP's "dummy or shadow Service") whose clusterIPs, one per
// family, become the import's spec.ips. kube-proxy programs the imported EndpointSlices behind it because they
// carry kubernetes.io/service-name: <derived Service>. Headless imports get neither a derived Service nor IPs.
import type { V1OwnerReference, V1Service, V1ServicePort, V1ServiceSpec } from '@kubernetes/client-node';
import { apiVersionOf, ServiceImportGVK, type ServiceImport } from '../api/index.js';
import type { MergedService } from './merge.js';
import { derivedServiceName } from './names.js';
import {
  ANNOTATION_DERIVED_SERVICE,
  ANNOTATION_UNNAMED_PORT,
  LABEL_MANAGED_BY,
  LABEL_SERVICE_NAME,
  MANAGED_BY,
  MCS_OBJECT_LABEL,
  type McsObjectRole,
  type ServiceKey,
} from './types.js';

/** The ServiceImport version mizzen writes: v1alpha1, which every mcs-api release serves (see api/index.ts). */
export const IMPORT_API_VERSION = `${ServiceImportGVK.group}/${ServiceImportGVK.version}` as const;

/** Our labels on every object the MCS controller owns; they win over any exported label with the same key. */
export function managedLabels(key: ServiceKey, role: McsObjectRole): Record<string, string> {
  return { [LABEL_MANAGED_BY]: MANAGED_BY, [MCS_OBJECT_LABEL]: role, [LABEL_SERVICE_NAME]: key.name };
}

export interface ServiceImportOptions {
  /** The derived Service's cluster IPs (see importIPs); left out until allocated. */
  readonly ips?: readonly string[] | undefined;
}

/**
 * The ServiceImport for a merged service. Only the oldest export's spec.exportedLabels and
 * spec.exportedAnnotations are copied onto it (nothing from the Service), plus our own labels and, for
 * ClusterSetIP, the mcs-api derived-service annotation. status.clusters lists the exporters; the controller writes
 * status through the status subresource (see plan's importStatuses for the conditions).
 */
export function desiredServiceImport(key: ServiceKey, merged: MergedService, opts: ServiceImportOptions = {}): ServiceImport {
  const headless = merged.type === 'Headless';
  const annotations: Record<string, string> = { ...merged.exportedAnnotations };
  if (!headless) annotations[ANNOTATION_DERIVED_SERVICE] = derivedServiceName(key);
  if (merged.unnamedPortName) annotations[ANNOTATION_UNNAMED_PORT] = merged.unnamedPortName;
  const spec: ServiceImport['spec'] = {
    type: merged.type,
    ports: merged.ports.map((p) => ({ ...p })),
  };
  if (!headless && opts.ips && opts.ips.length > 0) spec.ips = [...opts.ips];
  if (merged.ipFamilies.length > 0) spec.ipFamilies = [...merged.ipFamilies];
  spec.sessionAffinity = merged.sessionAffinity;
  if (merged.sessionAffinityTimeoutSeconds !== undefined) {
    spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: merged.sessionAffinityTimeoutSeconds } };
  }
  if (merged.internalTrafficPolicy !== undefined) spec.internalTrafficPolicy = merged.internalTrafficPolicy;
  if (merged.trafficDistribution !== undefined) spec.trafficDistribution = merged.trafficDistribution;
  return {
    apiVersion: IMPORT_API_VERSION,
    kind: 'ServiceImport',
    metadata: {
      name: key.name,
      namespace: key.namespace,
      labels: sortKeys({ ...merged.exportedLabels, ...managedLabels(key, 'service-import') }),
      annotations: sortKeys(annotations),
    },
    spec,
    status: { clusters: merged.clusters.map((cluster) => ({ cluster })) },
  };
}

function sortKeys(rec: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(rec).sort()) out[k] = rec[k] as string;
  return out;
}

/** The owner reference objects get to their ServiceImport once its uid is known (KEP-1645 "Tracking Endpoints"). */
export function importOwnerReference(live: ServiceImport | undefined): V1OwnerReference | undefined {
  const uid = live?.metadata.uid;
  const name = live?.metadata.name;
  if (!uid || !name) return undefined;
  return { apiVersion: live.apiVersion ?? apiVersionOf(ServiceImportGVK), kind: 'ServiceImport', name, uid, controller: false, blockOwnerDeletion: false };
}

/**
 * The derived Service of a ClusterSetIP import: type ClusterIP, no selector (the controller's EndpointSlices
 * feed it), the import's ports and IP families. One family is SingleStack; two are PreferDualStack, so a
 * single-stack cluster still gets a Service (with its one family) instead of a rejected create.
 */
export function desiredDerivedService(key: ServiceKey, imp: ServiceImport, owner?: V1OwnerReference): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: derivedServiceName(key),
      namespace: key.namespace,
      labels: managedLabels(key, 'derived-service'),
      ...(owner ? { ownerReferences: [owner] } : {}),
    },
    spec: { type: 'ClusterIP', ports: derivedPorts(imp), ...familySpec(imp.spec?.ipFamilies ?? []), ...trafficSpec(imp.spec) },
  };
}

function derivedPorts(imp: ServiceImport): V1ServicePort[] {
  return (imp.spec?.ports ?? []).map((p) => ({
    ...(p.name ? { name: p.name } : {}),
    protocol: p.protocol ?? 'TCP',
    port: p.port,
    ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
  }));
}

function familySpec(families: readonly string[]): Pick<V1ServiceSpec, 'ipFamilies' | 'ipFamilyPolicy'> {
  if (families.length === 0) return {};
  return { ipFamilies: [...families], ipFamilyPolicy: families.length > 1 ? 'PreferDualStack' : 'SingleStack' };
}

function trafficSpec(spec: ServiceImport['spec']): Pick<V1ServiceSpec, 'sessionAffinity' | 'sessionAffinityConfig' | 'internalTrafficPolicy' | 'trafficDistribution'> {
  const out: Pick<V1ServiceSpec, 'sessionAffinity' | 'sessionAffinityConfig' | 'internalTrafficPolicy' | 'trafficDistribution'> = {};
  if (spec?.sessionAffinity) out.sessionAffinity = spec.sessionAffinity;
  // The API server rejects a sessionAffinityConfig unless sessionAffinity is ClientIP.
  if (spec?.sessionAffinity === 'ClientIP' && spec.sessionAffinityConfig) out.sessionAffinityConfig = { clientIP: { ...spec.sessionAffinityConfig.clientIP } };
  if (spec?.internalTrafficPolicy) out.internalTrafficPolicy = spec.internalTrafficPolicy;
  if (spec?.trafficDistribution) out.trafficDistribution = spec.trafficDistribution;
  return out;
}

/**
 * The ServiceImport's spec.ips from its derived Service as it is live: the allocated clusterIPs, one per family,
 * primary first (spec.clusterIP when clusterIPs is not set). Empty while nothing is allocated, and for anything
 * headless.
 */
export function importIPs(derived: V1Service | undefined): string[] {
  const spec = derived?.spec;
  if (!spec) return [];
  const ips = spec.clusterIPs && spec.clusterIPs.length > 0 ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
  return ips.filter((ip) => ip !== '' && ip !== 'None').slice(0, 2);
}
