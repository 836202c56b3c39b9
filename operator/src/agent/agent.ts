// `mizzen agent`, the node agent of the istio-cni-node DaemonSet, composed and started in order:
//   probes → pod informer (this node's pods) synced → plugin socket listening → install-cni completed
//   → ready (/readyz) → node taint cni.istio.io/not-ready removed → repair/drift controller started.
// So the plugin is only in the CNI configuration while someone answers it, and repair only acts on a synced
// cache. SIGTERM undoes it: our conflist entry (the primary CNI's file written back as it was) and binary go
// first, then the repair controller, the socket and the informer stop. A restart (the DaemonSet stays, see
// restart.ts) leaves the entry and binary for the next agent.
import path from 'node:path';
import { ConfigError } from '../config/index.js';
import { describeListenError, loadKubeConfig } from '../config/kubeconfig.js';
import { connect } from '../kube/connect.js';
import { stopOnSignals } from '../kube/lifecycle.js';
import type { V1Pod } from '@kubernetes/client-node';
import type { AgentConfig } from '../config/agent.js';
import { type IptablesExecutor, NftBackedExecutor, SystemExecutor } from '../iptables/index.js';
import { KubeClient } from '../kube/client.js';
import { Controller } from '../kube/controller.js';
import { errorMessage } from '../kube/errors.js';
import { EventRecorder } from '../kube/events.js';
import { Informer } from '../kube/informer.js';
import { Metrics } from '../kube/metrics.js';
import { R } from '../kube/resources.js';
import { ProbeServer } from '../kube/server.js';
import { type Logger, createLogger } from '../util/log.js';
import { pluginEntry } from './conflist.js';
import { PluginHandler } from './handler.js';
import { type Fingerprinter, DriftProbe, processFingerprinter } from './drift.js';
import { CniInstaller } from './install.js';
import { KeyedLock } from './lock.js';
import { AgentMetrics } from './metrics.js';
import { NetnsIndex } from './netns.js';
import { keepPluginOnStop } from './restart.js';
import { InformerPodSource } from './pods.js';
import { type PodRef, SOCKET_NAME } from './protocol.js';
import { type PodWriter, PodRepairer } from './repair.js';
import { AgentSocketServer } from './socket.js';
import { NOT_READY_TAINT, removeNodeTaint } from './taint.js';

export interface RunningAgent {
  stop(): Promise<void>;
  /** Resolves when the agent has stopped (signal or stop()). */
  readonly done: Promise<void>;
  readonly probeAddress: { host: string; port: number };
  readonly socketPath: string;
}

export interface AgentOverrides {
  readonly executor?: IptablesExecutor;
  readonly log?: Logger;
  /** Reads netns fingerprints for the drift check; default: `<plugin> fingerprint <backend>`. */
  readonly fingerprinter?: Fingerprinter;
}

class KubePodWriter implements PodWriter {
  constructor(private readonly client: KubeClient) {}

  async label(pod: V1Pod, key: string, value: string): Promise<void> {
    await this.client.mergePatch(R.pod, pod.metadata?.name ?? '', pod.metadata?.namespace, { metadata: { labels: { [key]: value } } });
  }

  async delete(pod: V1Pod): Promise<void> {
    await this.client.delete(R.pod, pod.metadata?.name ?? '', pod.metadata?.namespace, { uid: pod.metadata?.uid });
  }
}

/**
 * How long an uninstall keeps mizzen-cni's binary after its entry left the configuration: a runtime that read the
 * configuration just before still runs the primary plugins (tens of ms, seconds on a busy node) before ours.
 */
const UNINSTALL_BINARY_GRACE_MS = 3000;

async function explainMissing(client: KubeClient, nodeName: string, ref: PodRef): Promise<string | undefined> {
  const pod = await client.get<V1Pod>(R.pod, ref.name, ref.namespace);
  if (pod === undefined) return 'the pod does not exist';
  if (pod.spec?.nodeName !== nodeName) return `it is bound to node ${pod.spec?.nodeName ?? '(none)'}, and this agent serves node ${nodeName}`;
  if (ref.uid !== undefined && pod.metadata?.uid !== ref.uid) return `the pod of that name has uid ${pod.metadata?.uid ?? ''}`;
  return undefined;
}

