// Whether a pod gets sidecar traffic redirection: an ordered chain of small named checks (DESIGN.md principle 7),
// Istio 1.11's CNI plugin's rules, each skip with a reason and a message. Then the pod's traffic settings for the
// rule engine. Pure.
import type { V1Pod } from '@kubernetes/client-node';
import type { PodTraffic } from '../iptables/index.js';

export const SIDECAR_CONTAINER = 'istio-proxy';
export const INIT_REDIRECT_CONTAINER = 'istio-init';
export const INJECT_ANNOTATION = 'sidecar.istio.io/inject';
export const INTERCEPTION_MODE_ANNOTATION = 'sidecar.istio.io/interceptionMode';

export interface Decision {
  readonly redirect: boolean;
  /** A stable, machine-readable reason: `sidecar`, `excluded-namespace`, `no-sidecar`, ... */
  readonly reason: string;
  readonly message: string;
}

export interface DecideSettings {
  readonly excludeNamespaces: readonly string[];
}

type Check = (pod: V1Pod, settings: DecideSettings) => Decision | undefined;

const skip = (reason: string, message: string): Decision => ({ redirect: false, reason, message });

/** Go's strconv.ParseBool false values, which Istio's plugin uses for the inject annotation. */
const FALSE_VALUES = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);

export const CHECKS: readonly (readonly [string, Check])[] = [
  [
    'namespace not excluded',
    (pod, s) => {
      const ns = pod.metadata?.namespace ?? '';
      return s.excludeNamespaces.includes(ns) ? skip('excluded-namespace', `namespace ${ns} is in excludeNamespaces`) : undefined;
    },
  ],
  ['pod network', (pod) => (pod.spec?.hostNetwork === true ? skip('host-network', 'the pod uses the host network') : undefined)],
  [
    'sidecar present',
    // A native sidecar (Kubernetes 1.28+) is an init container, which Istio's plugin counts as well.
    (pod) =>
      [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].some((c) => c.name === SIDECAR_CONTAINER)
        ? undefined
        : skip('no-sidecar', `the pod has no ${SIDECAR_CONTAINER} container`),
  ],
  [
    'injection not disabled',
    (pod) => {
      const v = pod.metadata?.annotations?.[INJECT_ANNOTATION];
      return v !== undefined && FALSE_VALUES.has(v) ? skip('injection-disabled', `${INJECT_ANNOTATION} is "${v}"`) : undefined;
    },
  ],
  [
    'no redirection of its own',
    (pod) =>
      (pod.spec?.initContainers ?? []).some((c) => c.name === INIT_REDIRECT_CONTAINER)
        ? skip('own-redirection', `the pod programs its own redirection in an ${INIT_REDIRECT_CONTAINER} container`)
        : undefined,
  ],
  [
    'interception not NONE',
    (pod) => (pod.metadata?.annotations?.[INTERCEPTION_MODE_ANNOTATION]?.trim() === 'NONE' ? skip('interception-none', `${INTERCEPTION_MODE_ANNOTATION} is NONE`) : undefined),
  ],
];

/** The first check that skips the pod, else redirection. */
export function decide(pod: V1Pod, settings: DecideSettings): Decision {
  for (const [, check] of CHECKS) {
    const d = check(pod, settings);
    if (d !== undefined) return d;
  }
  return { redirect: true, reason: 'sidecar', message: `the pod has an ${SIDECAR_CONTAINER} sidecar` };
}

/**
 * What the rule engine needs from the pod: annotations, the sidecar's literal env values and its container
 * securityContext's runAsUser/runAsGroup (the pod-level securityContext is not consulted, as in Istio's plugin),
 * IPv6 presence. The sidecar may be a native sidecar (an init container), as Istio's plugin allows.
 */
export function podTraffic(pod: V1Pod, ips: readonly string[]): PodTraffic {
  const proxy = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find((c) => c.name === SIDECAR_CONTAINER);
  const proxyEnv: Record<string, string> = {};
  for (const e of proxy?.env ?? []) if (e.value !== undefined) proxyEnv[e.name] = e.value;
  return { annotations: pod.metadata?.annotations ?? {}, proxyEnv, ipv6: ips.some((ip) => ip.includes(':')), ...proxyIds(proxy?.securityContext) };
}

function proxyIds(sc: { runAsUser?: number; runAsGroup?: number } | undefined): { proxyUid?: number; proxyGid?: number } {
  const out: { proxyUid?: number; proxyGid?: number } = {};
  if (typeof sc?.runAsUser === 'number') out.proxyUid = sc.runAsUser;
  if (typeof sc?.runAsGroup === 'number') out.proxyGid = sc.runAsGroup;
  return out;
}
