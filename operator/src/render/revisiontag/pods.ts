// Who uses a tag, and which of their pods still run a sidecar from another revision.
//
// The injected revision of a pod comes from what Istio's injector writes on it: the `sidecar.istio.io/status`
// annotation (JSON; its "revision" field since Istio 1.8), else the `istio.io/rev` label the injection template
// sets, else "default" (injectors before 1.8 served the default revision only). A pod without the annotation
// runs no sidecar and needs no restart for a tag move.
import type { V1Namespace, V1Pod } from '@kubernetes/client-node';
import { REVISION_LABEL } from '../labels.js';
import { isRecord } from '../json.js';
import { DEFAULT_REVISION, DEFAULT_TAG, labelsOf } from './webhook.js';

export const STATUS_ANNOTATION = 'sidecar.istio.io/status';
/** Istio's injector labels every pod it injects with this: the tag controller watches only those pods. */
export const TLS_MODE_LABEL = 'security.istio.io/tlsMode';

/** The revision whose injector gave this pod its sidecar; undefined when it has none. */
export function injectedRevision(pod: V1Pod): string | undefined {
  const status = pod.metadata?.annotations?.[STATUS_ANNOTATION];
  if (status === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(status);
    if (isRecord(parsed) && typeof parsed.revision === 'string' && parsed.revision !== '') return parsed.revision;
  } catch {
    // an unreadable status still means a sidecar; fall through to the label
  }
  return labelsOf(pod)[REVISION_LABEL] ?? DEFAULT_REVISION;
}

/**
 * The tag whose webhook serves a namespace, as Istio's selectors decide it: an `istio-injection` label wins
 * (`enabled` is the default tag's namespace.sidecar-injector; any other value turns injection off), else the
 * `istio.io/rev` value. Undefined when none.
 */
export function tagOfNamespace(ns: V1Namespace | undefined): string | undefined {
  const l = ns ? labelsOf(ns) : {};
  const injection = l['istio-injection'];
  if (injection !== undefined) return injection === 'enabled' ? DEFAULT_TAG : undefined;
  return l[REVISION_LABEL];
}

/** The namespaces a tag serves (istio.io/rev=<tag>; for the default tag also istio-injection=enabled), sorted. */
export function namespacesUsingTag(namespaces: readonly V1Namespace[], tag: string): string[] {
  return [...new Set(namespaces.filter((ns) => tagOfNamespace(ns) === tag).map((ns) => ns.metadata?.name ?? ''))].sort();
}

function running(pod: V1Pod): boolean {
  const phase = pod.status?.phase;
  return !pod.metadata?.deletionTimestamp && phase !== 'Succeeded' && phase !== 'Failed';
}

/** Running pods in these namespaces whose sidecar was injected by a revision other than `revision`, sorted by key. */
export function podsNeedingRestart(pods: readonly V1Pod[], namespaces: readonly string[], revision: string): string[] {
  const within = new Set(namespaces);
  return pods
    .filter((p) => within.has(p.metadata?.namespace ?? '') && running(p))
    .filter((p) => {
      const rev = injectedRevision(p);
      return rev !== undefined && rev !== revision;
    })
    .map((p) => `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`)
    .sort();
}
