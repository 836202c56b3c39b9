import { ListWatch, Watch, type KubeConfig, type KubernetesObject, type KubernetesListObject } from '@kubernetes/client-node';
import type { KubeClient, ListOptions } from './client.js';
import { type ResourceType, resourcePath } from './resources.js';
import { errorMessage } from './errors.js';
import { type Clock, type TimerHandle, realClock } from '../util/clock.js';
import type { Logger } from '../util/log.js';

/**
 * What the caches keep of an object: everything but the field sets of its managedFields (who applied it and when
 * stays, for appliedByUs and the IstioOperator controller's change detection). The field sets are most of an
 * object's size and nothing reads them. apiVersion and kind are set when the server left them out (LIST items).
 * Changes the object in place: it is fresh from the wire and not shared yet.
 */
export function trimForCache<T extends KubernetesObject>(obj: T, type: ResourceType): T {
  obj.apiVersion ??= type.apiVersion;
  obj.kind ??= type.kind;
  const md = obj.metadata;
  if (md?.managedFields) {
    md.managedFields = md.managedFields.map((f) => ({
      ...(f.manager === undefined ? {} : { manager: f.manager }),
      ...(f.operation === undefined ? {} : { operation: f.operation }),
      ...(f.subresource === undefined ? {} : { subresource: f.subresource }),
      ...(f.time === undefined ? {} : { time: f.time }),
    }));
  }
  return obj;
}

/** client-node's Watch with every object trimmed (trimForCache) before ListWatch caches it. */
class TrimmingWatch extends Watch {
  constructor(
    config: KubeConfig,
    private readonly type: ResourceType,
  ) {
    super(config);
  }

  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: KubernetesObject, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    return super.watch(path, queryParams, (phase, obj: KubernetesObject, raw) => callback(phase, phase === 'ERROR' || phase === 'BOOKMARK' ? obj : trimForCache(obj, this.type), raw), done);
  }
}

export type EventType = 'add' | 'update' | 'delete';
export type InformerHandler<T> = (type: EventType, obj: T) => void;

export interface InformerOptions extends ListOptions {
  /** Reconnect the watch when it has been open this long without an event (silent stalls are known). */
  idleReconnectMs?: number;
  /** Backoff after a failed list or watch: first delay and cap. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  clock?: Clock;
}

/**
 * A shared informer: client-node's ListWatch (LIST, then WATCH from the list's resourceVersion, relist on
 * 410 Gone with delete events for what vanished) made resilient. ListWatch stops for good on any other error;
 * this wrapper restarts it with exponential backoff, resuming from the last resourceVersion so no event,
 * deletes included, is lost across an API server restart. A watch that stays silent for idleReconnectMs is
 * reconnected, which guards against connections that stall without closing.
 */
export class Informer<T extends KubernetesObject = KubernetesObject> {
  private readonly lw: ListWatch<T>;
  private readonly handlers: InformerHandler<T>[] = [];
  private readonly clock: Clock;
  private synced = false;
  private running = false;
  private restarting = false;
  private reconnectPending = false;
  private failures = 0;
  private lastActivity = 0;
  private retryTimer?: TimerHandle;
  private idleTimer?: TimerHandle;
  private syncWaiters: (() => void)[] = [];
  /** Counts of restarts after errors and of idle reconnects, for metrics and tests. */
  readonly stats = { errors: 0, restarts: 0, idleReconnects: 0, lists: 0, lastError: '' };

