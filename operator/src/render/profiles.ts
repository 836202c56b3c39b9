// Installation profiles, after Istio 1.11's manifests/profiles/*.yaml. As in Istio, every profile is laid over
// the default profile, and the user's spec is laid over the result (see merge.ts): the user wins.
//
// What each enables (components, Istio 1.11):
//   default   base, pilot, ingress gateway istio-ingressgateway (egress gateway listed, disabled)
//   demo      default + egress gateway istio-egressgateway, small resource requests, access log, trace sampling 100
//   minimal   base, pilot (minimal.yaml only disables the ingress gateway; base stays on from default)
//   empty     nothing
//   preview   default + experimental proxy metadata (DNS capture, XDS bootstrap via the agent)
//   openshift default + cni in kube-system with OpenShift's multus paths, standalone (not chained)
//   external  istiodRemote only: the injection webhook calling an external control plane; no base, no istiod,
//             no mesh or injector ConfigMaps (Istio 1.11 external.yaml)
//   remote    like external, but keeps base (RBAC the external istiod uses to read this cluster) and the mesh
//             ConfigMap: the config cluster of an external control plane. Istio 1.11 ships only "external";
//             "remote" follows the remote.yaml of the releases around it.
// Profiles do not set hub or tag: the renderer falls back to docker.io/istio and 1.11.0 after spec.hub/tag and
// values.global.hub/tag, so a user's values.global.hub is never shadowed by a profile's spec.hub.
import { InvalidSpecError } from './errors.js';
import { overlay } from './merge.js';
import type { IstioOperatorSpec } from './types.js';

