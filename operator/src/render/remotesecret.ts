// Istio's remote secrets, pure: the Secret an istiod reads to reach another cluster's API server, as
// `istioctl create-remote-secret` writes it, and the checks made before writing one.
//
//   --type remote  Secret istio-remote-secret-<cluster>: the remote cluster's services and endpoints join the
//                  mesh; credentials of istio-reader-service-account.
//   --type config  Secret istio-kubeconfig, key "config": the config cluster of an external control plane;
//                  credentials of istiod.
// Both are labelled istio/multiCluster=true and annotated networking.istio.io/cluster=<cluster>; the data key of a
// remote one is the cluster name, its value a kubeconfig with one cluster, one user (a bearer token) and one
// context, all named after the cluster.
import { stringify, parse } from 'yaml';
import type { KubernetesObject } from './types.js';

export const MULTICLUSTER_LABEL = 'istio/multiCluster';
export const CLUSTER_ANNOTATION = 'networking.istio.io/cluster';
export const REMOTE_SECRET_PREFIX = 'istio-remote-secret-';
export const CONFIG_SECRET_NAME = 'istio-kubeconfig';
export const CONFIG_SECRET_KEY = 'config';
/** The annotation and type of a long-lived ServiceAccount token Secret (filled by the token controller). */
export const SA_NAME_ANNOTATION = 'kubernetes.io/service-account.name';
export const SA_TOKEN_TYPE = 'kubernetes.io/service-account-token';

export type RemoteSecretType = 'remote' | 'config';
export const REMOTE_SECRET_TYPES: readonly RemoteSecretType[] = ['remote', 'config'];

/** The ServiceAccount whose token a remote secret carries when none is named (istioctl's defaults). */
export function defaultServiceAccount(type: RemoteSecretType): string {
  return type === 'remote' ? 'istio-reader-service-account' : 'istiod';
}

export function remoteSecretName(cluster: string, type: RemoteSecretType = 'remote'): string {
  return type === 'remote' ? `${REMOTE_SECRET_PREFIX}${cluster}` : CONFIG_SECRET_NAME;
}

/**
 * The generateName of the token Secret created for a ServiceAccount that has none: istioctl's name and a suffix
 * the API server picks. A legacy token's claims are the namespace, the ServiceAccount's name and uid and the
 * Secret's name, and an RSA signature of the same claims is the same: a token Secret created again under the same
 * name carries the same token, so deleting it and running again would not rotate the credential.
 */
export function tokenSecretGenerateName(serviceAccount: string): string {
  return `${serviceAccount}-istio-remote-secret-token-`;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A cluster name becomes part of a Secret name and a data key: it must be an RFC 1123 label, as istioctl demands. */
export function checkClusterName(name: string): string | undefined {
  if (!DNS_LABEL.test(name)) return `cluster name "${name}" is not a DNS label (lower-case letters, digits and "-", at most 63)`;
  if (remoteSecretName(name).length > 253) return `cluster name "${name}" is too long`;
  return undefined;
}

export interface KubeconfigParts {
  readonly cluster: string;
  readonly server: string;
  /** PEM text of the CA that signed the API server's certificate. */
  readonly caPem: string;
  readonly token: string;
}

/** The kubeconfig a remote secret holds: one cluster, user and context, named after the cluster. */
export function bearerTokenKubeconfig(p: KubeconfigParts): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: p.cluster, cluster: { 'certificate-authority-data': Buffer.from(p.caPem).toString('base64'), server: p.server } }],
    users: [{ name: p.cluster, user: { token: p.token } }],
    contexts: [{ name: p.cluster, context: { cluster: p.cluster, user: p.cluster } }],
    'current-context': p.cluster,
    preferences: {},
  });
}

interface KubeconfigDoc {
  'current-context'?: string;
  contexts?: { name?: string; context?: { cluster?: string } }[];
  clusters?: { name?: string; cluster?: { server?: string } }[];
}

function parseKubeconfig(text: string): KubeconfigDoc | undefined {
  try {
    const doc: unknown = parse(text);
    return doc !== null && typeof doc === 'object' ? (doc) : undefined;
  } catch {
    return undefined;
  }
}

/** The item named `name`, else the only one. */
function named<T extends { name?: string }>(items: T[] | undefined, name: string | undefined): T | undefined {
  return items?.find((i) => i.name === name) ?? (items?.length === 1 ? items[0] : undefined);
}

/** The server of a kubeconfig's current context (undefined when the text is not a usable kubeconfig). */
export function kubeconfigServer(text: string): string | undefined {
  const kc = parseKubeconfig(text);
  const ctx = named(kc?.contexts, kc?.['current-context']);
  return named(kc?.clusters, ctx?.context?.cluster)?.cluster?.server;
}

