// The base component: the identities and cluster-wide permissions the control plane relies on whether istiod
// runs here or elsewhere (Istio 1.11's base chart, without its CRDs and validation webhook).
//   ServiceAccount istio-reader-service-account + ClusterRole/Binding istio-reader-<ns>: what a remote istiod
//     (through a remote secret) or istioctl reads in this cluster.
//   ServiceAccount istiod-service-account + ClusterRole/Binding istiod-<ns> + Role/Binding istiod-<ns>: the
//     legacy istiod identity that Istio 1.11 still installs for older control planes.
// Istio does not revision these; mizzen adds the -<rev> suffix so two revisions never share (and prune) them.
import { clusterRoleWithBinding, ISTIOD_CLUSTER_RULES, ISTIOD_NAMESPACE_RULES, readerObjects, roleWithBinding, serviceAccount } from './rbac.js';
import type { Install } from '../resolve.js';
import type { KubernetesObject } from '../types.js';

export function renderBase(install: Install): KubernetesObject[] {
  const { namespace: ns, suffix: s } = install;
  const istiod = { app: 'istiod' };
  const istiodSa = `istiod-service-account${s}`;
  const [readerSa, ...readerRbac] = readerObjects(install, 'Base');
  return [
    ...(readerSa ? [readerSa] : []),
    serviceAccount(install, 'Base', istiodSa, ns, istiod),
    ...readerRbac,
    ...clusterRoleWithBinding(install, 'Base', `istiod-${ns}${s}`, ISTIOD_CLUSTER_RULES, { name: istiodSa, namespace: ns }, istiod),
    ...roleWithBinding(install, 'Base', `istiod-${ns}${s}`, ns, ISTIOD_NAMESPACE_RULES, istiodSa, istiod),
  ];
}
