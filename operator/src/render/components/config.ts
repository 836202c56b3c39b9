// The control plane's ConfigMaps, shared by pilot (istiod here) and istiodRemote (istiod elsewhere):
//   istio[-rev]                  data.mesh: MeshConfig YAML (Istio's defaults under spec.meshConfig),
//                                data.meshNetworks
//   istio-sidecar-injector[-rev] data.values: the Helm values as JSON (hub, tag, revision, istio_cni.enabled…),
//                                data.config: injection policy and selectors
import { clone, isRecord, stableJson } from '../json.js';
import { overlay } from '../merge.js';
import { meta, yamlText } from '../objects.js';
import type { Install } from '../resolve.js';
import type { ComponentName, KubernetesObject } from '../types.js';

/** Where proxies find istiod: the local istiod Service, or the istiod-remote Service in front of an external one. */
export function discoveryAddress(install: Install): string | undefined {
  const { namespace: ns, suffix: s } = install;
  if (install.pilot.enabled) return `istiod${s}.${ns}.svc:15012`;
  if (install.remote.remotePilotAddress !== undefined) return `istiod-remote${s}.${ns}.svc:15012`;
  return undefined;
}

export function meshConfig(install: Install): Record<string, unknown> {
  const ns = install.namespace;
  const address = discoveryAddress(install);
  const defaults = {
    defaultConfig: {
      ...(address === undefined ? {} : { discoveryAddress: address }),
      proxyMetadata: {},
      tracing: { zipkin: { address: `zipkin.${ns}:9411` } },
    },
    enablePrometheusMerge: true,
    rootNamespace: ns,
    trustDomain: 'cluster.local',
  };
  return overlay(defaults, install.meshConfig) as Record<string, unknown>;
}

export function meshConfigMap(install: Install, component: ComponentName): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(install, component, `istio${install.suffix}`, install.namespace, { app: 'istiod', release: 'istio' }),
    data: { mesh: yamlText(meshConfig(install)), meshNetworks: 'networks: {}\n' },
  };
}

/** The values the injector templates see: the merged values with what the renderer decided filled in. */
export function injectorValues(install: Install): Record<string, unknown> {
  const values = clone(install.values);
  // The node agent's settings are not the injector's business; keeping them out means a CNI change does not
  // touch istiod's ConfigMap. istio_cni below is what the injection templates read.
  delete values.cni;
  const global = isRecord(values.global) ? values.global : {};
  values.global = { ...global, hub: install.hub, tag: install.tag, istioNamespace: install.namespace };
  values.istio_cni = { enabled: install.cni.enabled, chained: install.cniConfig.chained };
  values.revision = install.revision ?? '';
  return values;
}

function injectorConfig(install: Install): Record<string, unknown> {
  const webhook = isRecord(install.values.sidecarInjectorWebhook) ? install.values.sidecarInjectorWebhook : {};
  const proxy = isRecord(install.global.proxy) ? install.global.proxy : {};
  return {
    alwaysInjectSelector: webhook.alwaysInjectSelector ?? [],
    defaultTemplates: ['sidecar'],
    injectedAnnotations: webhook.injectedAnnotations ?? {},
    neverInjectSelector: webhook.neverInjectSelector ?? [],
    policy: proxy.autoInject === 'disabled' ? 'disabled' : 'enabled',
  };
}

export function injectorConfigMap(install: Install, component: ComponentName): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(install, component, `istio-sidecar-injector${install.suffix}`, install.namespace, { app: 'sidecar-injector', release: 'istio' }),
    data: { config: yamlText(injectorConfig(install)), values: `${stableJson(injectorValues(install), 2)}\n` },
  };
}
