// ClusterSet membership: this cluster's identity (ClusterProperty, KEP-2149) and its peers, one per Secret in the
// operator's namespace labelled mizzen.io/cluster-member=true (a kubeconfig under `kubeconfig`, the peer's id
// under `cluster-id`). Each peer gets its own client and informers (ServiceExports, Services, source
// EndpointSlices) and a reachability probe. A peer that cannot be read is still a member: only deleting its
// Secret removes it (DESIGN principle 11).
import { createHash } from 'node:crypto';
import type { V1EndpointSlice, V1Secret, V1Service, KubernetesObject } from '@kubernetes/client-node';
import { KubeConfig } from '../../kube/client-node.js';
import type { ClusterProperty } from '../../api/index.js';
import { KubeClient } from '../../kube/client.js';
import { errorMessage } from '../../kube/errors.js';
import { Informer } from '../../kube/informer.js';
import { R } from '../../kube/resources.js';
import {
  LABEL_KUBERNETES_SERVICE_NAME,
  LABEL_SOURCE_CLUSTER,
  type AnyServiceExport,
  type ClusterSnapshot,
  type ServiceKey,
} from '../../mcs/index.js';
import type { Logger } from '../../util/log.js';
import { ClusterCache } from './cache.js';
import { serviceKeys, sliceKeys } from './watches.js';

export const MEMBER_LABEL = 'mizzen.io/cluster-member';
export const MEMBER_SELECTOR = `${MEMBER_LABEL}=true`;
export const KUBECONFIG_KEY = 'kubeconfig';
export const CLUSTER_ID_KEY = 'cluster-id';
/** KEP-2149 well-known ClusterProperty names. */
export const CLUSTER_ID_PROPERTY = 'cluster.clusterset.k8s.io';
export const CLUSTERSET_ID_PROPERTY = 'clusterset.k8s.io';
/** A peer's informers select only source slices: not the ones an MCS controller imported there. */
export const PEER_SLICE_SELECTOR = `${LABEL_KUBERNETES_SERVICE_NAME},!${LABEL_SOURCE_CLUSTER}`;

/** Longer than a LIST can take (the client's request timeout is 30 s). */
const LATE_WATCH_STOP_MS = 35_000;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A cluster id is used in slice names and labels and must be an RFC 1123 DNS label (mcs-api ClusterStatus). */
export function checkClusterId(id: string): string | undefined {
  return DNS_LABEL.test(id) ? undefined : `cluster id "${id}" is not a DNS label (lower-case letters, digits and "-", at most 63)`;
}

// ---- peers from Secrets (pure) ------------------------------------------------------------------------------

export interface PeerSpec {
  readonly clusterId: string;
  /** namespace/name of the Secret */
  readonly secret: string;
  /** The kubeconfig text, or undefined when the Secret has none: the member stays, unreadable. */
  readonly kubeconfig: string | undefined;
  /** Changes whenever the kubeconfig does: the peer's client is rebuilt. */
  readonly hash: string;
}

export interface SecretProblem {
  readonly secret: string;
  readonly message: string;
}

function decode(secret: V1Secret, key: string): string | undefined {
  const b64 = secret.data?.[key];
  if (b64 === undefined) return undefined;
  const text = Buffer.from(b64, 'base64').toString('utf8').trim();
  return text === '' ? undefined : text;
}

/**
 * The peers the member Secrets declare, sorted by cluster id. A Secret without a usable cluster-id, naming this
 * cluster, or naming a cluster that an older-named Secret already declares is a problem, not a peer. A Secret with
 * an id but no kubeconfig is a peer that cannot be read (so its objects stay).
 */
export function peersFromSecrets(secrets: readonly V1Secret[], localClusterId: string): { peers: PeerSpec[]; problems: SecretProblem[] } {
  const sorted = [...secrets].filter((s) => !s.metadata?.deletionTimestamp).sort((a, b) => (secretName(a) < secretName(b) ? -1 : secretName(a) > secretName(b) ? 1 : 0));
  const peers = new Map<string, PeerSpec>();
  const problems: SecretProblem[] = [];
  for (const s of sorted) {
    const name = secretName(s);
    const id = decode(s, CLUSTER_ID_KEY);
    const problem = !id
      ? `has no "${CLUSTER_ID_KEY}"`
      : (checkClusterId(id) ??
        (id === localClusterId ? `names this cluster ("${id}")` : peers.has(id) ? `names cluster "${id}", which Secret ${peers.get(id)?.secret ?? ''} already declares` : undefined));
    if (problem || !id) {
      problems.push({ secret: name, message: `Secret ${name} ${problem ?? ''}; it is ignored.` });
      continue;
    }
    const kubeconfig = decode(s, KUBECONFIG_KEY);
    peers.set(id, { clusterId: id, secret: name, kubeconfig, hash: createHash('sha256').update(kubeconfig ?? '').digest('hex') });
  }
  return { peers: [...peers.values()].sort((a, b) => (a.clusterId < b.clusterId ? -1 : 1)), problems };
}

