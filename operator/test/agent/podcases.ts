// Pod manifests and what the agent does to them, shared by the `mizzen cni rules` tests and their real-kernel
// replay. Each case is a manifest as a user would write it (or kubectl print it).
export interface PodCase {
  readonly name: string;
  /** Golden file under testdata/cni-rules (redirected pods only). */
  readonly golden?: string;
  readonly reason: string;
  readonly yaml: string;
  readonly ipv6?: boolean;
}

function manifest(o: { namespace?: string; annotations?: Record<string, string>; extra?: string; proxy?: string; containers?: string; spec?: string } = {}): string {
  const ann = Object.entries(o.annotations ?? {})
    .map(([k, v]) => `    ${k}: ${JSON.stringify(v)}\n`)
    .join('');
  return [
    'apiVersion: v1',
    'kind: Pod',
    'metadata:',
    '  name: web-1',
    ...(o.namespace === undefined ? [] : [`  namespace: ${o.namespace}`]),
    ...(ann === '' ? [] : ['  annotations:', ann.trimEnd()]),
    'spec:',
    ...(o.spec === undefined ? [] : [o.spec]),
    '  containers:',
    '  - name: app',
    '    image: app',
    ...(o.containers === undefined ? ['  - name: istio-proxy', '    image: proxyv2', ...(o.proxy === undefined ? [] : [o.proxy])] : [o.containers]),
    '',
  ].join('\n');
}

export const POD_CASES: readonly PodCase[] = [
  { name: 'redirects a sidecar pod with the CNI defaults', golden: 'default', reason: 'sidecar', yaml: manifest({ namespace: 'shop' }) },
  {
    name: "exempts the proxy's own uid and gid from the istio-proxy container's securityContext",
    golden: 'proxy-uid-gid',
    reason: 'sidecar',
    yaml: manifest({ namespace: 'shop', spec: '  securityContext:\n    runAsUser: 2000', proxy: '    securityContext:\n      runAsUser: 1000650000\n      runAsGroup: 1000650001' }),
  },
  {
    name: 'falls back to 1337 for a proxy running as uid 0',
    golden: 'proxy-uid-zero',
    reason: 'sidecar',
    yaml: manifest({ namespace: 'shop', proxy: '    securityContext:\n      runAsUser: 0\n      runAsGroup: 3000' }),
  },
  {
    name: 'captures DNS and drops INVALID packets from the sidecar environment, for both families',
    golden: 'dns-ipv6',
    reason: 'sidecar',
    ipv6: true,
    yaml: manifest({ namespace: 'shop', proxy: '    env:\n    - name: ISTIO_META_DNS_CAPTURE\n      value: "true"\n    - name: INVALID_DROP\n      value: "true"' }),
  },
  {
    name: 'maps the traffic annotations (TPROXY, ports, CIDRs, interfaces)',
    golden: 'annotations-tproxy',
    reason: 'sidecar',
    yaml: manifest({
      namespace: 'shop',
      annotations: {
        'sidecar.istio.io/interceptionMode': 'TPROXY',
        'traffic.sidecar.istio.io/includeInboundPorts': '8080,9090',
        'traffic.sidecar.istio.io/excludeOutboundPorts': '9092,6379',
        'traffic.sidecar.istio.io/excludeOutboundIPRanges': '10.96.0.0/12',
        'traffic.sidecar.istio.io/includeOutboundPorts': '8443',
        'traffic.sidecar.istio.io/kubevirtInterfaces': 'vm0,vm1',
        'traffic.sidecar.istio.io/excludeInterfaces': 'eth9',
      },
    }),
  },
  { name: 'skips a pod in an excluded namespace', reason: 'excluded-namespace', yaml: manifest({ namespace: 'kube-system' }) },
  { name: 'skips a host-network pod', reason: 'host-network', yaml: manifest({ namespace: 'shop', spec: '  hostNetwork: true' }) },
  { name: 'skips a pod without a sidecar', reason: 'no-sidecar', yaml: manifest({ namespace: 'shop', containers: '  - name: helper\n    image: helper' }) },
  { name: 'skips a pod whose injection is disabled', reason: 'injection-disabled', yaml: manifest({ namespace: 'shop', annotations: { 'sidecar.istio.io/inject': 'false' } }) },
  {
    name: 'skips a pod with its own istio-init container',
    reason: 'own-redirection',
    yaml: manifest({ namespace: 'shop', spec: '  initContainers:\n  - name: istio-init\n    image: proxyv2' }),
  },
  { name: 'skips a pod whose interception mode is NONE', reason: 'interception-none', yaml: manifest({ namespace: 'shop', annotations: { 'sidecar.istio.io/interceptionMode': 'NONE' } }) },
];

/** A pod manifest with one invalid traffic annotation. */
export function invalidAnnotationPod(annotation: string, value: string): string {
  return manifest({ namespace: 'shop', annotations: { [annotation]: value } });
}

export { manifest as podManifestYaml };
