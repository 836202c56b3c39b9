import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeClient } from './client.js';
import { Informer, type InformerOptions } from './informer.js';
import type { Controller } from './controller.js';
import { LeaderElector, apiLeaseStore, type LeaderElectionOptions } from './leader.js';
import { classify, errorMessage } from './errors.js';
import { Metrics } from './metrics.js';
import { ProbeServer } from './server.js';
import type { ResourceType } from './resources.js';
import type { Logger } from '../util/log.js';
import { type Clock, realClock } from '../util/clock.js';

export interface ManagerOptions {
  probeHost: string;
  probePort: number;
  leaderElection?: LeaderElectionOptions;
  informerIdleReconnectMs?: number;
}

/** Creates the controllers (and through them the informers) of a term; see Manager.setup. */
export type Setup = () => Promise<void> | void;

/**
 * The composition of the runtime: shared informers (one per resource type, namespace and selector),
 * controllers, leader election and the probe server. Controllers and informers start only once this
 * process leads; a standby serves probes and metrics and waits. When the Lease is lost (e.g. the API server
 * was unreachable past the renew deadline) writes are refused at once, controllers and informers stop, and
 * the process campaigns again; on winning, the setup function builds them afresh, as a restart would.
 */
export class Manager {
  readonly metrics = new Metrics({ defaultMetrics: true });
  private informers = new Map<string, Informer>();
  private controllers: Controller[] = [];
  private readonly probes: ProbeServer;
  private elector?: LeaderElector;
  private setupFn?: Setup;
  private started = false;
  private stopping = false;
  private fatal?: string;
  /** Incremented whenever leading ends, so start-up work of an ended term stops where it is. */
  private term = 0;
  private rebuild = false;
  private starting?: Promise<void>;
  private electionDone?: Promise<void>;
  probeAddress?: { host: string; port: number };

  constructor(
    readonly client: KubeClient,
    private readonly opts: ManagerOptions,
    readonly log: Logger,
    private readonly onFatal: (reason: string) => void = () => undefined,
  ) {
    this.instrument(client);
    this.metrics.onCollectInformers(() => [...this.informers.values()].map((i) => ({ name: i.name, restarts: i.stats.restarts, synced: i.hasSynced() })));
    this.probes = new ProbeServer({
      host: opts.probeHost,
      port: opts.probePort,
      registry: this.metrics.registry,
      healthy: () => this.fatal,
      ready: () => this.readiness(),
    });
  }

  /** Counts a client's requests in mizzen_api_requests_total and fences its writes on leadership. */
  instrument(client: KubeClient): KubeClient {
    client.observer = (verb, status, ms, resource) => {
      this.metrics.apiRequests.inc({ verb, code: String(status), resource });
      this.metrics.apiRequestDuration.observe({ verb }, ms / 1000);
    };
    this.metrics.watchLimiter(client.limiter.stats);
    client.writeGuard = () => (this.elector && !this.elector.isLeader() ? 'this process does not hold the leader lease' : undefined);
    return client;
  }

  /**
   * Runs setup now (it creates the controllers and informers) and again each time leadership is regained after
   * a loss, on a manager whose controllers and informers of the previous term are gone.
   */
  async setup(fn: Setup): Promise<void> {
    this.setupFn = fn;
    await fn();
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

  /** The leader elector (when leader election is on), for its figures. */
  get election(): LeaderElector | undefined {
    return this.elector;
  }

  async start(): Promise<void> {
    const addr = await this.probes.start();
    this.probeAddress = { host: addr.address, port: addr.port };
    this.log.info('Started probe server', { address: `${addr.address}:${addr.port}` });
    const le = this.opts.leaderElection;
    if (!le) {
      await this.startControllers(this.term);
      return;
    }
    const elector = new LeaderElector(apiLeaseStore(this.client, le.namespace, le.name), le, this.log);
    this.elector = elector;
    this.log.info('Waiting for leader lease', { lease: `${le.namespace}/${le.name}`, identity: le.identity });
    this.electionDone = elector.run({
      onStartedLeading: () => {
        this.metrics.isLeader.set(1);
        const term = this.term;
        this.starting = this.startTerm(term).catch((err: unknown) => {
          if (term !== this.term) return;
          this.fatal = `could not start the controllers: ${errorMessage(err)}`;
          this.onFatal(this.fatal);
        });
      },
      onStoppedLeading: async (reason) => {
        this.metrics.isLeader.set(0);
        if (reason === 'lost') await this.endTerm();
      },
    });
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.term++;
    await this.stopWork();
    await this.starting;
    if (this.elector) {
      await this.elector.stop();
      await this.electionDone;
      this.metrics.isLeader.set(0);
    }
    await this.probes.stop();
    this.client.close();
  }

  /** Resolves once every informer has synced (or the manager stops). */
  async waitForCacheSync(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.waitForSync()));
  }

  private async startTerm(term: number): Promise<void> {
    const setup = this.setupFn;
    if (this.rebuild && setup) {
      // Leadership is often regained just as the API server comes back, while it still answers 503 ("before
      // all known HTTP paths have been installed"): a transient answer means try again, not stop the process.
      await retryTransient(
        async () => {
          this.controllers = [];
          this.informers = new Map();
          await setup();
        },
        () => !this.stopping && term === this.term,
        (err, delayMs) => this.log.warn('Could not set up the controllers; trying again', { error: errorMessage(err), retryInMs: delayMs }),
      );
      this.rebuild = false;
    }
    await this.startControllers(term);
  }

  /** Leadership was lost: stop this term's work and drop it; the next term builds it again. */
  private async endTerm(): Promise<void> {
    this.term++;
    await this.stopWork();
    await this.starting;
    await this.stopWork();
    this.controllers = [];
    this.informers = new Map();
    this.rebuild = true;
    this.log.info('Stopped controllers and informers after losing the leader lease');
  }

  private async stopWork(): Promise<void> {
    this.started = false;
    await Promise.all(this.controllers.map((c) => c.stop()));
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
  }

  private async startControllers(term: number): Promise<void> {
    if (this.stopping || term !== this.term) return;
    this.started = true;
    for (const inf of this.informers.values()) inf.start();
    await this.waitForCacheSync();
    if (this.stopping || term !== this.term) return;
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

/**
 * Runs fn until it succeeds, retrying (capped exponential backoff) while the error is transient by classify()
 * and keep() holds; any other error, or a transient one once keep() fails, is thrown.
 */
export async function retryTransient(
  fn: () => Promise<void>,
  keep: () => boolean,
  onRetry: (err: unknown, delayMs: number) => void,
  opts: { initialMs?: number; maxMs?: number; clock?: Clock } = {},
): Promise<void> {
  const clock = opts.clock ?? realClock;
  const maxMs = opts.maxMs ?? 10_000;
  let delayMs = opts.initialMs ?? 500;
  for (;;) {
    try {
      await fn();
      return;
    } catch (err) {
      if (classify(err) !== 'transient' || !keep()) throw err;
      onRetry(err, delayMs);
      await new Promise<void>((resolve) => clock.setTimeout(resolve, delayMs));
      if (!keep()) throw err;
      delayMs = Math.min(delayMs * 2, maxMs);
    }
  }
}
