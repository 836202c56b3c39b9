// The pilot component: istiod for this revision (Istio 1.11's istio-control/istio-discovery chart, without the
// HPA, PDB, telemetry EnvoyFilters and validation webhook).
import { integerValue } from '../valuetypes.js';
import { scalarText } from '../checks.js';
import { isRecord } from '../json.js';
import { applyServiceSettings, applyWorkloadSettings } from '../k8s.js';
import { meta } from '../objects.js';
import type { Install } from '../resolve.js';
import type { JsonObject, KubernetesObject } from '../types.js';
import { injectorConfigMap, meshConfigMap } from './config.js';
import { clusterRoleWithBinding, ISTIOD_CLUSTER_RULES, ISTIOD_NAMESPACE_RULES, roleWithBinding, serviceAccount } from './rbac.js';
import { injectionWebhookConfiguration, serviceClientConfig, webhookConfigName } from './webhook.js';

const fieldRef = (name: string, path: string): JsonObject => ({ name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: path } } });

function pilotValues(install: Install): Record<string, unknown> {
  return isRecord(install.values.pilot) ? install.values.pilot : {};
}

/** values.pilot.env (a map) as env vars, sorted by name so the output does not depend on key order. */
function valuesEnv(install: Install): JsonObject[] {
  const env = pilotValues(install).env;
  if (!isRecord(env)) return [];
  return Object.keys(env)
    .sort()
    .map((name) => ({ name, value: scalarText(env[name], `values.pilot.env.${name}`, '') }));
}

function istiodEnv(install: Install): JsonObject[] {
  const { namespace: ns, suffix: s } = install;
  const pilot = pilotValues(install);
  return [
    { name: 'REVISION', value: install.rev },
    { name: 'JWT_POLICY', value: scalarText(install.global.jwtPolicy, 'values.global.jwtPolicy', 'third-party-jwt') },
    { name: 'PILOT_CERT_PROVIDER', value: scalarText(install.global.pilotCertProvider, 'values.global.pilotCertProvider', 'istiod') },
    fieldRef('POD_NAME', 'metadata.name'),
    fieldRef('POD_NAMESPACE', 'metadata.namespace'),
    fieldRef('SERVICE_ACCOUNT', 'spec.serviceAccountName'),
    { name: 'KUBECONFIG', value: '/var/run/secrets/remote/config' },
    { name: 'PILOT_TRACE_SAMPLING', value: scalarText(pilot.traceSampling, 'values.pilot.traceSampling', '1') },
    { name: 'PILOT_ENABLE_PROTOCOL_SNIFFING_FOR_OUTBOUND', value: scalarText(pilot.enableProtocolSniffingForOutbound, 'values.pilot.enableProtocolSniffingForOutbound', 'true') },
    { name: 'PILOT_ENABLE_PROTOCOL_SNIFFING_FOR_INBOUND', value: scalarText(pilot.enableProtocolSniffingForInbound, 'values.pilot.enableProtocolSniffingForInbound', 'true') },
    { name: 'ISTIOD_ADDR', value: `istiod${s}.${ns}.svc:15012` },
    { name: 'PILOT_ENABLE_ANALYSIS', value: 'false' },
    { name: 'CLUSTER_ID', value: install.clusterName },
    { name: 'INJECTION_WEBHOOK_CONFIG_NAME', value: webhookConfigName(install) },
    ...valuesEnv(install),
  ];
}

function selectorLabels(install: Install): Record<string, string> {
  return { app: 'istiod', 'istio.io/rev': install.rev };
}

function istiodContainer(install: Install): JsonObject {
  const pilot = pilotValues(install);
  const image = scalarText(pilot.image, 'values.pilot.image', 'pilot');
  const logging = isRecord(install.global.logging) ? install.global.logging : {};
  return {
    name: 'discovery',
    image: image.includes('/') ? image : `${install.pilot.hub}/${image}:${install.pilot.tag}`,
    args: [
      'discovery',
      '--monitoringAddr=:15014',
      `--log_output_level=${scalarText(logging.level, 'values.global.logging.level', 'default:info')}`,
      '--domain',
      'cluster.local',
      '--keepaliveMaxServerConnectionAge',
      scalarText(pilot.keepaliveMaxServerConnectionAge, 'values.pilot.keepaliveMaxServerConnectionAge', '30m'),
    ],
    env: istiodEnv(install),
    ports: [
      { containerPort: 8080, name: 'http-debug', protocol: 'TCP' },
      { containerPort: 15010, name: 'grpc-xds', protocol: 'TCP' },
      { containerPort: 15012, name: 'tls-xds', protocol: 'TCP' },
      { containerPort: 15014, name: 'http-monitoring', protocol: 'TCP' },
      { containerPort: 15017, name: 'https-webhooks', protocol: 'TCP' },
    ],
    readinessProbe: { httpGet: { path: '/ready', port: 8080 }, initialDelaySeconds: 1, periodSeconds: 3, timeoutSeconds: 5 },
    resources: pilot.resources ?? { requests: { cpu: '500m', memory: '2048Mi' } },
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      readOnlyRootFilesystem: true,
      runAsGroup: 1337,
      runAsNonRoot: true,
      runAsUser: 1337,
    },
    volumeMounts: [
      { mountPath: '/var/run/secrets/tokens', name: 'istio-token', readOnly: true },
      { mountPath: '/var/run/secrets/istio-dns', name: 'local-certs' },
      { mountPath: '/etc/cacerts', name: 'cacerts', readOnly: true },
      { mountPath: '/var/run/secrets/remote', name: 'istio-kubeconfig', readOnly: true },
      { mountPath: '/etc/istio/config', name: 'config-volume' },
      { mountPath: '/var/lib/istio/inject', name: 'inject' },
    ],
  };
}