function secretName(s: V1Secret): string {
  return `${s.metadata?.namespace ?? ''}/${s.metadata?.name ?? ''}`;
}

/** After start, services wait at most this long for the first sync of a peer that cannot be reached. */
export const STARTUP_GRACE_MS = 10_000;
/** ...and at most this long for a reachable peer whose first LIST is still loading (thousands of services). */
export const STARTUP_SYNC_WAIT_MS = 60_000;

/**
 * Whether services must wait before planning after a start, so that a restart does not flip every import to
 * "cluster not synced" and back (two status writes per import): while some peer has not loaded its first LIST,
 * up to STARTUP_GRACE_MS, and up to STARTUP_SYNC_WAIT_MS while that peer answers its probe (a big LIST on a
 * busy API server takes longer than the grace).
 */
export function holdAtStartup(sinceStartMs: number, peers: readonly { synced: boolean; reachable: boolean }[]): boolean {
  if (sinceStartMs >= STARTUP_SYNC_WAIT_MS) return false;
  return peers.some((p) => !p.synced && (sinceStartMs < STARTUP_GRACE_MS || p.reachable));
}

// ---- one peer ------------------------------------------------------------------------------------------------

export interface PeerOptions {
  readonly log: Logger;
  readonly probeIntervalMs: number;
  readonly informerIdleReconnectMs: number;
  /** Keys of services an event in the peer concerns; `urgent` for endpoint changes (see WorkQueue priority). */
  readonly onKeys: (keys: readonly string[], urgent?: boolean) => void;
  /** The peer's read state changed (synced, reachable or not): every service may be affected. */
  readonly onStateChange: () => void;
}

/** A client built from a kubeconfig text; its own function so that tests can swap it. */
export async function clientFromKubeconfig(text: string): Promise<KubeClient> {
  const kc = new KubeConfig();
  kc.loadFromString(text);
  return KubeClient.create(kc);
}

/**
 * A peer cluster: client, informers and a probe of /readyz. `reachable` follows the probe; `synced` is true once
 * every informer has loaded its first LIST (it stays true afterwards: the cache then holds the last state read,
 * which is the last known good state while the peer cannot be reached).
 */
export class PeerMember {
  private client?: KubeClient;
  private cache?: ClusterCache;
  private reachable = false;
  private probeTimer?: ReturnType<typeof setTimeout>;
  private stopped = false;
  /** Set once every informer's first LIST is in its cache (see start()). */
  private ready = false;
  private problem?: string;
  readonly started: Promise<void>;

  constructor(
    readonly spec: PeerSpec,
    private readonly opts: PeerOptions,
  ) {
    this.started = this.start();
  }

  get clusterId(): string {
    return this.spec.clusterId;
  }

