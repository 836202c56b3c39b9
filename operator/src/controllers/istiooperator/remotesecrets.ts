// Remote secrets kept from the cluster membership (ADR 0008). An IstioOperator annotated
// mizzen.io/remote-secrets ("all", or a comma-separated list of cluster ids) gets, next to its istiod, one
// Istio remote secret per member cluster: built from the member Secret the MCS controller reads too
// (mizzen.io/cluster-member=true in the operator's namespace: `cluster-id`, `kubeconfig`), so one membership list
// serves both. Rotating a member's kubeconfig rewrites its remote secret; deleting the member prunes it. A member
// whose Secret has no kubeconfig is a member that cannot be read: its remote secret stays as it is.
import { createHash } from 'node:crypto';
import type { KubernetesObject, V1Secret } from '@kubernetes/client-node';
import { identity } from '../../kube/apply.js';
import { InvalidSpecError, ownerLabels, type IstioOperator, type RenderResult, type KubernetesObject as Rendered } from '../../render/index.js';
import { CLUSTER_ANNOTATION, checkClusterName, kubeconfigServer, remoteSecret, remoteSecretClash, remoteSecretName } from '../../render/remotesecret.js';
import { errorMessage } from '../../kube/errors.js';
import { clientFromKubeconfig, peersFromSecrets } from '../serviceexport/membership.js';

export const REMOTE_SECRETS_ANNOTATION = 'mizzen.io/remote-secrets';
const FIELD = `metadata.annotations[${REMOTE_SECRETS_ANNOTATION}]`;

/** Which members an IstioOperator asks remote secrets for: undefined (none asked), "all", or cluster ids. */
export function requestedMembers(iop: Pick<IstioOperator, 'metadata'>): 'all' | string[] | undefined {
  const value = (iop.metadata as { annotations?: Record<string, string> } | undefined)?.annotations?.[REMOTE_SECRETS_ANNOTATION];
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v === 'all') return 'all';
  const ids = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (ids.length === 0) throw new InvalidSpecError(FIELD, `must be "all" or a comma-separated list of cluster ids, not ${JSON.stringify(value)}`);
  for (const id of ids) {
    const problem = checkClusterName(id);
    if (problem) throw new InvalidSpecError(FIELD, problem);
  }
  return [...new Set(ids)].sort();
}

export interface MemberSecretsPlan {
  /** Remote secrets to apply (owner-labelled, so prune and uninstall find them). */
  readonly desired: Rendered[];
  /** Identities of live remote secrets to leave as they are (a member whose kubeconfig cannot be read). */
  readonly keep: string[];
  /** Why a member got no remote secret (ignored member Secrets, clashes); for an Event and the log. */
  readonly problems: string[];
}

/** The namespace istiod runs in: where Istio's secret controller looks for remote secrets. */
function istiodNamespace(result: RenderResult): string | undefined {
  return result.objects.find((o) => o.kind === 'Deployment' && o.metadata.labels?.['operator.istio.io/component'] === 'Pilot')?.metadata.namespace;
}

/**
 * The remote secrets an IstioOperator asks for (pure). `members`: the member Secrets; `others`: the live Secrets
 * labelled istio/multiCluster=true in istiod's namespace that this IstioOperator does not own (a remote secret
 * written by hand or by `mizzen remote-secret create` for the same cluster and name is adopted; one that declares
 * the cluster under another name, or another cluster under this name, is a clash and wins).
 */
export function planMemberSecrets(
  iop: IstioOperator,
  result: RenderResult,
  members: readonly V1Secret[],
  others: readonly KubernetesObject[],
  localClusterId: string,
): MemberSecretsPlan | undefined {
  const wanted = requestedMembers(iop);
  if (wanted === undefined) return undefined;
  const namespace = istiodNamespace(result);
  if (!namespace) throw new InvalidSpecError(FIELD, 'asks for remote secrets, but this IstioOperator installs no istiod to read them (enable components.pilot)');
  const { peers, problems } = peersFromSecrets(members, localClusterId);
  const plan: MemberSecretsPlan = { desired: [], keep: [], problems: problems.map((p) => p.message) };
  const labels = ownerLabels(iop);
  for (const peer of peers) {
    if (wanted !== 'all' && !wanted.includes(peer.clusterId)) continue;
    if (peer.kubeconfig === undefined) {
      plan.keep.push(identity({ apiVersion: 'v1', kind: 'Secret', metadata: { name: remoteSecretName(peer.clusterId), namespace } }));
      plan.problems.push(`Secret ${peer.secret} of cluster "${peer.clusterId}" has no kubeconfig; its remote secret is left as it is`);
      continue;
    }
    const secret = remoteSecret({ cluster: peer.clusterId, namespace, kubeconfig: peer.kubeconfig, labels });
    const clash = remoteSecretClash(secret, others as Rendered[], { overwrite: true });
    if (clash) {
      plan.problems.push(`No remote secret for cluster "${peer.clusterId}": ${clash}`);
      continue;
    }
    plan.desired.push(secret);
  }
  if (wanted !== 'all') {
    for (const id of wanted) if (!peers.some((p) => p.clusterId === id)) plan.problems.push(`No member Secret declares cluster "${id}"`);
  }
  return plan;
}