function istiodVolumes(install: Install): JsonObject[] {
  const s = install.suffix;
  return [
    { emptyDir: { medium: 'Memory' }, name: 'local-certs' },
    { name: 'istio-token', projected: { sources: [{ serviceAccountToken: { audience: 'istio-ca', expirationSeconds: 43200, path: 'istio-token' } }] } },
    { name: 'cacerts', secret: { optional: true, secretName: 'cacerts' } },
    { name: 'istio-kubeconfig', secret: { optional: true, secretName: 'istio-kubeconfig' } },
    { configMap: { name: `istio${s}` }, name: 'config-volume' },
    { configMap: { name: `istio-sidecar-injector${s}` }, name: 'inject' },
  ];
}

function istiodDeployment(install: Install): KubernetesObject {
  const { namespace: ns, suffix: s } = install;
  const labels = { ...selectorLabels(install), istio: 'pilot' };
  const replicas = pilotValues(install).replicaCount;
  const deployment: KubernetesObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(install, 'Pilot', `istiod${s}`, ns, labels),
    spec: {
      replicas: integerValue(replicas) ?? 1,
      selector: { matchLabels: selectorLabels(install) },
      strategy: { rollingUpdate: { maxSurge: '100%', maxUnavailable: '25%' } },
      template: {
        metadata: {
          annotations: { 'prometheus.io/port': '15014', 'prometheus.io/scrape': 'true', 'sidecar.istio.io/inject': 'false' },
          labels: { ...labels, 'operator.istio.io/component': 'Pilot', 'sidecar.istio.io/inject': 'false' },
        },
        spec: {
          containers: [istiodContainer(install)],
          securityContext: { fsGroup: 1337 },
          serviceAccountName: `istiod${s}`,
          volumes: istiodVolumes(install),
        },
      },
    },
  };
  applyWorkloadSettings(deployment, install.pilot.k8s, 'discovery', 'components.pilot.k8s');
  return deployment;
}

function istiodService(install: Install): KubernetesObject {
  const { namespace: ns, suffix: s } = install;
  const service: KubernetesObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(install, 'Pilot', `istiod${s}`, ns, { app: 'istiod', istio: 'pilot' }),
    spec: {
      ports: [
        { name: 'grpc-xds', port: 15010, protocol: 'TCP' },
        { name: 'https-dns', port: 15012, protocol: 'TCP' },
        { name: 'https-webhook', port: 443, protocol: 'TCP', targetPort: 15017 },
        { name: 'http-monitoring', port: 15014, protocol: 'TCP' },
      ],
      selector: selectorLabels(install),
    },
  };
  applyServiceSettings(service, install.pilot.k8s, 'components.pilot.k8s');
  return service;
}

export function renderPilot(install: Install): KubernetesObject[] {
  const { namespace: ns, suffix: s } = install;
  const labels = { app: 'istiod', release: 'istio' };
  return [
    serviceAccount(install, 'Pilot', `istiod${s}`, ns, labels),
    ...clusterRoleWithBinding(install, 'Pilot', `istiod-clusterrole${s}-${ns}`, ISTIOD_CLUSTER_RULES, { name: `istiod${s}`, namespace: ns }, labels),
    ...roleWithBinding(install, 'Pilot', `istiod${s}`, ns, ISTIOD_NAMESPACE_RULES, `istiod${s}`, labels),
    meshConfigMap(install, 'Pilot'),
    injectorConfigMap(install, 'Pilot'),
    istiodService(install),
    istiodDeployment(install),
    injectionWebhookConfiguration(install, 'Pilot', serviceClientConfig(`istiod${s}`, ns, '/inject')),
  ];
}
