/**
 * Resource types the operator reads and writes, with their REST plural, so no discovery round trip is
 * needed for them. Anything else is found through discovery (KubeClient.resourceFor).
 */
export interface ResourceType {
  apiVersion: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

function rt(apiVersion: string, kind: string, plural: string, namespaced: boolean): ResourceType {
  return { apiVersion, kind, plural, namespaced };
}

export const R = {
  namespace: rt('v1', 'Namespace', 'namespaces', false),
  node: rt('v1', 'Node', 'nodes', false),
  pod: rt('v1', 'Pod', 'pods', true),
  service: rt('v1', 'Service', 'services', true),
  endpoints: rt('v1', 'Endpoints', 'endpoints', true),
  configMap: rt('v1', 'ConfigMap', 'configmaps', true),
  secret: rt('v1', 'Secret', 'secrets', true),
  serviceAccount: rt('v1', 'ServiceAccount', 'serviceaccounts', true),
  event: rt('v1', 'Event', 'events', true),
  deployment: rt('apps/v1', 'Deployment', 'deployments', true),
  daemonSet: rt('apps/v1', 'DaemonSet', 'daemonsets', true),
  clusterRole: rt('rbac.authorization.k8s.io/v1', 'ClusterRole', 'clusterroles', false),
  clusterRoleBinding: rt('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', 'clusterrolebindings', false),
  role: rt('rbac.authorization.k8s.io/v1', 'Role', 'roles', true),
  roleBinding: rt('rbac.authorization.k8s.io/v1', 'RoleBinding', 'rolebindings', true),
  mutatingWebhook: rt('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', 'mutatingwebhookconfigurations', false),
  validatingWebhook: rt('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', 'validatingwebhookconfigurations', false),
  endpointSlice: rt('discovery.k8s.io/v1', 'EndpointSlice', 'endpointslices', true),
  lease: rt('coordination.k8s.io/v1', 'Lease', 'leases', true),
  pdb: rt('policy/v1', 'PodDisruptionBudget', 'poddisruptionbudgets', true),
  hpa: rt('autoscaling/v2', 'HorizontalPodAutoscaler', 'horizontalpodautoscalers', true),
  crd: rt('apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'customresourcedefinitions', false),
  istioOperator: rt('install.istio.io/v1alpha1', 'IstioOperator', 'istiooperators', true),
  revisionTag: rt('install.istio.io/v1alpha1', 'RevisionTag', 'revisiontags', true),
  serviceExport: rt('multicluster.x-k8s.io/v1alpha1', 'ServiceExport', 'serviceexports', true),
  serviceImport: rt('multicluster.x-k8s.io/v1alpha1', 'ServiceImport', 'serviceimports', true),
  clusterProperty: rt('about.k8s.io/v1alpha1', 'ClusterProperty', 'clusterproperties', false),
} as const;

const byGvk = new Map<string, ResourceType>(Object.values(R).map((t) => [`${t.apiVersion}/${t.kind}`, t]));

export function knownResource(apiVersion: string, kind: string): ResourceType | undefined {
  return byGvk.get(`${apiVersion}/${kind}`);
}

/** The REST path of a collection or an object: /api/v1/namespaces/ns/pods/name/status. */
export function resourcePath(t: ResourceType, namespace?: string, name?: string, subresource?: string): string {
  const root = t.apiVersion.includes('/') ? `/apis/${t.apiVersion}` : `/api/${t.apiVersion}`;
  let path = root;
  if (t.namespaced && namespace) path += `/namespaces/${encodeURIComponent(namespace)}`;
  path += `/${t.plural}`;
  if (name) path += `/${encodeURIComponent(name)}`;
  if (name && subresource) path += `/${subresource}`;
  return path;
}

/**
 * The resource a REST path addresses, with its subresource: "serviceimports/status", "namespaces", "events"; the
 * group and namespace are left out. Paths outside /api and /apis (e.g. /readyz) are themselves; a group version
 * alone is "discovery". For the request metrics: a bounded set of values.
 */
export function resourceOfPath(path: string): string {
  const bare = path.split('?')[0] ?? path;
  const segs = bare.split('/').filter((s) => s !== '');
  const skip = segs[0] === 'api' ? 2 : segs[0] === 'apis' ? 3 : -1;
  if (skip < 0) return bare;
  let rest = segs.slice(skip);
  if (rest.length === 0) return 'discovery';
  // namespaces/<ns>/<plural>..., except a namespace's own subresources (namespaces/<name>/status or /finalize).
  if (rest[0] === 'namespaces' && rest.length >= 3 && !NAMESPACE_SUBRESOURCES.has(rest[2] ?? '')) rest = rest.slice(2);
  return rest.length >= 3 ? `${rest[0] ?? ''}/${rest[2] ?? ''}` : (rest[0] ?? '');
}

const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);