  private async start(): Promise<void> {
    const log = this.opts.log;
    if (this.spec.kubeconfig === undefined) {
      this.problem = `Secret ${this.spec.secret} has no "${KUBECONFIG_KEY}"`;
      log.warn('Could not read peer cluster', { cluster: this.clusterId, secret: this.spec.secret, error: this.problem });
      return;
    }
    try {
      this.client = await clientFromKubeconfig(this.spec.kubeconfig);
    } catch (err) {
      this.problem = `the kubeconfig in Secret ${this.spec.secret} is not usable: ${errorMessage(err)}`;
      log.warn('Could not read peer cluster', { cluster: this.clusterId, secret: this.spec.secret, error: this.problem });
      return;
    }
    if (this.stopped) return this.client.close();
    const informerOpts = { idleReconnectMs: this.opts.informerIdleReconnectMs, retryBaseMs: 200, retryMaxMs: Math.max(1000, this.opts.probeIntervalMs) };
    const peerLog = log.child({ cluster: this.clusterId });
    this.cache = new ClusterCache({
      exports: new Informer<AnyServiceExport & KubernetesObject>(R.serviceExport, this.client, peerLog, informerOpts),
      services: new Informer<V1Service>(R.service, this.client, peerLog, informerOpts),
      slices: new Informer<V1EndpointSlice>(R.endpointSlice, this.client, peerLog, { ...informerOpts, labelSelector: PEER_SLICE_SELECTOR }),
    });
    const { exports, services, slices } = this.cache.informers;
    const forward = (keys: string[], urgent = false): void => {
      if (!this.stopped) this.opts.onKeys(keys, urgent);
    };
    exports.on((_t, obj) => forward(serviceKeys(obj)));
    services.on((_t, obj) => forward(serviceKeys(obj)));
    slices.on((_t, obj) => forward(sliceKeys(obj), true));
    // Reachability first, so that the first synced snapshot does not report a reachable peer as unreachable.
    await this.check();
    this.scheduleProbe();
    for (const inf of this.cache.all()) inf.start();
    await Promise.all(this.cache.all().map((i) => i.waitForSync()));
    // An informer reports synced just before its cache takes the LIST's items (in the same tick); a macrotask
    // later they are in. Reading the peer earlier would take "not loaded yet" for "exports nothing".
    await new Promise((resolve) => setImmediate(resolve));
    if (this.stopped) return;
    this.ready = true;
    log.info('Synced peer cluster', { cluster: this.clusterId, secret: this.spec.secret });
    this.opts.onStateChange();
  }

  /** Probes /readyz once and reports a change of reachability. */
  private async check(): Promise<void> {
    if (this.stopped || !this.client) return;
    let ok = true;
    let error = '';
    try {
      await this.client.request('GET', '/readyz', { timeoutMs: Math.max(1000, this.opts.probeIntervalMs) });
    } catch (err) {
      ok = false;
      error = errorMessage(err);
    }
    if (this.stopped || ok === this.reachable) return;
    this.reachable = ok;
    if (ok) this.opts.log.info('Reached peer cluster', { cluster: this.clusterId });
    else this.opts.log.warn('Lost peer cluster', { cluster: this.clusterId, error });
    this.opts.onStateChange();
  }

  private scheduleProbe(): void {
    if (this.stopped) return;
    this.probeTimer = setTimeout(() => void this.check().then(() => this.scheduleProbe()), this.opts.probeIntervalMs);
    this.probeTimer.unref();
  }

  /** What the planner gets for one service: the peer as last read, with how it could be read. */
  snapshot(key: ServiceKey): ClusterSnapshot {
    const synced = this.ready;
    const state = this.cache && synced ? this.cache.state(key) : { namespaces: [], serviceExports: [], services: [], endpointSlices: [] };
    return { clusterId: this.clusterId, reachable: this.reachable, synced, ...state, ...(synced ? { lastKnownGood: state } : {}) };
  }

  /** Whether the peer's informers have loaded their first LIST. */
  synced(): boolean {
    return this.ready;
  }

  /** Keys of every export the peer holds (empty until synced). */
  exportKeys(): string[] {
    return this.cache?.exportKeys() ?? [];
  }

  exportKeysIn(namespace: string): string[] {
    return this.cache?.exportKeysIn(namespace) ?? [];
  }

  describe(): { cluster: string; secret: string; reachable: boolean; synced: boolean; problem?: string } {
    return { cluster: this.clusterId, secret: this.spec.secret, reachable: this.reachable, synced: this.ready, ...(this.problem ? { problem: this.problem } : {}) };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    const informers = this.cache?.all() ?? [];
    await Promise.all(informers.map((i) => i.stop()));
    // client-node's ListWatch opens its watch once an in-flight LIST returns, even when stopped meanwhile; stopping
    // again after the LIST's timeout closes such a late watch.
    if (informers.length > 0) setTimeout(() => void Promise.all(informers.map((i) => i.stop())), LATE_WATCH_STOP_MS).unref();
    this.client?.close();
  }
}

// ---- the member set ------------------------------------------------------------------------------------------

/**
 * The peers, kept equal to what the member Secrets in the cache say (level-based: sync() compares and
 * adds, replaces or removes). A peer's Secret deleted is the only way its objects get deleted.
 */
export class Membership {
  private readonly peers = new Map<string, PeerMember>();
  private readonly stopping: Promise<void>[] = [];
  private fingerprint = '';
  private problems = new Map<string, string>();

  constructor(
    private readonly secrets: Informer<V1Secret>,
    private readonly localClusterId: string,
    private readonly opts: PeerOptions,
  ) {}

