// The cni component: mizzen's node agent (`mizzen agent`), which installs the CNI plugin and its config on every
// node, serves the plugin over a unix socket and repairs pods that started before it was ready.
//
// Objects, in components.cni.namespace (default: the control-plane namespace):
//   ConfigMap istio-cni-config   values.cni.* normalised (cniconfig.ts), one data key per setting
//   DaemonSet istio-cni-node     privileged, hostNetwork, system-node-critical, tolerates every taint; its pod
//                                template carries the ConfigMap's checksum, so any config change rolls it
//   ServiceAccount, ClusterRole, ClusterRoleBinding istio-cni   least privilege for what the config enables
// These names have no revision suffix: like Istio 1.11 there is one CNI agent per cluster, whichever revision
// installs it. Two IstioOperators enabling cni render the same objects; the controller reports the clash.
import { cniConfigToData, type CniConfig } from '../cniconfig.js';
import { checksum } from '../json.js';
import { applyWorkloadSettings } from '../k8s.js';
import { meta } from '../objects.js';
import type { Install } from '../resolve.js';
import type { JsonObject, KubernetesObject } from '../types.js';
import { clusterRoleWithBinding, serviceAccount, type PolicyRule } from './rbac.js';

export const CNI_NAMES = {
  daemonSet: 'istio-cni-node',
  configMap: 'istio-cni-config',
  serviceAccount: 'istio-cni',
  clusterRole: 'istio-cni',
  container: 'install-cni',
} as const;

/** Paths inside the agent container; the host paths come from the config. */
export const CNI_CONTAINER_PATHS = {
  cniBinDir: '/host/opt/cni/bin',
  cniConfDir: '/host/etc/cni/net.d',
  netnsDir: '/host/var/run/netns',
  socketDir: '/var/run/mizzen',
  configDir: '/etc/mizzen/cni',
  cniCacheDir: '/host/var/lib/cni',
} as const;

/**
 * Host directories that are not configurable: network namespaces, the socket between plugin and agent (mounted
 * at the same path, so the conflist entry names it for both), and libcni's result cache, where the agent finds
 * the netns of pods set up before its plugin was chained (repair).
 */
export const CNI_HOST_PATHS = { netnsDir: '/var/run/netns', socketDir: '/var/run/mizzen', cniCacheDir: '/var/lib/cni' } as const;

/** The agent's /healthz, /readyz and /metrics port (host network; Istio's CNI agent uses the same). */
export const CNI_PROBE_PORT = 8000;

/** Pod-template annotation holding the sha256 of the ConfigMap data. */
export const CONFIG_CHECKSUM_ANNOTATION = 'mizzen.dev/config-checksum';

const LABELS = { 'k8s-app': 'istio-cni-node' };

/**
 * Only what the agent does with this config: read pods and nodes, untaint nodes, record events, repair pods, and
 * read its own DaemonSet when it stops (a restart leaves the plugin in place, agent/restart.ts).
 */
