// RBAC objects and the rule sets of Istio 1.11's charts (base and istio-discovery).
import { meta } from '../objects.js';
import type { Install } from '../resolve.js';
import type { ComponentName, KubernetesObject } from '../types.js';

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

const rule = (apiGroups: string[], resources: string[], verbs: string[]): PolicyRule => ({ apiGroups, resources, verbs });

const READ = ['get', 'list', 'watch'];
const ISTIO_CONFIG_GROUPS = ['config.istio.io', 'security.istio.io', 'networking.istio.io', 'authentication.istio.io', 'rbac.istio.io', 'telemetry.istio.io'];

/** istiod's cluster-wide permissions (istio-discovery/templates/clusterrole.yaml, 1.11). */
export const ISTIOD_CLUSTER_RULES: readonly PolicyRule[] = [
  rule(['admissionregistration.k8s.io'], ['mutatingwebhookconfigurations'], ['get', 'list', 'watch', 'update', 'patch']),
  rule(['admissionregistration.k8s.io'], ['validatingwebhookconfigurations'], ['get', 'list', 'watch', 'update']),
  rule(ISTIO_CONFIG_GROUPS, ['*'], READ),
  rule(['networking.istio.io'], ['workloadentries', 'workloadentries/status'], ['get', 'watch', 'list', 'update', 'patch', 'create', 'delete']),
  rule(['apiextensions.k8s.io'], ['customresourcedefinitions'], READ),
  rule([''], ['pods', 'nodes', 'services', 'namespaces', 'endpoints'], READ),
  rule(['discovery.k8s.io'], ['endpointslices'], READ),
  rule(['networking.k8s.io'], ['ingresses', 'ingressclasses'], READ),
  rule(['networking.k8s.io'], ['ingresses/status'], ['*']),
  rule([''], ['configmaps'], ['create', 'get', 'list', 'watch', 'update']),
  rule(['certificates.k8s.io'], ['certificatesigningrequests', 'certificatesigningrequests/approval', 'certificatesigningrequests/status'], ['update', 'create', 'get', 'delete', 'watch']),
  { apiGroups: ['certificates.k8s.io'], resources: ['signers'], resourceNames: ['kubernetes.io/legacy-unknown'], verbs: ['approve'] },
  rule(['authentication.k8s.io'], ['tokenreviews'], ['create']),
  rule(['authorization.k8s.io'], ['subjectaccessreviews'], ['create']),
  rule(['networking.x-k8s.io', 'gateway.networking.k8s.io'], ['*'], READ),
  rule(['networking.x-k8s.io', 'gateway.networking.k8s.io'], ['*'], ['update']),
  rule([''], ['secrets'], READ),
  rule(['multicluster.x-k8s.io'], ['serviceexports'], ['get', 'watch', 'list', 'create', 'delete']),
  rule(['multicluster.x-k8s.io'], ['serviceimports'], READ),
];

/** istiod's permissions in its own namespace (istio-discovery/templates/role.yaml, 1.11). */
export const ISTIOD_NAMESPACE_RULES: readonly PolicyRule[] = [
  rule(['networking.istio.io'], ['gateways'], ['create']),
  rule([''], ['secrets'], ['create', 'get', 'watch', 'list', 'update', 'delete']),
];

/**
 * What a remote istiod (or istioctl) may read through istio-reader-service-account (base chart, 1.11), except
 * Secrets: Istio's reader role grants get/list/watch on every Secret of the cluster, so a `--type remote` remote
 * secret leaked from the external cluster would read them all. mizzen leaves them out (ADR 0008).
 */
export const READER_RULES: readonly PolicyRule[] = [
  rule(ISTIO_CONFIG_GROUPS.filter((g) => g !== 'telemetry.istio.io'), ['*'], READ),
  rule([''], ['endpoints', 'pods', 'services', 'nodes', 'replicationcontrollers', 'namespaces'], READ),
  rule(['networking.istio.io'], ['workloadentries'], READ),
  rule(['apiextensions.k8s.io'], ['customresourcedefinitions'], READ),
  rule(['discovery.k8s.io'], ['endpointslices'], READ),
  rule(['apps'], ['replicasets'], READ),
  rule(['authentication.k8s.io'], ['tokenreviews'], ['create']),
  rule(['authorization.k8s.io'], ['subjectaccessreviews'], ['create']),
  rule(['multicluster.x-k8s.io'], ['serviceexports'], READ),
  rule(['multicluster.x-k8s.io'], ['serviceimports'], READ),
];

/**
 * What the reader also needs in the data-plane cluster of an external control plane (Istio's reader role with
 * istiodRemote enabled): the external istiod patches the caBundle of this cluster's injection webhook and writes
 * its root certificate ConfigMaps here through the remote secret.
 */
export const READER_REMOTE_RULES: readonly PolicyRule[] = [
  rule([''], ['configmaps'], ['create', 'get', 'list', 'watch', 'update']),
  rule(['admissionregistration.k8s.io'], ['mutatingwebhookconfigurations'], ['get', 'list', 'watch', 'update', 'patch']),
];

const RBAC = 'rbac.authorization.k8s.io/v1';

export function serviceAccount(install: Install, component: ComponentName, name: string, namespace: string, labels: Record<string, string>): KubernetesObject {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(install, component, name, namespace, labels) };
}

/** A ClusterRole and the ClusterRoleBinding (same name) that grants it to a ServiceAccount. */
export function clusterRoleWithBinding(
  install: Install,
  component: ComponentName,
  name: string,
  rules: readonly PolicyRule[],
  subject: { name: string; namespace: string },
  labels: Record<string, string>,
): KubernetesObject[] {
  return [
    { apiVersion: RBAC, kind: 'ClusterRole', metadata: meta(install, component, name, undefined, labels), rules: [...rules] },
    {
      apiVersion: RBAC,
      kind: 'ClusterRoleBinding',
      metadata: meta(install, component, name, undefined, labels),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name: subject.name, namespace: subject.namespace }],
    },
  ];
}

/** A Role and the RoleBinding (same name) that grants it to a ServiceAccount of the same namespace. */
export function roleWithBinding(
  install: Install,
  component: ComponentName,
  name: string,
  namespace: string,
  rules: readonly PolicyRule[],
  subject: string,
  labels: Record<string, string>,
): KubernetesObject[] {
  return [
    { apiVersion: RBAC, kind: 'Role', metadata: meta(install, component, name, namespace, labels), rules: [...rules] },
    {
      apiVersion: RBAC,
      kind: 'RoleBinding',
      metadata: meta(install, component, name, namespace, labels),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name: subject, namespace }],
    },
  ];
}

/** The reader's rules for this install: READER_RULES, plus READER_REMOTE_RULES where istiod runs elsewhere. */
export function readerRules(install: Install): PolicyRule[] {
  return install.istiodRemote.enabled ? [...READER_RULES, ...READER_REMOTE_RULES] : [...READER_RULES];
}

/** The reader ServiceAccount and its ClusterRole/Binding: what a `--type remote` remote secret authenticates as. */
export function readerObjects(install: Install, component: ComponentName): KubernetesObject[] {
  const { namespace: ns, suffix: s } = install;
  const labels = { app: 'istio-reader' };
  const sa = `istio-reader-service-account${s}`;
  return [serviceAccount(install, component, sa, ns, labels), ...clusterRoleWithBinding(install, component, `istio-reader-${ns}${s}`, readerRules(install), { name: sa, namespace: ns }, labels)];
}
