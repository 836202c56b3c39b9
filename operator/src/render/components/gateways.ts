// The ingressGateways and egressGateways components: one Envoy gateway per enabled list entry (Istio 1.11's
// gateways/istio-ingress and istio-egress charts, without HPA and PDB): ServiceAccount, Role/RoleBinding for
// SDS secrets, Deployment (proxyv2 in router mode) and Service, in the entry's namespace, named <name>[-rev],
// <name>-service-account[-rev] and <name>-sds[-rev].
// Pods carry the entry's labels (Istio's defaults: app/istio = istio-ingressgateway/ingressgateway or the egress
// pair) plus service.istio.io/canonical-name and istio.io/rev, which the selectors include so two gateways
// with the default labels (or two revisions of one) never select each other's pods.
import { scalarText } from '../checks.js';
import { isRecord } from '../json.js';
import { applyServiceSettings, applyWorkloadSettings } from '../k8s.js';
import { meta } from '../objects.js';
import type { GatewaySettings, Install } from '../resolve.js';
import type { ComponentName, JsonObject, KubernetesObject } from '../types.js';
import { roleWithBinding, serviceAccount } from './rbac.js';

const fieldRef = (name: string, path: string): JsonObject => ({ name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: path } } });

const INGRESS_PORTS = [
  { name: 'status-port', port: 15021, protocol: 'TCP', targetPort: 15021 },
  { name: 'http2', port: 80, protocol: 'TCP', targetPort: 8080 },
  { name: 'https', port: 443, protocol: 'TCP', targetPort: 8443 },
];
const EGRESS_PORTS = [
  { name: 'http2', port: 80, protocol: 'TCP', targetPort: 8080 },
  { name: 'https', port: 443, protocol: 'TCP', targetPort: 8443 },
];

function componentName(gw: GatewaySettings): ComponentName {
  return gw.ingress ? 'IngressGateways' : 'EgressGateways';
}

function selector(install: Install, gw: GatewaySettings, name: string): Record<string, string> {
  return { ...gw.label, 'istio.io/rev': install.rev, 'service.istio.io/canonical-name': name };
}

/** values.global.caAddress, else the local istiod, else the istiod-remote Service in front of an external one. */
function caAddress(install: Install): string {
  const service = install.pilot.enabled || install.remote.remotePilotAddress === undefined ? `istiod${install.suffix}` : `istiod-remote${install.suffix}`;
  return scalarText(install.global.caAddress, 'values.global.caAddress', `${service}.${install.namespace}.svc:15012`);
}

function proxyEnv(install: Install, gw: GatewaySettings, name: string): JsonObject[] {
  return [
    { name: 'JWT_POLICY', value: scalarText(install.global.jwtPolicy, 'values.global.jwtPolicy', 'third-party-jwt') },
    { name: 'PILOT_CERT_PROVIDER', value: scalarText(install.global.pilotCertProvider, 'values.global.pilotCertProvider', 'istiod') },
    { name: 'CA_ADDR', value: caAddress(install) },
    fieldRef('NODE_NAME', 'spec.nodeName'),
    fieldRef('POD_NAME', 'metadata.name'),
    fieldRef('POD_NAMESPACE', 'metadata.namespace'),
    fieldRef('INSTANCE_IP', 'status.podIP'),
    fieldRef('HOST_IP', 'status.hostIP'),
    fieldRef('SERVICE_ACCOUNT', 'spec.serviceAccountName'),
    { name: 'ISTIO_META_WORKLOAD_NAME', value: name },
    { name: 'ISTIO_META_OWNER', value: `kubernetes://apis/apps/v1/namespaces/${gw.namespace}/deployments/${name}` },
    { name: 'ISTIO_META_MESH_ID', value: scalarText(install.global.meshID, 'values.global.meshID', 'cluster.local') },
    { name: 'TRUST_DOMAIN', value: 'cluster.local' },
    { name: 'ISTIO_META_UNPRIVILEGED_POD', value: 'true' },
    { name: 'ISTIO_META_CLUSTER_ID', value: install.clusterName },
  ];
}