export async function startAgent(cfg: AgentConfig, overrides: AgentOverrides = {}): Promise<RunningAgent> {
  const log = overrides.log ?? createLogger({ level: cfg.logLevel, format: cfg.logFormat, component: 'agent' });
  const loaded = loadKubeConfig(cfg.kubeconfig);
  const client = await connect(loaded.kc, loaded.source);
  const metrics = new Metrics({ defaultMetrics: true });
  const agentMetrics = new AgentMetrics(metrics.registry);
  client.observer = (verb, status, _ms, resource) => metrics.apiRequests.inc({ verb, code: String(status), resource });
  const informer = new Informer<V1Pod>(R.pod, client, log, { fieldSelector: `spec.nodeName=${cfg.nodeName}`, idleReconnectMs: cfg.informerIdleReconnectMs });
  metrics.onCollectInformers(() => [{ name: informer.name, restarts: informer.stats.restarts, synced: informer.hasSynced() }]);
  // A pod the cache does not have yet is read from the API server after 250 ms (a lagging or stalled watch).
  const pods = new InformerPodSource(informer, async (namespace, name) => {
    const pod = await client.get<V1Pod>(R.pod, name, namespace);
    return pod?.spec?.nodeName === cfg.nodeName ? pod : undefined;
  });
  // values.global.nativeNftables: pods get native nftables tables instead of iptables chains (same rules' meaning).
  const executor = overrides.executor ?? (cfg.cni.nativeNftables ? new NftBackedExecutor() : new SystemExecutor());
  const events = new EventRecorder(client, 'mizzen-agent', cfg.podName ?? `mizzen-agent-${cfg.nodeName}`, log);
  const index = new NetnsIndex(cfg.cniCacheDir, cfg.netnsDir);
  const locks = new KeyedLock();
  const settings = { excludeNamespaces: cfg.cni.excludeNamespaces };
  const socketPath = path.join(cfg.socketDir, SOCKET_NAME);
  const handler = new PluginHandler({
    nodeName: cfg.nodeName,
    pods,
    executor,
    events,
    index,
    locks,
    settings,
    log,
    podWaitMs: cfg.podWaitMs,
    netlink: cfg.netlink,
    metrics: agentMetrics,
    explainMissing: (ref) => explainMissing(client, cfg.nodeName, ref),
  });
  const socket = new AgentSocketServer(socketPath, (req, peer) => handler.handle(req, peer), (err) => log.error('Plugin request failed', { error: errorMessage(err) }));
  const installer = new CniInstaller({
    pluginSource: cfg.pluginPath,
    cniBinDir: cfg.cniBinDir,
    cniConfDir: cfg.cniConfDir,
    confFileName: cfg.cni.cniConfFileName,
    entry: pluginEntry({ agentSocket: socketPath }),
    checkIntervalMs: cfg.installCheckIntervalMs,
    log,
    onInsert: () => agentMetrics.cniConfigInserts.inc(),
    binaryGraceMs: UNINSTALL_BINARY_GRACE_MS,
  });
  let readyAt: number | undefined;
  const repairer = new PodRepairer({
    pods,
    executor,
    events,
    index,
    locks,
    settings,
    repair: cfg.cni.repair,
    writer: new KubePodWriter(client),
    log,
    metrics: agentMetrics,
    readyAt: () => readyAt,
    probe: new DriftProbe(overrides.fingerprinter ?? processFingerprinter(cfg.pluginPath, () => executor.detectBackend()), () => index.knownNetns(), Math.max(250, cfg.driftIntervalMs / 2)),
  });
  const controller = new Controller(
    {
      name: 'cni-repair',
      reconcile: async (key) => {
        await repairer.reconcile(key);
      },
      workers: 2,
      resyncMs: cfg.driftIntervalMs,
    },
    log,
    metrics,
  ).watchRoot(informer);

  let notReady = 'pod cache not synced';
  let stopping: Promise<void> | undefined;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((r) => (resolveDone = r));
  const probes = new ProbeServer({ host: cfg.probeHost, port: cfg.probePort, registry: metrics.registry, healthy: () => undefined, ready: () => notReady || undefined });

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      notReady = 'stopping';
      // Our entry leaves the CNI configuration first, while the socket still answers the plugin: the kubelet
      // gives the pod terminationGracePeriodSeconds, and a slow controller stop must not spend them.
      if (cfg.safeRestart && (await keepPluginOnStop(client, cfg.podName, cfg.podNamespace, cfg.nodeName, log))) await installer.leaveInPlace();
      else await installer.uninstall().catch((err: unknown) => log.error('Could not remove mizzen-cni from the CNI configuration', { error: errorMessage(err) }));
      await controller.stop();
      await socket.stop();
      await informer.stop();
      await probes.stop();
      client.close();
      log.info('Stopped agent', { node: cfg.nodeName });
      resolveDone();
    })();
    return stopping;
  };
  stopOnSignals(log, stop);

  try {
    const addr = await probes.start().catch((err: unknown) => {
      const line = describeListenError(err, '--probe-addr', `${cfg.probeHost}:${cfg.probePort}`);
      throw line ? new ConfigError(line) : err;
    });
    log.info('Started probe server', { address: `${addr.address}:${addr.port}` });
    const backend = await executor.detectBackend();
    if (cfg.cni.nativeNftables) log.info('Programming pods with native nftables (values.global.nativeNftables)', { backend: 'nftables' });
    else log.info('Detected iptables backend', { backend });
    informer.start();
    await informer.waitForSync();
    notReady = 'plugin socket not listening';
    await socket.start();
    log.info('Opened the plugin socket', { socket: socketPath });
    notReady = 'install-cni not complete';
    const file = await installer.install();
    readyAt = Date.now();
    notReady = '';
    log.info('Became ready', { node: cfg.nodeName, cniConfig: path.join(cfg.cniConfDir, file), plugin: installer.pluginPath, backend });
    void untaint(client, cfg.nodeName, log, () => stopping !== undefined);
    controller.start();
    return { stop, done, probeAddress: { host: addr.address, port: addr.port }, socketPath };
  } catch (err) {
    if (!(err instanceof ConfigError)) log.error('Could not start agent', { error: errorMessage(err) });
    await stop();
    throw err;
  }
}

/** Removes the not-ready taint, retrying until it succeeds or the agent stops. */
async function untaint(client: KubeClient, nodeName: string, log: Logger, stopped: () => boolean): Promise<void> {
  for (let delay = 500; !stopped(); delay = Math.min(delay * 2, 30_000)) {
    try {
      const removed = await removeNodeTaint(client, nodeName, NOT_READY_TAINT);
      log.info(removed ? 'Removed node taint' : 'Found no node taint to remove', { kind: 'Node', name: nodeName, taint: NOT_READY_TAINT });
      return;
    } catch (err) {
      log.warn('Could not remove node taint; retrying', { kind: 'Node', name: nodeName, taint: NOT_READY_TAINT, error: errorMessage(err), retryInMs: delay });
      await new Promise((r) => setTimeout(r, delay).unref());
    }
  }
}
