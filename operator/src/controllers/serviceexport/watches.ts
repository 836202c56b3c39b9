// Which multi-cluster service an object concerns: the work queue key "namespace/name" that the ServiceExport, its
// Service, the ServiceImport and (through labels) the EndpointSlices and the derived Service share. Pure: the
// same mapping is used for events from the local cluster and from every peer.
import type { KubernetesObject } from '@kubernetes/client-node';
import {
  isImportedSlice,
  LABEL_KUBERNETES_SERVICE_NAME,
  LABEL_MANAGED_BY,
  LABEL_SERVICE_NAME,
  MANAGED_BY,
  MCS_OBJECT_LABEL,
  type McsObjectRole,
} from '../../mcs/index.js';

function nsName(namespace: string | undefined, name: string | undefined): string[] {
  return namespace && name ? [`${namespace}/${name}`] : [];
}

/** Whether mizzen's MCS controller owns the object in the given role (the labels the core puts on it). */
export function isMcsObject(obj: KubernetesObject, role: McsObjectRole): boolean {
  const labels = obj.metadata?.labels ?? {};
  return labels[LABEL_MANAGED_BY] === MANAGED_BY && labels[MCS_OBJECT_LABEL] === role;
}

/** A ServiceExport, a Service or a ServiceImport: its own namespace/name. A derived Service: its import's. */
export function serviceKeys(obj: KubernetesObject): string[] {
  const md = obj.metadata;
  if (obj.kind === 'Service' && isMcsObject(obj, 'derived-service')) return nsName(md?.namespace, md?.labels?.[LABEL_SERVICE_NAME]);
  return nsName(md?.namespace, md?.name);
}

/**
 * An EndpointSlice: an imported one belongs to the import named by multicluster.kubernetes.io/service-name; any
 * other to the Service named by kubernetes.io/service-name (the source slices an export mirrors).
 */
export function sliceKeys(obj: KubernetesObject): string[] {
  const md = obj.metadata;
  const labels = md?.labels ?? {};
  if (isImportedSlice(obj as Parameters<typeof isImportedSlice>[0])) return nsName(md?.namespace, labels[LABEL_SERVICE_NAME]);
  return nsName(md?.namespace, labels[LABEL_KUBERNETES_SERVICE_NAME]);
}

/** The service key of a source (not imported) slice, for the index of slices by service. */
export function sourceSliceKey(obj: KubernetesObject): string | undefined {
  if (isImportedSlice(obj as Parameters<typeof isImportedSlice>[0])) return undefined;
  return nsName(obj.metadata?.namespace, obj.metadata?.labels?.[LABEL_KUBERNETES_SERVICE_NAME])[0];
}

/** The service key of a slice mizzen imported, for the index of managed slices by service. */
export function managedSliceKey(obj: KubernetesObject): string | undefined {
  if (!isMcsObject(obj, 'endpoint-slice')) return undefined;
  return nsName(obj.metadata?.namespace, obj.metadata?.labels?.[LABEL_SERVICE_NAME])[0];
}

/** "ns/name" → { namespace, name }. */
export function parseKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