function proxyContainer(install: Install, gw: GatewaySettings, name: string): JsonObject {
  const proxy = isRecord(install.global.proxy) ? install.global.proxy : {};
  const image = scalarText(proxy.image, 'values.global.proxy.image', 'proxyv2');
  return {
    name: 'istio-proxy',
    image: image.includes('/') ? image : `${gw.hub}/${image}:${gw.tag}`,
    args: [
      'proxy',
      'router',
      '--domain',
      '$(POD_NAMESPACE).svc.cluster.local',
      `--proxyLogLevel=${scalarText(proxy.logLevel, 'values.global.proxy.logLevel', 'warning')}`,
      `--proxyComponentLogLevel=${scalarText(proxy.componentLogLevel, 'values.global.proxy.componentLogLevel', 'misc:error')}`,
      '--log_output_level=default:info',
    ],
    env: proxyEnv(install, gw, name),
    ports: [
      { containerPort: 15021, protocol: 'TCP' },
      { containerPort: 8080, protocol: 'TCP' },
      { containerPort: 8443, protocol: 'TCP' },
      { containerPort: 15090, name: 'http-envoy-prom', protocol: 'TCP' },
    ],
    readinessProbe: { failureThreshold: 30, httpGet: { path: '/healthz/ready', port: 15021, scheme: 'HTTP' }, initialDelaySeconds: 1, periodSeconds: 2, timeoutSeconds: 1 },
    resources: { limits: { cpu: '2000m', memory: '1024Mi' }, requests: { cpu: '100m', memory: '128Mi' } },
    securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, privileged: false, readOnlyRootFilesystem: true },
    volumeMounts: [
      { mountPath: '/etc/istio/proxy', name: 'istio-envoy' },
      { mountPath: '/var/run/secrets/istio', name: 'istiod-ca-cert' },
      { mountPath: '/var/lib/istio/data', name: 'istio-data' },
      { mountPath: '/etc/istio/pod', name: 'podinfo' },
      { mountPath: '/var/run/secrets/tokens', name: 'istio-token', readOnly: true },
    ],
  };
}

function deployment(install: Install, gw: GatewaySettings, name: string): KubernetesObject {
  const labels = selector(install, gw, name);
  const d: KubernetesObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(install, componentName(gw), name, gw.namespace, gw.label),
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      strategy: { rollingUpdate: { maxSurge: '100%', maxUnavailable: '25%' } },
      template: {
        metadata: {
          annotations: { 'prometheus.io/path': '/stats/prometheus', 'prometheus.io/port': '15020', 'prometheus.io/scrape': 'true', 'sidecar.istio.io/inject': 'false' },
          labels: { ...labels, 'sidecar.istio.io/inject': 'false' },
        },
        spec: {
          containers: [proxyContainer(install, gw, name)],
          securityContext: { fsGroup: 1337, runAsGroup: 1337, runAsNonRoot: true, runAsUser: 1337 },
          serviceAccountName: `${gw.name}-service-account${install.suffix}`,
          volumes: [
            { configMap: { name: 'istio-ca-root-cert' }, name: 'istiod-ca-cert' },
            {
              downwardAPI: {
                items: [
                  { fieldRef: { fieldPath: 'metadata.labels' }, path: 'labels' },
                  { fieldRef: { fieldPath: 'metadata.annotations' }, path: 'annotations' },
                ],
              },
              name: 'podinfo',
            },
            { emptyDir: {}, name: 'istio-envoy' },
            { emptyDir: {}, name: 'istio-data' },
            { name: 'istio-token', projected: { sources: [{ serviceAccountToken: { audience: 'istio-ca', expirationSeconds: 43200, path: 'istio-token' } }] } },
          ],
        },
      },
    },
  };
  applyWorkloadSettings(d, gw.k8s, 'istio-proxy', `${gw.field}.k8s`);
  return d;
}

function service(install: Install, gw: GatewaySettings, name: string): KubernetesObject {
  const s: KubernetesObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(install, componentName(gw), name, gw.namespace, gw.label),
    spec: {
      ports: structuredClone(gw.ingress ? INGRESS_PORTS : EGRESS_PORTS),
      selector: selector(install, gw, name),
      type: gw.ingress ? 'LoadBalancer' : 'ClusterIP',
    },
  };
  applyServiceSettings(s, gw.k8s, `${gw.field}.k8s`);
  return s;
}

/** The objects of one enabled gateway. */
export function renderGateway(install: Install, gw: GatewaySettings): KubernetesObject[] {
  const s = install.suffix;
  const name = `${gw.name}${s}`;
  const component = componentName(gw);
  const sa = `${gw.name}-service-account${s}`;
  return [
    serviceAccount(install, component, sa, gw.namespace, gw.label),
    ...roleWithBinding(install, component, `${gw.name}-sds${s}`, gw.namespace, [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'watch', 'list'] }], sa, gw.label),
    deployment(install, gw, name),
    service(install, gw, name),
  ];
}
