// The istiodRemote component: the data-plane side of a control plane that runs elsewhere. No istiod here; the
// injection webhook calls values.istiodRemote.injectionURL, or (without one) the istiod-remote Service.
//
// With values.global.remotePilotAddress, a Service istiod-remote[-rev] (ports 15012 xds and 443 → 15017
// webhook) stands for the external istiod:
//   an IP address  → a ClusterIP Service without selector plus Endpoints istiod-remote[-rev] with that IP
//                    (ClusterIP rather than Istio's headless Service, so port 443 maps to 15017);
//   a DNS name     → an ExternalName Service; no Endpoints.
// Istio 1.11 names this Service istiod[-rev] when no local istiod exists; mizzen keeps istiod-remote[-rev] so
// the name always says what it is and never collides with a local istiod.
import { booleanOr, isIPv4, isIPv6 } from '../checks.js';
import { isRecord } from '../json.js';
import { applyServiceSettings } from '../k8s.js';
import { meta } from '../objects.js';
import type { Install } from '../resolve.js';
import type { JsonObject, KubernetesObject } from '../types.js';
import { injectorConfigMap, meshConfigMap } from './config.js';
import { clusterRoleWithBinding, ISTIOD_CLUSTER_RULES, ISTIOD_NAMESPACE_RULES, readerObjects, roleWithBinding, serviceAccount } from './rbac.js';
import { injectionWebhookConfiguration, serviceClientConfig } from './webhook.js';

const LABELS = { app: 'istiod', istio: 'istiod-remote' };

function remoteService(install: Install, address: string): KubernetesObject {
  const ip = isIPv4(address) || isIPv6(address);
  const spec: JsonObject = {
    ports: [
      { name: 'tcp-istiod', port: 15012, protocol: 'TCP' },
      { name: 'tcp-webhook', port: 443, protocol: 'TCP', targetPort: 15017 },
    ],
  };
  if (!ip) Object.assign(spec, { externalName: address, type: 'ExternalName' });
  const service: KubernetesObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(install, 'IstiodRemote', `istiod-remote${install.suffix}`, install.namespace, LABELS),
    spec,
  };
  applyServiceSettings(service, install.istiodRemote.k8s, 'components.istiodRemote.k8s');
  return service;
}

function remoteEndpoints(install: Install, ip: string): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: meta(install, 'IstiodRemote', `istiod-remote${install.suffix}`, install.namespace, LABELS),
    subsets: [
      {
        addresses: [{ ip }],
        ports: [
          { name: 'tcp-istiod', port: 15012, protocol: 'TCP' },
          { name: 'tcp-webhook', port: 15017, protocol: 'TCP' },
        ],
      },
    ],
  };
}

function clientConfig(install: Install): JsonObject {
  const { injectionURL, injectionPath } = install.remote;
  if (injectionURL !== undefined) return { url: injectionURL };
  return serviceClientConfig(`istiod-remote${install.suffix}`, install.namespace, injectionPath);
}

/** istiod's ServiceAccount and roles, named as the pilot component names them (never rendered together). */
function istiodIdentity(install: Install): KubernetesObject[] {
  const { namespace: ns, suffix: s } = install;
  const labels = { app: 'istiod' };
  const sa = `istiod${s}`;
  return [
    serviceAccount(install, 'IstiodRemote', sa, ns, labels),
    ...clusterRoleWithBinding(install, 'IstiodRemote', `istiod-clusterrole${s}-${ns}`, ISTIOD_CLUSTER_RULES, { name: sa, namespace: ns }, labels),
    ...roleWithBinding(install, 'IstiodRemote', sa, ns, ISTIOD_NAMESPACE_RULES, sa, labels),
  ];
}

export function renderIstiodRemote(install: Install): KubernetesObject[] {
  const objects = [injectionWebhookConfiguration(install, 'IstiodRemote', clientConfig(install))];
  const pilot = isRecord(install.values.pilot) ? install.values.pilot : {};
  if (booleanOr(pilot.configMap, 'values.pilot.configMap', true)) objects.push(meshConfigMap(install, 'IstiodRemote'));
  if (!booleanOr(install.global.omitSidecarInjectorConfigMap, 'values.global.omitSidecarInjectorConfigMap', false)) {
    objects.push(injectorConfigMap(install, 'IstiodRemote'));
  }
  // The identities the external istiod reads and writes this cluster as (Istio's istiod-remote chart): the reader
  // for a `--type remote` remote secret (base renders it when enabled), and with global.configCluster istiod's own
  // for a `--type config` one.
  if (!install.base.enabled) objects.push(...readerObjects(install, 'IstiodRemote'));
  if (booleanOr(install.global.configCluster, 'values.global.configCluster', false)) objects.push(...istiodIdentity(install));
  const address = install.remote.remotePilotAddress;
  if (address !== undefined) {
    objects.push(remoteService(install, address));
    if (isIPv4(address) || isIPv6(address)) objects.push(remoteEndpoints(install, address));
  }
  return objects;
}