export function cniRules(cfg: CniConfig): PolicyRule[] {
  const podVerbs = ['get', 'list', 'watch'];
  if (cfg.repair.enabled && cfg.repair.deletePods) podVerbs.push('delete');
  if (cfg.repair.enabled && cfg.repair.labelPods) podVerbs.push('patch');
  return [
    { apiGroups: [''], resources: ['pods'], verbs: podVerbs },
    { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch', 'patch'] },
    { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
    { apiGroups: ['apps'], resources: ['daemonsets'], verbs: ['get'] },
  ];
}

function hostPath(name: string, path: string, type?: string): JsonObject {
  return { hostPath: type === undefined ? { path } : { path, type }, name };
}

function agentContainer(install: Install): JsonObject {
  const p = CNI_CONTAINER_PATHS;
  return {
    name: CNI_NAMES.container,
    image: install.cniImage,
    command: ['mizzen', 'agent'],
    args: [
      `--config-dir=${p.configDir}`,
      `--cni-bin-dir=${p.cniBinDir}`,
      `--cni-conf-dir=${p.cniConfDir}`,
      `--netns-dir=${p.netnsDir}`,
      `--socket-dir=${p.socketDir}`,
      `--cni-cache-dir=${p.cniCacheDir}`,
      `--probe-addr=:${CNI_PROBE_PORT}`,
    ],
    env: [
      { name: 'NODE_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'spec.nodeName' } } },
      { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
    ],
    // Ready once install-cni has chained the plugin (the agent lifts the node's not-ready taint then, too).
    readinessProbe: { httpGet: { path: '/readyz', port: CNI_PROBE_PORT }, periodSeconds: 5 },
    resources: { requests: { cpu: '100m', memory: '100Mi' } },
    // Root (the image's default user is the operator's 65532): the agent writes the host's CNI directories and
    // programs iptables in pods' network namespaces.
    securityContext: { privileged: true, runAsGroup: 0, runAsUser: 0 },
    volumeMounts: [
      { mountPath: p.cniBinDir, name: 'cni-bin-dir' },
      { mountPath: p.cniConfDir, name: 'cni-net-dir' },
      { mountPath: p.netnsDir, mountPropagation: 'HostToContainer', name: 'cni-netns-dir' },
      { mountPath: p.socketDir, name: 'mizzen-run' },
      { mountPath: p.configDir, name: 'cni-config', readOnly: true },
      { mountPath: p.cniCacheDir, name: 'cni-cache-dir', readOnly: true },
    ],
  };
}

function daemonSet(install: Install, data: Record<string, string>): KubernetesObject {
  const cfg = install.cniConfig;
  const ds: KubernetesObject = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: meta(install, 'Cni', CNI_NAMES.daemonSet, install.cni.namespace, LABELS),
    spec: {
      selector: { matchLabels: LABELS },
      updateStrategy: { rollingUpdate: { maxUnavailable: 1 }, type: 'RollingUpdate' },
      template: {
        metadata: {
          annotations: { [CONFIG_CHECKSUM_ANNOTATION]: `sha256:${checksum(data)}`, 'sidecar.istio.io/inject': 'false' },
          labels: { ...LABELS, 'sidecar.istio.io/inject': 'false' },
        },
        spec: {
          containers: [agentContainer(install)],
          hostNetwork: true,
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          priorityClassName: 'system-node-critical',
          serviceAccountName: CNI_NAMES.serviceAccount,
          terminationGracePeriodSeconds: 5,
          tolerations: [
            { effect: 'NoSchedule', operator: 'Exists' },
            { key: 'CriticalAddonsOnly', operator: 'Exists' },
            { effect: 'NoExecute', operator: 'Exists' },
          ],
          volumes: [
            hostPath('cni-bin-dir', cfg.cniBinDir),
            hostPath('cni-net-dir', cfg.cniConfDir),
            hostPath('cni-netns-dir', CNI_HOST_PATHS.netnsDir),
            hostPath('mizzen-run', CNI_HOST_PATHS.socketDir, 'DirectoryOrCreate'),
            hostPath('cni-cache-dir', CNI_HOST_PATHS.cniCacheDir, 'DirectoryOrCreate'),
            { configMap: { name: CNI_NAMES.configMap }, name: 'cni-config' },
          ],
        },
      },
    },
  };
  applyWorkloadSettings(ds, install.cni.k8s, CNI_NAMES.container, 'components.cni.k8s');
  return ds;
}

export function renderCni(install: Install): KubernetesObject[] {
  const ns = install.cni.namespace;
  const data = cniConfigToData(install.cniConfig);
  const labels = { app: 'istio-cni' };
  return [
    serviceAccount(install, 'Cni', CNI_NAMES.serviceAccount, ns, labels),
    ...clusterRoleWithBinding(install, 'Cni', CNI_NAMES.clusterRole, cniRules(install.cniConfig), { name: CNI_NAMES.serviceAccount, namespace: ns }, labels),
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(install, 'Cni', CNI_NAMES.configMap, ns, labels), data },
    daemonSet(install, data),
  ];
}
