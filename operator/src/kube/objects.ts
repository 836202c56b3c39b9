import type { KubernetesObject } from '@kubernetes/client-node';

/** Metadata of any object with the empty defaults filled in, so callers need no optional chains. */
export interface Meta {
  name: string;
  namespace: string | undefined;
  uid: string | undefined;
  resourceVersion: string | undefined;
  generation: number;
  creationTimestamp: string;
  deleting: boolean;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  finalizers: string[];
}

export function meta(obj: KubernetesObject): Meta {
  const m = obj.metadata ?? {};
  return {
    name: m.name ?? '',
    namespace: m.namespace || undefined,
    uid: m.uid,
    resourceVersion: m.resourceVersion,
    generation: m.generation ?? 0,
    creationTimestamp: m.creationTimestamp ? String(m.creationTimestamp) : '',
    deleting: !!m.deletionTimestamp,
    labels: m.labels ?? {},
    annotations: m.annotations ?? {},
    finalizers: m.finalizers ?? [],
  };
}

/** namespace/name, or name for cluster-scoped objects: the work queue key. */
export function keyOf(obj: KubernetesObject): string {
  const m = meta(obj);
  return m.namespace ? `${m.namespace}/${m.name}` : m.name;
}
