// What the serviceexport controller does when this cluster has no id: it cannot take part in a ClusterSet, so it
// only tells each ServiceExport why nothing happens (Ready=False, reason NoClusterId) and how to fix it, instead of
// leaving the export without a status and the explanation in the operator's log.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeClient } from '../../kube/client.js';
import { Controller, splitKey } from '../../kube/controller.js';
import type { EventSink } from '../../kube/events.js';
import type { Manager } from '../../kube/manager.js';
import { R } from '../../kube/resources.js';
import { ConditionType } from '../../mcs/index.js';
import { findCondition, setCondition, type Condition, type ConditionInput } from '../../util/conditions.js';
import type { Logger } from '../../util/log.js';

export const NO_CLUSTER_ID_REASON = 'NoClusterId';

export const NO_CLUSTER_ID_MESSAGE =
  'This cluster has no ClusterSet id, so nothing is exported: start the operator with --cluster-id=NAME ' +
  '(Helm value clusterId) or create the ClusterProperty cluster.clusterset.k8s.io (spec.value: NAME), then restart the operator.';

type ExportObj = KubernetesObject & { status?: { conditions?: Condition[] } };

/** The condition a ServiceExport carries while this cluster has no id; pure. */
export function noClusterIdCondition(generation: number | undefined): ConditionInput {
  return {
    type: ConditionType.Ready,
    status: 'False',
    reason: NO_CLUSTER_ID_REASON,
    message: NO_CLUSTER_ID_MESSAGE,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
}

/** Whether the export already says so (nothing to write). */
export function saysNoClusterId(conditions: readonly Condition[] | undefined, want: ConditionInput): boolean {
  const c = findCondition(conditions, want.type);
  return c?.status === want.status && c.reason === want.reason && c.message === want.message && c.observedGeneration === want.observedGeneration;
}

/** A controller over ServiceExports that only writes the NoClusterId condition (and one Warning when it appears). */
export function noIdentityController(client: KubeClient, manager: Manager, events: EventSink, log: Logger, now: () => Date = () => new Date()): Controller {
  const exports = manager.informer<ExportObj>(R.serviceExport);
  const reconcile = async (key: string): Promise<void> => {
    const { namespace, name } = splitKey(key);
    const live = exports.get(name, namespace);
    if (!live || live.metadata?.deletionTimestamp) return;
    const want = noClusterIdCondition(live.metadata?.generation);
    if (saysNoClusterId(live.status?.conditions, want)) return;
    // Only the Ready entry is applied (conditions is a map keyed by type): the others stay as they are.
    const ready = findCondition(setCondition(live.status?.conditions, want, now()), want.type);
    await client.apply({ apiVersion: R.serviceExport.apiVersion, kind: R.serviceExport.kind, metadata: { name, namespace }, status: { conditions: [ready] } } as KubernetesObject, {
      subresource: 'status',
    });
    if (findCondition(live.status?.conditions, want.type)?.reason !== NO_CLUSTER_ID_REASON) events.emit(live, 'Warning', NO_CLUSTER_ID_REASON, NO_CLUSTER_ID_MESSAGE);
    log.info('Reported that the cluster has no id', { kind: 'ServiceExport', namespace, name });
  };
  return new Controller({ name: 'serviceexport', reconcile, workers: 2 }, log, manager.metrics).watchRoot(exports);
}
