import type { KubernetesObject } from '@kubernetes/client-node';
import { R, type ResourceType } from '../../kube/resources.js';
import { RENDERED_KINDS } from '../../render/index.js';

export const OWNER_NAME_LABEL = 'install.operator.istio.io/owning-resource';
export const OWNER_NAMESPACE_LABEL = 'install.operator.istio.io/owning-resource-namespace';
export const MANAGED_BY_SELECTOR = 'app.kubernetes.io/managed-by=mizzen';

/**
 * Every kind the renderer can emit, plus the remote secrets kept from the cluster membership (remotesecrets.ts):
 * watched for drift, listed for prune and cleanup.
 */
export const managedTypes: readonly ResourceType[] = [...RENDERED_KINDS, R.secret];

/** A child maps back to its IstioOperator through the owner labels. */
export function ownerKeys(obj: KubernetesObject): string[] {
  const labels = obj.metadata?.labels ?? {};
  const name = labels[OWNER_NAME_LABEL];
  const ns = labels[OWNER_NAMESPACE_LABEL];
  return name && ns ? [`${ns}/${name}`] : [];
}

export function typeOf(obj: KubernetesObject): ResourceType | undefined {
  return managedTypes.find((t) => t.kind === obj.kind && t.apiVersion === obj.apiVersion);
}