  /** Brings the peers in line with the Secrets in the cache; returns whether the member set changed. */
  sync(): boolean {
    const listed = this.secrets.list();
    const fingerprint = listed.map((s) => `${s.metadata?.uid ?? ''}@${s.metadata?.resourceVersion ?? ''}`).sort().join(',');
    if (fingerprint === this.fingerprint) return false;
    this.fingerprint = fingerprint;
    const { peers, problems } = peersFromSecrets(listed, this.localClusterId);
    this.reportProblems(problems);
    const wanted = new Map(peers.map((p) => [p.clusterId, p]));
    let changed = false;
    for (const [id, member] of this.peers) {
      const want = wanted.get(id);
      if (want && want.hash === member.spec.hash && want.secret === member.spec.secret) continue;
      this.peers.delete(id);
      this.stopping.push(member.stop());
      changed = true;
      if (!want) this.opts.log.info('Removed peer cluster', { cluster: id, secret: member.spec.secret });
    }
    for (const spec of peers) {
      if (this.peers.has(spec.clusterId)) continue;
      this.peers.set(spec.clusterId, new PeerMember(spec, this.opts));
      this.opts.log.info('Added peer cluster', { cluster: spec.clusterId, secret: spec.secret });
      changed = true;
    }
    return changed;
  }

  private reportProblems(problems: readonly SecretProblem[]): void {
    const next = new Map(problems.map((p) => [p.secret, p.message]));
    for (const [secret, message] of next) if (this.problems.get(secret) !== message) this.opts.log.warn('Ignored member Secret', { secret, error: message });
    this.problems = next;
  }

  members(): PeerMember[] {
    return [...this.peers.values()];
  }

  async stop(): Promise<void> {
    const all = [...this.peers.values()];
    this.peers.clear();
    await Promise.all([...this.stopping.splice(0), ...all.map((m) => m.stop())]);
  }
}

// ---- this cluster's identity ---------------------------------------------------------------------------------

export interface Identity {
  readonly clusterId: string;
  readonly clusterSetId?: string | undefined;
}

export class IdentityError extends Error {
  override name = 'IdentityError';
}

/**
 * This cluster's id from --cluster-id or the ClusterProperty cluster.clusterset.k8s.io, and the ClusterSet's from
 * --clusterset-id or clusterset.k8s.io. A configured value that a property lacks is written to it (create only);
 * a configured value that disagrees with an existing property is an error, since KEP-2149 does not let a member's
 * id change. Without the ClusterProperty CRD the configured values are used as they are.
 */
export async function resolveIdentity(
  client: KubeClient,
  configured: { clusterId?: string | undefined; clusterSetId?: string | undefined },
  log: Logger,
): Promise<Identity | undefined> {
  const crd = await servesGroupVersion(client, 'about.k8s.io/v1alpha1');
  if (!crd) log.warn('Found no ClusterProperty CRD; using the configured cluster id only', { configured: configured.clusterId });
  const clusterId = crd ? await property(client, CLUSTER_ID_PROPERTY, configured.clusterId, log) : configured.clusterId;
  if (!clusterId) return undefined;
  const problem = checkClusterId(clusterId);
  if (problem) throw new IdentityError(problem);
  const clusterSetId = crd ? await property(client, CLUSTERSET_ID_PROPERTY, configured.clusterSetId, log) : configured.clusterSetId;
  return { clusterId, clusterSetId };
}

async function property(client: KubeClient, name: string, configured: string | undefined, log: Logger): Promise<string | undefined> {
  const live = await client.get<ClusterProperty & KubernetesObject>(R.clusterProperty, name);
  const value = live?.spec.value;
  if (value !== undefined) {
    if (configured !== undefined && configured !== value) {
      throw new IdentityError(`ClusterProperty ${name} says "${value}" but "${configured}" is configured; a member's id cannot change`);
    }
    return value;
  }
  if (configured === undefined) return undefined;
  await client.create<ClusterProperty & KubernetesObject>({ apiVersion: 'about.k8s.io/v1alpha1', kind: 'ClusterProperty', metadata: { name }, spec: { value: configured } });
  log.info('Created ClusterProperty', { kind: 'ClusterProperty', name, value: configured });
  return configured;
}

/** Whether the API server serves a group version (discovery), e.g. to find whether a CRD is installed. */
export async function servesGroupVersion(client: KubeClient, groupVersion: string): Promise<boolean> {
  try {
    await client.request('GET', `/apis/${groupVersion}`);
    return true;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return false;
    throw err;
  }
}