/**
 * The desired remote secrets whose name the live namespace may already hold under a Secret that `others` (the
 * Secrets labelled istio/multiCluster=true) does not show: a Secret of that name without the label is not a remote
 * secret, and the plan must see it to leave it alone (ADR 0008, decision 4). `ownedLive` answers from the cache
 * of our own objects; `get` reads the API server (called only for a name neither holds, i.e. before its first write).
 */
export async function unlabelledNamesakes(
  plan: MemberSecretsPlan | undefined,
  others: readonly KubernetesObject[],
  ownedLive: (secret: Rendered) => boolean,
  get: (name: string, namespace: string) => Promise<KubernetesObject | undefined>,
): Promise<KubernetesObject[]> {
  const found: KubernetesObject[] = [];
  for (const s of plan?.desired ?? []) {
    if (ownedLive(s) || others.some((o) => o.metadata?.name === s.metadata.name && o.metadata?.namespace === s.metadata.namespace)) continue;
    const live = await get(s.metadata.name, s.metadata.namespace ?? '');
    if (live) found.push(live);
  }
  return found;
}

/** Reads through a kubeconfig what istiod reads first (pods); undefined when it can, else why not (one line). */
export type KubeconfigProbe = (kubeconfig: string) => Promise<string | undefined>;

const PROBE_TIMEOUT_MS = 5_000;

/** The probe the operator uses: one LIST of a single pod, cluster-wide, with the kubeconfig's own credentials. */
export async function probeKubeconfig(kubeconfig: string): Promise<string | undefined> {
  let client;
  try {
    client = await clientFromKubeconfig(kubeconfig);
    await client.request('GET', '/api/v1/pods', { query: { limit: '1' }, timeoutMs: PROBE_TIMEOUT_MS });
    return undefined;
  } catch (err) {
    return errorMessage(err).split('\n')[0];
  } finally {
    client?.close();
  }
}

/** How long a failed probe's answer stands before a reconcile asks again (a working kubeconfig is asked once). */
const PROBE_RETRY_MS = 60_000;

/**
 * Whether the kubeconfig of each remote secret to write reaches its cluster. A member whose kubeconfig does not
 * still gets its remote secret (a cluster that is down for a while must not lose its credentials, nor miss a
 * rotation), and the reason joins the plan's problems, so that it is one Warning Event naming the member's
 * cluster and server. Each kubeconfig is probed once while it works and at most once a minute while it does not.
 */
export class KubeconfigReachability {
  private readonly answers = new Map<string, { problem: string | undefined; at: number }>();

  constructor(
    private readonly probe: KubeconfigProbe,
    private readonly now: () => number = () => Date.now(),
  ) {}

  async problems(plan: MemberSecretsPlan | undefined): Promise<string[]> {
    const out: string[] = [];
    const current = new Set<string>();
    for (const secret of plan?.desired ?? []) {
      const cluster = secret.metadata.annotations?.[CLUSTER_ANNOTATION] ?? '';
      const b64 = (secret.data as Record<string, string> | undefined)?.[cluster];
      if (b64 === undefined) continue;
      const kubeconfig = Buffer.from(b64, 'base64').toString('utf8');
      const hash = createHash('sha256').update(kubeconfig).digest('hex');
      current.add(hash);
      let answer = this.answers.get(hash);
      if (!answer || (answer.problem !== undefined && this.now() - answer.at >= PROBE_RETRY_MS)) {
        answer = { problem: await this.probe(kubeconfig), at: this.now() };
        this.answers.set(hash, answer);
      }
      if (answer.problem !== undefined) {
        out.push(`The kubeconfig of cluster "${cluster}" does not read its cluster at ${kubeconfigServer(kubeconfig) ?? '(no server)'}: ${answer.problem}; its remote secret is written all the same, and istiod cannot read that cluster until the member Secret is fixed`);
      }
    }
    for (const hash of [...this.answers.keys()]) if (!current.has(hash)) this.answers.delete(hash);
    return out;
  }
}