  constructor(
    readonly type: ResourceType,
    client: KubeClient,
    private readonly log: Logger,
    private readonly opts: InformerOptions = {},
  ) {
    this.clock = opts.clock ?? realClock;
    const path = resourcePath(type, opts.namespace);
    // resourceVersion "0": the API server answers from its watch cache instead of a quorum read of etcd.
    const listOpts: ListOptions = { namespace: opts.namespace, labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, resourceVersion: '0' };
    const listFn = async (): Promise<KubernetesListObject<T>> => {
      const list = await client.list<T>(type, listOpts);
      for (const o of list.items) trimForCache(o, type);
      this.stats.lists++;
      // ListWatch fills its cache from this list in the continuation of our promise (a microtask); a macrotask
      // later the items are in, and only then is the informer synced.
      setImmediate(() => this.markSynced());
      return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: list.resourceVersion }, items: list.items };
    };
    this.lw = new ListWatch<T>(path, new TrimmingWatch(client.kubeConfig, type), listFn, false, opts.labelSelector, opts.fieldSelector);
    const forward = (type: EventType) => (obj: T) => {
      this.lastActivity = this.clock.now();
      this.failures = 0;
      for (const h of this.handlers) h(type, obj);
    };
    this.lw.on('add', forward('add'));
    this.lw.on('update', forward('update'));
    this.lw.on('delete', forward('delete'));
    this.lw.on('connect', () => {
      this.lastActivity = this.clock.now();
    });
    this.lw.on('error', (err: unknown) => this.onError(err));
  }

  get name(): string {
    return `${this.type.kind}${this.opts.namespace ? `/${this.opts.namespace}` : ''}${this.opts.labelSelector ? `[${this.opts.labelSelector}]` : ''}`;
  }

  on(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the first LIST has been loaded into the cache. */
  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** The cached object itself, not a copy: callers must not change it. */
  get(name: string, namespace?: string): T | undefined {
    return this.lw.get(name, namespace);
  }

  /** The cached objects themselves in a new array (ListWatch builds one per call): callers must not change them. */
  list(namespace?: string): T[] {
    return this.lw.list(namespace) as T[];
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.lastActivity = this.clock.now();
    this.launch();
    this.scheduleIdleCheck();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.retryTimer) this.clock.clearTimeout(this.retryTimer);
    if (this.idleTimer) this.clock.clearTimeout(this.idleTimer);
    this.restarting = true;
    await this.lw.stop();
    for (const w of this.syncWaiters.splice(0)) w();
  }

  private markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    for (const w of this.syncWaiters.splice(0)) w();
  }

  private launch(): void {
    if (!this.running) return;
    this.reconnectPending = false;
    this.restarting = false;
    this.lw.start().catch((err: unknown) => this.onError(err));
  }

  private onError(err: unknown): void {
    if (this.reconnectPending) {
      // The error is the abort of the watch we closed on purpose: its handler has run, so start afresh now.
      this.launch();
      return;
    }
    if (!this.running || this.restarting) return;
    this.stats.errors++;
    this.stats.lastError = errorMessage(err);
    const base = this.opts.retryBaseMs ?? 200;
    const delay = Math.min(this.opts.retryMaxMs ?? 10_000, base * 2 ** Math.min(this.failures, 20));
    this.failures++;
    this.log.warn('Informer watch failed; restarting', { informer: this.name, error: this.stats.lastError, retryInMs: delay });
    this.restarting = true;
    if (this.retryTimer) this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = this.clock.setTimeout(() => {
      if (!this.running) return;
      this.stats.restarts++;
      this.launch();
    }, delay);
  }

  private scheduleIdleCheck(): void {
    const idle = this.opts.idleReconnectMs ?? 300_000;
    this.idleTimer = this.clock.setTimeout(() => {
      if (!this.running) return;
      if (!this.restarting && this.clock.now() - this.lastActivity >= idle) {
        this.stats.idleReconnects++;
        this.restarting = true;
        this.reconnectPending = true;
        this.lastActivity = this.clock.now();
        void this.lw.stop();
        // The aborted watch reports back through onError, which relaunches; this covers a quiet close.
        this.clock.setTimeout(() => {
          if (this.reconnectPending) this.launch();
        }, 1000);
      }
      this.scheduleIdleCheck();
    }, Math.max(1000, Math.floor(idle / 2)));
  }
}
