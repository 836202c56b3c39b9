// Building blocks for rendered objects: metadata with the owner labels, and the order and serialisation that
// make the output deterministic.
import { stringify } from 'yaml';
import { compareStrings, sortKeys, stableJson } from './json.js';
import { COMPONENT_LABEL, MANAGED_BY, MANAGED_BY_LABEL, OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL, REVISION_LABEL } from './labels.js';
import type { Install } from './resolve.js';
import type { ComponentName, KubernetesObject, ObjectMeta } from './types.js';

/** The labels stamped on every object of a component (they win over any the component or an overlay set). */
export function stampLabels(install: Install, component: ComponentName): Record<string, string> {
  return {
    [OWNER_NAME_LABEL]: install.owner.name,
    [OWNER_NAMESPACE_LABEL]: install.owner.namespace,
    [COMPONENT_LABEL]: component,
    [REVISION_LABEL]: install.rev,
    [MANAGED_BY_LABEL]: MANAGED_BY,
  };
}

export function meta(
  install: Install,
  component: ComponentName,
  name: string,
  namespace: string | undefined,
  labels: Record<string, string> = {},
): ObjectMeta {
  const md: ObjectMeta = { name, labels: { ...labels, ...stampLabels(install, component) } };
  if (namespace !== undefined) md.namespace = namespace;
  return md;
}

export function restamp(obj: KubernetesObject, install: Install, component: ComponentName): KubernetesObject {
  return { ...obj, metadata: { ...obj.metadata, labels: { ...(obj.metadata.labels ?? {}), ...stampLabels(install, component) } } };
}

/** A kind the renderer can emit, in the shape the controller's prune and watches use. */
export interface RenderedKind {
  readonly apiVersion: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
}

/** Every kind render() can emit, in apply order. The controller lists these (with ownerSelector) to prune. */
export const RENDERED_KINDS: readonly RenderedKind[] = [
  { apiVersion: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', plural: 'clusterrolebindings', namespaced: false },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', plural: 'roles', namespaced: true },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true },
  { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true },
  { apiVersion: 'v1', kind: 'Service', plural: 'services', namespaced: true },
  { apiVersion: 'v1', kind: 'Endpoints', plural: 'endpoints', namespaced: true },
  { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', namespaced: true },
  { apiVersion: 'apps/v1', kind: 'DaemonSet', plural: 'daemonsets', namespaced: true },
  { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', plural: 'mutatingwebhookconfigurations', namespaced: false },
];

/**
 * Apply order by kind: what others refer to comes first (namespaces, CRDs, identities and RBAC, configuration,
 * services, workloads), webhooks last so they never point at a backend that does not exist yet.
 */
export const KIND_ORDER: readonly string[] = [
  'Namespace',
  'CustomResourceDefinition',
  'ServiceAccount',
  'ClusterRole',
  'ClusterRoleBinding',
  'Role',
  'RoleBinding',
  'ConfigMap',
  'Secret',
  'Service',
  'Endpoints',
  'Deployment',
  'DaemonSet',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
];

function kindRank(kind: string): number {
  const i = KIND_ORDER.indexOf(kind);
  return i < 0 ? KIND_ORDER.length : i;
}

export function compareObjects(a: KubernetesObject, b: KubernetesObject): number {
  return (
    kindRank(a.kind) - kindRank(b.kind) ||
    compareStrings(a.kind, b.kind) ||
    compareStrings(a.metadata.namespace ?? '', b.metadata.namespace ?? '') ||
    compareStrings(a.metadata.name, b.metadata.name) ||
    compareStrings(a.apiVersion, b.apiVersion)
  );
}

/** A sorted copy: by KIND_ORDER (unknown kinds last, by name), then namespace, then name. */
export function sortObjects(objects: readonly KubernetesObject[]): KubernetesObject[] {
  return [...objects].sort(compareObjects);
}

/** Multi-document YAML ("---" between documents), keys sorted, no anchors, no line folding. */
export function toYaml(objects: readonly KubernetesObject[]): string {
  return objects
    .map((obj) => stringify(sortKeys(obj), { sortMapEntries: true, aliasDuplicateObjects: false, lineWidth: 0 }))
    .join('---\n');
}

/** One JSON array of the objects, keys sorted, 2-space indent, trailing newline. */
export function toJson(objects: readonly KubernetesObject[]): string {
  return `${stableJson(objects, 2)}\n`;
}

/** A YAML document for embedding in a ConfigMap (mesh config, injector config): sorted keys, no folding. */
export function yamlText(value: unknown): string {
  return stringify(sortKeys(value), { sortMapEntries: true, aliasDuplicateObjects: false, lineWidth: 0 });
}