export interface RemoteSecretSpec {
  readonly cluster: string;
  readonly namespace: string;
  readonly kubeconfig: string;
  readonly type?: RemoteSecretType;
  /** Extra labels (e.g. the owner labels of the IstioOperator that keeps it). */
  readonly labels?: Readonly<Record<string, string>>;
}

/** Istio's remote secret, with the kubeconfig as base64 `data` (what the API server stores and returns). */
export function remoteSecret(s: RemoteSecretSpec): KubernetesObject {
  const type = s.type ?? 'remote';
  const key = type === 'remote' ? s.cluster : CONFIG_SECRET_KEY;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: remoteSecretName(s.cluster, type),
      namespace: s.namespace,
      labels: { ...(s.labels ?? {}), [MULTICLUSTER_LABEL]: 'true' },
      annotations: { [CLUSTER_ANNOTATION]: s.cluster },
    },
    data: { [key]: Buffer.from(s.kubeconfig).toString('base64') },
  };
}

/** The same Secret with its data as readable `stringData`, as `istioctl create-remote-secret` prints it. */
export function readable(secret: KubernetesObject): KubernetesObject {
  const data = (secret.data ?? {}) as Record<string, string>;
  const out: KubernetesObject = { ...secret, stringData: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])) };
  delete out.data;
  return out;
}

/** The clusters a live remote secret declares: its annotation, else its data keys (Istio reads every key). */
export function declaredClusters(secret: KubernetesObject): string[] {
  const annotated = secret.metadata.annotations?.[CLUSTER_ANNOTATION];
  const keys = Object.keys((secret.data ?? {}) as Record<string, string>).filter((k) => k !== CONFIG_SECRET_KEY || secret.metadata.name !== CONFIG_SECRET_NAME);
  return [...new Set([...(annotated ? [annotated] : []), ...keys])].sort();
}

function serverOf(secret: KubernetesObject, cluster: string): string | undefined {
  const data = (secret.data ?? {}) as Record<string, string>;
  const b64 = data[cluster] ?? data[CONFIG_SECRET_KEY];
  return b64 === undefined ? undefined : kubeconfigServer(Buffer.from(b64, 'base64').toString('utf8'));
}

/** A clash with the live Secret that has the desired one's name. */
function sameNameClash(desired: KubernetesObject, live: KubernetesObject, cluster: string, overwrite: boolean): string | undefined {
  const other = `${live.metadata.namespace ?? desired.metadata.namespace ?? ''}/${live.metadata.name}`;
  if (live.metadata.labels?.[MULTICLUSTER_LABEL] !== 'true') return `Secret ${other} exists and is not a remote secret (no ${MULTICLUSTER_LABEL}=true label); not overwriting it`;
  const theirs = declaredClusters(live).filter((c) => c !== cluster);
  if (theirs.length > 0) return `Secret ${other} is the remote secret of cluster ${theirs.map((c) => `"${c}"`).join(', ')}, not "${cluster}"`;
  const had = serverOf(live, cluster);
  const want = serverOf(desired, cluster);
  if (overwrite || had === undefined || want === undefined || had === want) return undefined;
  return `Secret ${other} already reaches cluster "${cluster}" at ${had}, not ${want}: another cluster has that name (pass --overwrite to replace it)`;
}

/**
 * Whether writing `desired` into a namespace holding `existing` would clash with another cluster's remote secret.
 * A clash: another Secret already declares this cluster name; or the Secret of that name exists and is not a
 * remote secret, declares another cluster, or reaches another API server under the same cluster name (unless
 * `overwrite`). Replacing the same cluster's credentials (same name, cluster and server) is not a clash.
 */
export function remoteSecretClash(desired: KubernetesObject, existing: readonly KubernetesObject[], opts: { overwrite?: boolean } = {}): string | undefined {
  const cluster = desired.metadata.annotations?.[CLUSTER_ANNOTATION] ?? '';
  for (const s of [...existing].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))) {
    if (s.metadata.name === desired.metadata.name) {
      const clash = sameNameClash(desired, s, cluster, opts.overwrite === true);
      if (clash) return clash;
    } else if (s.metadata.labels?.[MULTICLUSTER_LABEL] === 'true' && declaredClusters(s).includes(cluster)) {
      const server = serverOf(s, cluster);
      return `cluster name "${cluster}" is already used by the remote secret ${s.metadata.namespace ?? ''}/${s.metadata.name}${server ? ` (server ${server})` : ''}; choose another --name or delete that Secret`;
    }
  }
  return undefined;
}
