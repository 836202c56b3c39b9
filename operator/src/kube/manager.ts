import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeClient } from './client.js';
import { Informer, type InformerOptions } from './informer.js';
import type { Controller } from './controller.js';
import { LeaderElector, type LeaderElectionOptions } from './leader.js';
import { Metrics } from './metrics.js';
import { ProbeServer } from './server.js';
import type { ResourceType } from './resources.js';
import type { Logger } from '../util/log.js';

export interface ManagerOptions {
  probeHost: string;
  probePort: number;
  leaderElection?: Omit<LeaderElectionOptions, 'clock'>;
  informerIdleReconnectMs?: number;
}

/**
 * The composition of the runtime: shared informers (one per resource type, namespace and selector),
 * controllers, leader election and the probe server. Controllers and informers start only once this
 * process leads; a standby serves probes and metrics and waits.
 */
export class Manager {
  readonly metrics = new Metrics({ defaultMetrics: true });
  private readonly informers = new Map<string, Informer>();
  private readonly controllers: Controller[] = [];
  private readonly probes: ProbeServer;
  private elector?: LeaderElector;
  private started = false;
  private stopping = false;
  private fatal?: string;
  private electionDone?: Promise<void>;
  probeAddress?: { host: string; port: number };

  constructor(
    readonly client: KubeClient,
    private readonly opts: ManagerOptions,
    readonly log: Logger,
    private readonly onFatal: (reason: string) => void = () => undefined,
  ) {
    client.observer = (verb, status) => this.metrics.apiRequests.inc({ verb, code: String(status) });
    this.metrics.onCollectInformers(() => [...this.informers.values()].map((i) => ({ name: i.name, restarts: i.stats.restarts, synced: i.hasSynced() })));
    this.probes = new ProbeServer({
      host: opts.probeHost,
      port: opts.probePort,
      registry: this.metrics.registry,
      healthy: () => this.fatal,
      ready: () => this.readiness(),
    });
  }

  /** The shared informer for a resource type (created on first use). */
  informer<T extends KubernetesObject = KubernetesObject>(type: ResourceType, opts: Omit<InformerOptions, 'clock'> = {}): Informer<T> {
    const key = `${type.apiVersion}/${type.kind}|${opts.namespace ?? ''}|${opts.labelSelector ?? ''}|${opts.fieldSelector ?? ''}`;
    let inf = this.informers.get(key);
    if (!inf) {
      inf = new Informer(type, this.client, this.log, { idleReconnectMs: this.opts.informerIdleReconnectMs, ...opts });
      this.informers.set(key, inf);
      if (this.started) inf.start();
    }
    return inf as unknown as Informer<T>;
  }

  add(controller: Controller): void {
    this.controllers.push(controller);
  }

  isLeader(): boolean {
    return this.elector ? this.elector.isLeader() : this.started;
  }

  async start(): Promise<void> {
    const addr = await this.probes.start();
    this.probeAddress = { host: addr.address, port: addr.port };
    this.log.info('Started probe server', { address: `${addr.address}:${addr.port}` });
    if (!this.opts.leaderElection) {
      await this.startControllers();
      return;
    }
    const elector = new LeaderElector(this.client, this.opts.leaderElection, this.log);
    this.elector = elector;
    this.log.info('Waiting for leader lease', { lease: `${this.opts.leaderElection.namespace}/${this.opts.leaderElection.name}`, identity: this.opts.leaderElection.identity });
    this.electionDone = elector.run(
      async () => {
        this.metrics.isLeader.set(1);
        await this.startControllers();
      },
      () => {
        this.metrics.isLeader.set(0);
        this.fatal = 'leader lease lost';
        this.onFatal(this.fatal);
      },
    );
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await Promise.all(this.controllers.map((c) => c.stop()));
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
    if (this.elector) {
      await this.elector.stop();
      this.metrics.isLeader.set(0);
    }
    await this.probes.stop();
    this.client.close();
  }

  /** Resolves once every informer has synced (or the manager stops). */
  async waitForCacheSync(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.waitForSync()));
  }

  private async startControllers(): Promise<void> {
    if (this.stopping) return;
    this.started = true;
    for (const inf of this.informers.values()) inf.start();
    await this.waitForCacheSync();
    if (this.stopping) return;
    this.log.info('Synced caches', { informers: [...this.informers.values()].map((i) => i.name) });
    for (const c of this.controllers) {
      c.start();
      this.log.info('Started controller', { controller: c.name });
    }
  }

  private readiness(): string | undefined {
    if (this.fatal) return this.fatal;
    if (this.elector && !this.elector.isLeader()) return undefined; // a healthy standby is ready
    const pending = [...this.informers.values()].filter((i) => !i.hasSynced()).map((i) => i.name);
    return pending.length ? `caches not synced: ${pending.join(', ')}` : undefined;
  }
}
