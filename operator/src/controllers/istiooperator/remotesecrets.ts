// Remote secrets kept from the cluster membership (ADR 0008). An IstioOperator annotated
// mizzen.io/remote-secrets ("all", or a comma-separated list of cluster ids) gets, next to its istiod, one
// Istio remote secret per member cluster: built from the member Secret the MCS controller reads too
// (mizzen.io/cluster-member=true in the operator's namespace: `cluster-id`, `kubeconfig`), so one membership list
// serves both. Rotating a member's kubeconfig rewrites its remote secret; deleting the member prunes it. A member
// whose Secret has no kubeconfig is a member that cannot be read: its remote secret stays as it is.
import type { KubernetesObject, V1Secret } from '@kubernetes/client-node';
import { identity } from '../../kube/apply.js';
import { InvalidSpecError, ownerLabels, type IstioOperator, type RenderResult, type KubernetesObject as Rendered } from '../../render/index.js';
import { checkClusterName, remoteSecret, remoteSecretClash, remoteSecretName } from '../../render/remotesecret.js';
import { peersFromSecrets } from '../serviceexport/membership.js';

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
