// mizzen's API: the custom resource types generated from crds/*.yaml under friendly names, the
// group/version/kind/plural of each kind the controllers watch, and validation.
import type { CrdKey } from './generated/schemas.js';

export type {
  IstioOperator,
  IstioOperatorSpec,
  IstioOperatorStatus,
  IstioComponentSetSpec,
  BaseComponentSpec,
  ComponentSpec,
  GatewaySpec,
  KubernetesResourcesSpec,
  ObjectOverlay,
  ObjectOverlayPatch,
  IstioValues,
  CniValues,
  GlobalValues,
  InstallComponentStatus,
  Condition,
} from './generated/install.istio.io.v1alpha1.istiooperator.js';
export type { RevisionTag, RevisionTagSpec, RevisionTagStatus } from './generated/install.istio.io.v1alpha1.revisiontag.js';
export type {
  ServiceExport,
  ServiceExportSpec,
  ServiceExportStatus,
} from './generated/multicluster.x-k8s.io.v1alpha1.serviceexport.js';
export type {
  ServiceExport as ServiceExportV1beta1,
  ServiceExportSpec as ServiceExportSpecV1beta1,
  ServiceExportStatus as ServiceExportStatusV1beta1,
} from './generated/multicluster.x-k8s.io.v1beta1.serviceexport.js';
export type {
  ServiceImport,
  ServiceImportSpec,
  ServiceImportStatus,
} from './generated/multicluster.x-k8s.io.v1alpha1.serviceimport.js';
export type {
  ServiceImport as ServiceImportV1beta1,
  ServiceImportSpec as ServiceImportSpecV1beta1,
  ServiceImportStatus as ServiceImportStatusV1beta1,
} from './generated/multicluster.x-k8s.io.v1beta1.serviceimport.js';
export type { ClusterProperty, ClusterPropertySpec } from './generated/about.k8s.io.v1alpha1.clusterproperty.js';

export { crdVersions, schemas, type CrdKey, type CrdVersionInfo } from './generated/schemas.js';
export { validate, type ValidationResult } from './validate.js';
export { checkCniRepair, normalizeCniRepair, type CniRepair, type CniRepairConfig } from './cni-repair.js';

/** Where a kind lives in the API: what a controller needs to watch, list and apply it. */
export interface GroupVersionKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
}

export const IstioOperatorGVK = {
  group: 'install.istio.io',
  version: 'v1alpha1',
  kind: 'IstioOperator',
  plural: 'istiooperators',
  namespaced: true,
} as const satisfies GroupVersionKind;

export const RevisionTagGVK = {
  group: 'install.istio.io',
  version: 'v1alpha1',
  kind: 'RevisionTag',
  plural: 'revisiontags',
  namespaced: true,
} as const satisfies GroupVersionKind;

/**
 * The MCS kinds are used at v1alpha1, which every mcs-api release serves (v0.5.0 serves v1beta1 too, with the
 * same schema, and stores v1beta1). The v1beta1 constants are for clusters where only that is served.
 */
export const ServiceExportGVK = {
  group: 'multicluster.x-k8s.io',
  version: 'v1alpha1',
  kind: 'ServiceExport',
  plural: 'serviceexports',
  namespaced: true,
} as const satisfies GroupVersionKind;

export const ServiceExportV1beta1GVK = { ...ServiceExportGVK, version: 'v1beta1' } as const satisfies GroupVersionKind;

export const ServiceImportGVK = {
  group: 'multicluster.x-k8s.io',
  version: 'v1alpha1',
  kind: 'ServiceImport',
  plural: 'serviceimports',
  namespaced: true,
} as const satisfies GroupVersionKind;

export const ServiceImportV1beta1GVK = { ...ServiceImportGVK, version: 'v1beta1' } as const satisfies GroupVersionKind;

export const ClusterPropertyGVK = {
  group: 'about.k8s.io',
  version: 'v1alpha1',
  kind: 'ClusterProperty',
  plural: 'clusterproperties',
  namespaced: false,
} as const satisfies GroupVersionKind;

/** Every kind and version defined in crds/. */
export const allGVKs: readonly GroupVersionKind[] = [
  IstioOperatorGVK,
  RevisionTagGVK,
  ServiceExportGVK,
  ServiceExportV1beta1GVK,
  ServiceImportGVK,
  ServiceImportV1beta1GVK,
  ClusterPropertyGVK,
];

/** "group/version", the apiVersion of objects of this kind. */
export function apiVersionOf(gvk: Pick<GroupVersionKind, 'group' | 'version'>): string {
  return `${gvk.group}/${gvk.version}`;
}

/** "group/version/Kind", the key of this kind's schema in `schemas`. */
export function crdKeyOf(gvk: Pick<GroupVersionKind, 'group' | 'version' | 'kind'>): CrdKey {
  return `${gvk.group}/${gvk.version}/${gvk.kind}` as CrdKey;
}
