// The node taint cni.istio.io/not-ready keeps pods off a node until its CNI agent is ready; the agent lifts it
// once install-cni has completed.
import type { V1Node, V1Taint } from '@kubernetes/client-node';
import type { KubeClient } from '../kube/client.js';
import { isConflict } from '../kube/errors.js';
import { R } from '../kube/resources.js';

export const NOT_READY_TAINT = 'cni.istio.io/not-ready';

/** The taints without `key`, or undefined when there is none with that key. Pure. */
export function withoutTaint(taints: readonly V1Taint[] | undefined, key: string): V1Taint[] | undefined {
  const list = taints ?? [];
  const rest = list.filter((t) => t.key !== key);
  return rest.length === list.length ? undefined : rest;
}

/**
 * Removes the taint from the node with a merge patch guarded by the resourceVersion it read (a concurrent
 * change by the kubelet or another controller is retried, never overwritten). Returns whether it removed one.
 */
export async function removeNodeTaint(client: KubeClient, nodeName: string, key: string, attempts = 5): Promise<boolean> {
  for (let i = 0; ; i++) {
    const node = await client.get<V1Node>(R.node, nodeName);
    if (node === undefined) throw new Error(`Node ${nodeName} does not exist`);
    const rest = withoutTaint(node.spec?.taints, key);
    if (rest === undefined) return false;
    try {
      await client.mergePatch(R.node, nodeName, undefined, { metadata: { resourceVersion: node.metadata?.resourceVersion }, spec: { taints: rest.length ? rest : null } });
      return true;
    } catch (err) {
      if (!isConflict(err) || i + 1 >= attempts) throw err;
    }
  }
}
