// Whether a stopping agent is being restarted (its DaemonSet stays: a rolling update, a crash, a deleted pod) or
// removed (its DaemonSet is gone or being deleted: an uninstall, the cni component switched off). On a restart
// our entry stays in the CNI configuration, so a pod that starts before the next agent is ready fails its ADD
// with "try again" (code 11) and the kubelet retries it, instead of starting without rules and waiting for
// repair. Istio's ambient node agent decides the same way ("safe upgrade"); its sidecar-mode agent always removes
// the plugin. When the DaemonSet cannot be read in time the agent removes its entry, as it always did.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeClient } from '../kube/client.js';
import { errorMessage } from '../kube/errors.js';
import { R } from '../kube/resources.js';
import type { Logger } from '../util/log.js';

/** The DaemonSet (namespace/name) that runs this pod, from its controller owner reference. */
export function owningDaemonSet(pod: KubernetesObject | undefined): string | undefined {
  const owner = pod?.metadata?.ownerReferences?.find((o) => o.controller === true && o.kind === 'DaemonSet' && o.apiVersion === 'apps/v1');
  return owner && pod?.metadata?.namespace ? `${pod.metadata.namespace}/${owner.name}` : undefined;
}

interface Requirement {
  key: string;
  operator: string;
  values?: string[];
}
interface DaemonSetShape extends KubernetesObject {
  spec?: {
    template?: {
      spec?: {
        nodeSelector?: Record<string, string>;
        affinity?: { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: { matchExpressions?: Requirement[] }[] } } };
      };
    };
  };
}

/**
 * A restart when the owning DaemonSet exists, is the one that owns the pod (same uid), is not being deleted and
 * still places a pod on this node (its nodeSelector and required node affinity match the node's labels: a
 * DaemonSet changed to leave the node stops its agent for good).
 */
export function isRestart(pod: KubernetesObject | undefined, daemonSet: DaemonSetShape | undefined, nodeLabels: Record<string, string> = {}): boolean {
  const owner = pod?.metadata?.ownerReferences?.find((o) => o.controller === true && o.kind === 'DaemonSet');
  if (!owner || !daemonSet?.metadata) return false;
  if (daemonSet.metadata.uid !== owner.uid || daemonSet.metadata.deletionTimestamp) return false;
  return placesOnNode(daemonSet, nodeLabels);
}

function placesOnNode(daemonSet: DaemonSetShape, nodeLabels: Record<string, string>): boolean {
  const podSpec = daemonSet.spec?.template?.spec ?? {};
  if (!Object.entries(podSpec.nodeSelector ?? {}).every(([k, v]) => nodeLabels[k] === v)) return false;
  const terms = podSpec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  return !terms?.length || terms.some((t) => (t.matchExpressions ?? []).every((r) => matches(r, nodeLabels)));
}

function matches(r: Requirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, r.key);
  const value = labels[r.key];
  switch (r.operator) {
    case 'In':
      return has && (r.values ?? []).includes(value ?? '');
    case 'NotIn':
      return !has || !(r.values ?? []).includes(value ?? '');
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    default:
      return true; // Gt/Lt: not decided here; the DaemonSet controller stops the pod if the node no longer fits
  }
}

/**
 * Reads this agent's pod and its DaemonSet (bounded by timeoutMs) and says whether to leave the plugin in place;
 * the reason is logged either way.
 */
export async function keepPluginOnStop(client: KubeClient, podName: string | undefined, podNamespace: string | undefined, nodeName: string, log: Logger, timeoutMs = 2000): Promise<boolean> {
  if (!podName || !podNamespace) return false;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const decide = async (): Promise<{ keep: boolean; daemonSet?: string }> => {
      const pod = await client.get(R.pod, podName, podNamespace);
      const ds = owningDaemonSet(pod);
      if (!ds) return { keep: false };
      const [ns, name] = ds.split('/') as [string, string];
      const [daemonSet, node] = await Promise.all([client.get<DaemonSetShape>(R.daemonSet, name, ns), client.get(R.node, nodeName)]);
      return { keep: isRestart(pod, daemonSet, node?.metadata?.labels ?? {}), daemonSet: ds };
    };
    const { keep, daemonSet } = await Promise.race([decide(), timeout]);
    if (keep) log.info('Stopping for a restart: DaemonSet still present, leaving mizzen-cni in place so new pods wait for the next agent', { daemonSet });
    else log.info('Stopping for good: removing mizzen-cni from the CNI configuration', { daemonSet: daemonSet ?? '(none)' });
    return keep;
  } catch (err) {
    log.warn('Could not tell a restart from an uninstall; removing mizzen-cni from the CNI configuration', { error: errorMessage(err) });
    return false;
  } finally {
    clearTimeout(timer);
  }
}