export const PROFILE_NAMES = ['default', 'demo', 'minimal', 'empty', 'preview', 'openshift', 'remote', 'external'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

export function isProfileName(name: unknown): name is ProfileName {
  return typeof name === 'string' && (PROFILE_NAMES as readonly string[]).includes(name);
}

const smallRequests = (cpu: string, memory: string): { requests: { cpu: string; memory: string } } => ({ requests: { cpu, memory } });

/** Istio 1.11's default.yaml, reduced to what mizzen renders. */
const DEFAULT: IstioOperatorSpec = {
  meshConfig: {
    defaultConfig: { proxyMetadata: {} },
    enablePrometheusMerge: true,
  },
  components: {
    base: { enabled: true },
    pilot: { enabled: true },
    ingressGateways: [{ name: 'istio-ingressgateway', enabled: true }],
    egressGateways: [{ name: 'istio-egressgateway', enabled: false }],
    cni: { enabled: false },
    istiodRemote: { enabled: false },
  },
  values: {
    global: {
      configCluster: false,
      externalIstiod: false,
      imagePullPolicy: '',
      jwtPolicy: 'third-party-jwt',
      logAsJson: false,
      logging: { level: 'default:info' },
      meshID: '',
      multiCluster: { clusterName: '', enabled: false },
      network: '',
      omitSidecarInjectorConfigMap: false,
      operatorManageWebhooks: false,
      pilotCertProvider: 'istiod',
      proxy: {
        autoInject: 'enabled',
        clusterDomain: 'cluster.local',
        componentLogLevel: 'misc:error',
        image: 'proxyv2',
        logLevel: 'warning',
        resources: { limits: { cpu: '2000m', memory: '1024Mi' }, requests: { cpu: '100m', memory: '128Mi' } },
        statusPort: 15020,
      },
      proxy_init: { image: 'proxyv2' },
    },
    pilot: {
      configMap: true,
      enableProtocolSniffingForInbound: true,
      enableProtocolSniffingForOutbound: true,
      env: {},
      image: 'pilot',
      keepaliveMaxServerConnectionAge: '30m',
      replicaCount: 1,
      resources: { requests: { cpu: '500m', memory: '2048Mi' } },
      traceSampling: 1.0,
    },
    cni: {
      chained: true,
      cniBinDir: '/opt/cni/bin',
      cniConfDir: '/etc/cni/net.d',
      cniConfFileName: '',
      excludeNamespaces: ['istio-system', 'kube-system'],
      logLevel: 'info',
      // repair is a boolean or an object; its defaults live in cni.ts (REPAIR_DEFAULTS) so `repair: true`
      // and `repair: {…}` normalise the same way.
    },
    istiodRemote: { injectionPath: '/inject', injectionURL: '' },
    sidecarInjectorWebhook: {
      alwaysInjectSelector: [],
      enableNamespacesByDefault: false,
      injectedAnnotations: {},
      neverInjectSelector: [],
      rewriteAppHTTPProbe: true,
    },
  },
};

const OVERLAYS: Readonly<Record<ProfileName, IstioOperatorSpec>> = {
  default: {},
  demo: {
    meshConfig: { accessLogFile: '/dev/stdout' },
    components: {
      egressGateways: [{ name: 'istio-egressgateway', enabled: true, k8s: { resources: smallRequests('10m', '40Mi') } }],
      ingressGateways: [
        {
          name: 'istio-ingressgateway',
          enabled: true,
          k8s: {
            resources: smallRequests('10m', '40Mi'),
            service: {
              ports: [
                { name: 'status-port', port: 15021, targetPort: 15021 },
                { name: 'http2', port: 80, targetPort: 8080 },
                { name: 'https', port: 443, targetPort: 8443 },
                { name: 'tcp', port: 31400, targetPort: 31400 },
                { name: 'tls', port: 15443, targetPort: 15443 },
              ],
            },
          },
        },
      ],
      pilot: {
        k8s: {
          env: [{ name: 'PILOT_TRACE_SAMPLING', value: '100' }],
          resources: smallRequests('10m', '100Mi'),
        },
      },
    },
    values: {
      global: { proxy: { resources: smallRequests('10m', '40Mi') } },
      pilot: { autoscaleEnabled: false },
    },
  },
  minimal: {
    components: { ingressGateways: [{ name: 'istio-ingressgateway', enabled: false }] },
  },
  empty: {
    components: {
      base: { enabled: false },
      pilot: { enabled: false },
      ingressGateways: [{ name: 'istio-ingressgateway', enabled: false }],
    },
  },
  preview: {
    meshConfig: {
      defaultConfig: { proxyMetadata: { BOOTSTRAP_XDS_AGENT: 'true', ISTIO_META_DNS_CAPTURE: 'true' } },
    },
    values: {
      telemetry: { v2: { metadataExchange: { wasmEnabled: true }, prometheus: { wasmEnabled: true } } },
    },
  },
  openshift: {
    components: { cni: { enabled: true, namespace: 'kube-system' } },
    values: {
      cni: {
        chained: false,
        cniBinDir: '/var/lib/cni/bin',
        cniConfDir: '/etc/cni/multus/net.d',
        cniConfFileName: 'istio-cni.conf',
        excludeNamespaces: ['istio-system', 'kube-system'],
        logLevel: 'info',
      },
      sidecarInjectorWebhook: { injectedAnnotations: { 'k8s.v1.cni.cncf.io/networks': 'istio-cni' } },
    },
  },
  remote: {
    components: {
      pilot: { enabled: false },
      istiodRemote: { enabled: true },
      ingressGateways: [{ name: 'istio-ingressgateway', enabled: false }],
    },
    values: {
      global: { configCluster: true, externalIstiod: true, omitSidecarInjectorConfigMap: true },
      pilot: { configMap: true },
    },
  },
  external: {
    components: {
      base: { enabled: false },
      pilot: { enabled: false },
      istiodRemote: { enabled: true },
      ingressGateways: [{ name: 'istio-ingressgateway', enabled: false }],
    },
    values: {
      global: { configCluster: false, externalIstiod: true, omitSidecarInjectorConfigMap: true },
      pilot: { configMap: false },
    },
  },
};

/** The full base spec of a profile: the default profile with the profile's overlay on top. */
export function profileSpec(name: ProfileName): IstioOperatorSpec {
  return overlay(DEFAULT, OVERLAYS[name]) as IstioOperatorSpec;
}

/**
 * The user's spec laid over its profile (spec.profile, "default" when absent). Throws InvalidSpecError for an
 * unknown profile.
 */
export function withProfile(spec: IstioOperatorSpec): IstioOperatorSpec {
  const given: unknown = spec.profile;
  const name = given === undefined || given === null || given === '' ? 'default' : given;
  if (!isProfileName(name)) {
    throw new InvalidSpecError(
      'spec.profile',
      `unknown profile ${JSON.stringify(name)}; supported profiles: ${PROFILE_NAMES.join(', ')}`,
    );
  }
  return overlay(profileSpec(name), spec) as IstioOperatorSpec;
}
