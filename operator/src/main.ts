import { ConfigError, type OperatorConfig } from './config/index.js';
import { describeListenError, loadKubeConfig } from './config/kubeconfig.js';
import { connect } from './kube/connect.js';
import { stopOnSignals } from './kube/lifecycle.js';
import { KubeClient } from './kube/client.js';
import { Manager } from './kube/manager.js';
import { createLogger } from './util/log.js';
import { errorMessage } from './kube/errors.js';
import { R } from './kube/resources.js';
import { EventRecorder } from './kube/events.js';
import { IstioOperatorReconciler } from './controllers/istiooperator/reconcile.js';
import { REVISIONTAG_FIELD_MANAGER, RevisionTagReconciler } from './controllers/revisiontag/reconcile.js';
import { setupServiceExport } from './controllers/serviceexport/index.js';

export interface RunningOperator {
  manager: Manager;
  stop(): Promise<void>;
  /** Resolves when the operator has stopped (signal, fatal error or stop()). */
  done: Promise<void>;
}

/** Composition root: config → logger → client → manager → controllers → start. */
export async function startOperator(config: OperatorConfig): Promise<RunningOperator> {
  const log = createLogger({ level: config.logLevel, format: config.logFormat, component: 'operator' });
  const { kc, source } = loadKubeConfig(config.kubeconfig);
  const rateLimit = { qps: config.apiQps, burst: Math.max(1, config.apiBurst) };
  const client = await connect(kc, source, undefined, rateLimit);
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((r) => (resolveDone = r));
  const manager: Manager = new Manager(
    client,
    {
      probeHost: config.probeHost,
      probePort: config.probePort,
      informerIdleReconnectMs: config.informerIdleReconnectMs,
      leaderElection: config.leaderElect
        ? { namespace: config.namespace, name: config.leaseName, identity: config.identity, leaseDurationMs: config.leaseDurationMs, renewDeadlineMs: config.renewDeadlineMs, retryPeriodMs: config.retryPeriodMs }
        : undefined,
    },
    log,
    (reason) => {
      log.error('Stopping after a fatal error', { reason });
      process.exitCode = 1;
      void stop();
    },
  );
  const events = new EventRecorder(client, 'mizzen', config.identity, log);
  let tagClient: KubeClient | undefined;
  // Builds the controllers; run again (on fresh informers) whenever leadership is regained after a loss.
  await manager.setup(async () => {
    tagClient?.close();
    tagClient = undefined;
    if (config.controllers.includes('istiooperator')) {
      const iop = new IstioOperatorReconciler(client, manager, events, log.child({ controller: 'istiooperator' }), undefined, { namespace: config.namespace, clusterId: config.clusterId });
      manager.add(iop.controller(manager, log));
    }
    if (config.controllers.includes('revisiontag')) {
      tagClient = manager.instrument(await KubeClient.create(kc, REVISIONTAG_FIELD_MANAGER, rateLimit));
      const tags = new RevisionTagReconciler(tagClient, manager, events, log.child({ controller: 'revisiontag' }));
      manager.add(tags.controller(manager, log));
    }
    if (config.controllers.includes('serviceexport')) {
      await setupServiceExport(client, manager, events, log.child({ controller: 'serviceexport' }), {
        clusterId: config.clusterId,
        clusterSetId: config.clusterSetId,
        namespace: config.namespace,
        probeIntervalMs: config.peerProbeIntervalMs,
        informerIdleReconnectMs: config.informerIdleReconnectMs,
        workers: config.mcsWorkers,
        bulkWorkers: config.mcsBulkWorkers,
      });
    }
  });
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= manager.stop().then(() => {
      tagClient?.close();
      log.info('Stopped operator');
      resolveDone();
    });
    return stopping;
  };
  stopOnSignals(log, stop);
  try {
    await ensureNamespace(client, config.namespace, config.leaderElect);
    await manager.start().catch((err: unknown) => {
      const line = describeListenError(err, '--probe-addr', `${config.probeHost}:${config.probePort}`);
      throw line ? new ConfigError(line) : err;
    });
  } catch (err) {
    if (!(err instanceof ConfigError)) log.error('Could not start operator', { error: errorMessage(err) });
    await stop();
    throw err;
  }
  log.info('Started operator', { namespace: config.namespace, identity: config.identity, controllers: config.controllers });
  return { manager, stop, done };
}

async function ensureNamespace(client: KubeClient, namespace: string, needed: boolean): Promise<void> {
  if (!needed) return;
  if (await client.get(R.namespace, namespace)) return;
  await client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
}
