// Wiring of the serviceexport (Multi-Cluster Services) controller for the composition root.
import type { KubeClient } from '../../kube/client.js';
import type { EventSink } from '../../kube/events.js';
import type { Manager } from '../../kube/manager.js';
import type { Logger } from '../../util/log.js';
import { resolveIdentity, servesGroupVersion } from './membership.js';
import { noIdentityController } from './noidentity.js';
import { ServiceExportReconciler } from './reconcile.js';

export { CONTROLLER_NAME, ServiceExportReconciler, type ServiceExportOptions } from './reconcile.js';
export { IdentityError } from './membership.js';

export interface McsSetup {
  readonly clusterId?: string | undefined;
  readonly clusterSetId?: string | undefined;
  readonly namespace: string;
  readonly probeIntervalMs: number;
  readonly informerIdleReconnectMs: number;
  readonly workers?: number | undefined;
  readonly bulkWorkers?: number | undefined;
}

/**
 * Registers the serviceexport controller with the manager, or explains why it does not run: the MCS CRDs are not
 * installed (in the log), or no cluster id is configured and no ClusterProperty names one (in the log and on each
 * ServiceExport's status, by a controller that only writes that). An id that disagrees
 * with the cluster's ClusterProperty throws (IdentityError): the operator must not run with a changed identity.
 */
export async function setupServiceExport(client: KubeClient, manager: Manager, events: EventSink, log: Logger, setup: McsSetup): Promise<ServiceExportReconciler | undefined> {
  if (!(await servesGroupVersion(client, 'multicluster.x-k8s.io/v1alpha1'))) {
    log.warn('Skipped the serviceexport controller: the ServiceExport and ServiceImport CRDs are not installed');
    return undefined;
  }
  const identity = await resolveIdentity(client, setup, log);
  if (!identity) {
    log.warn('Found no cluster id: ServiceExports only get Ready=False NoClusterId (set --cluster-id or create ClusterProperty cluster.clusterset.k8s.io)');
    manager.add(noIdentityController(client, manager, events, log));
    return undefined;
  }
  const reconciler = new ServiceExportReconciler(client, manager, events, log, {
    clusterId: identity.clusterId,
    namespace: setup.namespace,
    probeIntervalMs: setup.probeIntervalMs,
    informerIdleReconnectMs: setup.informerIdleReconnectMs,
    ...(setup.workers === undefined ? {} : { workers: setup.workers }),
    ...(setup.bulkWorkers === undefined ? {} : { bulkWorkers: setup.bulkWorkers }),
  });
  manager.add(reconciler.controller(manager, log));
  log.info('Set up the serviceexport controller', { cluster: identity.clusterId, clusterSet: identity.clusterSetId, namespace: setup.namespace });
  return reconciler;
}
