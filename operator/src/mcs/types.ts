// Inputs, outputs and constants of the pure Multi-Cluster Services core (KEP-1645, sigs.k8s.io/mcs-api v0.5.0).
//
// Every member cluster's mizzen instance runs these functions over the same snapshots and gets the same answer,
// so every list is sorted and every name is derived from content, never from input order, time or randomness.
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import type { ServiceExport, ServiceExportV1beta1, ServiceImport } from '../api/index.js';

/** A ServiceExport as either served version returns it (the two schemas are identical). */
export type AnyServiceExport = ServiceExport | ServiceExportV1beta1;

/** namespace/name of a multi-cluster service: the ServiceExports, the Services and the ServiceImport share it. */
export interface ServiceKey {
  readonly namespace: string;
  readonly name: string;
}

/** "namespace/name" */
export function keyString(key: ServiceKey): string {
  return `${key.namespace}/${key.name}`;
}

/** What one cluster holds that MCS reads: plain JSON objects as the API server returns them. */
export interface ClusterState {
  /** Names of the namespaces that exist in the cluster. */
  readonly namespaces: readonly string[];
  readonly serviceExports: readonly AnyServiceExport[];
  readonly services: readonly V1Service[];
  readonly endpointSlices: readonly V1EndpointSlice[];
}

/**
 * One member cluster as its mizzen instance sees it right now. `reachable` is false when the API server could
 * not be reached, `synced` false while its caches have not completed their first LIST. A snapshot that is not
 * both is never read as "exports nothing": the planner uses `lastKnownGood` (the last snapshot that was both),
 * or, without one, leaves every local object that depends on the cluster untouched.
 */
export interface ClusterSnapshot extends ClusterState {
  readonly clusterId: string;
  readonly reachable: boolean;
  readonly synced: boolean;
  readonly lastKnownGood?: ClusterState | undefined;
}

/** The objects in the local cluster that the MCS controller owns (found by MCS_OBJECT_LABEL), as live. */
export interface LocalLiveState {
  readonly serviceImports: readonly ServiceImport[];
  readonly derivedServices: readonly V1Service[];
  readonly endpointSlices: readonly V1EndpointSlice[];
}

// ---- label and annotation keys -------------------------------------------------------------------------------

/** mcs-api v1beta1 well_known_labels.go LabelServiceName: the ServiceImport an EndpointSlice belongs to. */
export const LABEL_SERVICE_NAME = 'multicluster.kubernetes.io/service-name';
/** mcs-api v1beta1 well_known_labels.go LabelSourceCluster: the cluster the slice's endpoints come from. */
export const LABEL_SOURCE_CLUSTER = 'multicluster.kubernetes.io/source-cluster';
/** discovery/v1 LabelManagedBy: keeps the EndpointSlice controller's hands off our slices. */
export const LABEL_ENDPOINTSLICE_MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';
/** Its value on our slices. A label value cannot contain "/", hence the reverse-DNS form the core controllers use. */
export const ENDPOINTSLICE_MANAGED_BY = 'mcs-controller.mizzen.io';
/** discovery/v1 LabelServiceName: ties a slice to the Service kube-proxy programs it for. */
export const LABEL_KUBERNETES_SERVICE_NAME = 'kubernetes.io/service-name';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'mizzen';
/** What an object is to the MCS controller; the controller lists its objects with `mizzen.io/mcs-object`. */
export const MCS_OBJECT_LABEL = 'mizzen.io/mcs-object';
export type McsObjectRole = 'service-import' | 'derived-service' | 'endpoint-slice';
/** mcs-api controllers/common.go DerivedServiceAnnotation: set on a ServiceImport, names its derived Service. */
export const ANNOTATION_DERIVED_SERVICE = 'multicluster.kubernetes.io/derived-service';

/**
 * Set on a ServiceImport whose union of ports had to name a port that is unnamed in the exporters' Services (a
 * Service with several ports needs every one named); its value is that name. The mirrored slices' ports named ""
 * take it too, so kube-proxy matches them to the derived Service's port. Read back while the import is frozen.
 */
export const ANNOTATION_UNNAMED_PORT = 'mizzen.io/unnamed-port-name';

/** At most this many endpoints per EndpointSlice, the EndpointSlice controller's default. */
export const MAX_ENDPOINTS_PER_SLICE = 100;

// ---- conditions (mcs-api v0.5.0 pkg/apis/v1beta1/serviceexport.go and serviceimport.go) ---------------------------

export const ConditionType = {
  Valid: 'Valid',
  Ready: 'Ready',
  Conflict: 'Conflict',
  /**
   * mizzen's own ServiceImport condition: whether every cluster the import depends on (its exporters, and any
   * cluster it still has slices from) is synced, or the import is built from a last known state.
   */
  ClustersSynced: 'ClustersSynced',
} as const;

export const ExportReason = {
  Valid: 'Valid',
  NoService: 'NoService',
  InvalidServiceType: 'InvalidServiceType',
  Ready: 'Ready',
  Pending: 'Pending',
  Failed: 'Failed',
  NoConflicts: 'NoConflicts',
  PortConflict: 'PortConflict',
  TypeConflict: 'TypeConflict',
  SessionAffinityConflict: 'SessionAffinityConflict',
  SessionAffinityConfigConflict: 'SessionAffinityConfigConflict',
  InternalTrafficPolicyConflict: 'InternalTrafficPolicyConflict',
  TrafficDistributionConflict: 'TrafficDistributionConflict',
  IPFamilyConflict: 'IPFamilyConflict',
  LabelsConflict: 'LabelsConflict',
  AnnotationsConflict: 'AnnotationsConflict',
} as const;
export type ExportReason = (typeof ExportReason)[keyof typeof ExportReason];

export const ImportReason = {
  Ready: 'Ready',
  Pending: 'Pending',
  /** ClustersSynced=True */
  Synced: 'Synced',
  /** ClustersSynced=False: at least one cluster cannot be reached. */
  ClusterUnreachable: 'ClusterUnreachable',
  /** ClustersSynced=False: every such cluster is reachable, but one's caches have not synced. */
  ClusterNotSynced: 'ClusterNotSynced',
  /** Ready=False: the API server rejected the derived Service (the message says why). */
  DerivedServiceRejected: 'DerivedServiceRejected',
} as const;

/** mcs-api: "When multiple conflicts occurs the above reasons may be combined using commas." */
export const REASON_SEPARATOR = ',';

export type ImportType = 'ClusterSetIP' | 'Headless';

/** A port of a ServiceImport, normalised: protocol defaulted to TCP, an empty name left out. */
export interface ImportPort {
  name?: string;
  protocol: string;
  port: number;
  appProtocol?: string;
}

/** A reference to a local object the controller should delete. */
export interface ObjectRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}
