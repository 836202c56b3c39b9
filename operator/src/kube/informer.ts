import type { KubeConfig, KubernetesObject, KubernetesListObject } from '@kubernetes/client-node';
import { ListWatch, Watch } from './client-node.js';
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

type WatchCallback = (phase: string, apiObj: KubernetesObject, watchObj?: unknown) => void;

/** The part of client-node's Watch that ListWatch uses (a fake in unit tests). */
export interface WatchLike {
  watch(path: string, queryParams: Record<string, string | number | boolean | undefined>, callback: WatchCallback, done: (err: unknown) => void): Promise<AbortController>;
}

/** What the informer needs of a client: LIST, and the kubeconfig for client-node's Watch. */
export type InformerClient = Pick<KubeClient, 'list' | 'kubeConfig'>;

/**
 * The watch as the informer opens it, between ListWatch and client-node's Watch:
 * - asks for bookmarks and a server-side timeout, so a quiet watch still shows signs of life (a bookmark, or the
 *   server ending the watch at its timeout, after which ListWatch resumes from the resourceVersion);
 * - counts every event, bookmarks included, as activity;
 * - opens nothing when the informer no longer runs (ListWatch opens its watch once an in-flight LIST returns,
 *   even after stop());
 * - tells the informer that the LIST is in the cache (ListWatch calls watch() right after loading it).
 */
class GuardedWatch implements WatchLike {
  constructor(
    private readonly inner: WatchLike,
    private readonly hooks: {
      running: () => boolean;
      opening: () => void;
      activity: (phase: string) => void;
      closed: (err: unknown) => void;
      timeoutSeconds: () => number;
    },
  ) {}

  async watch(path: string, queryParams: Record<string, string | number | boolean | undefined>, callback: WatchCallback, done: (err: unknown) => void): Promise<AbortController> {
    this.hooks.opening();
    if (!this.hooks.running()) return new AbortController();
    const query = { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: this.hooks.timeoutSeconds() };
    return this.inner.watch(
      path,
      query,
      (phase, obj, raw) => {
        this.hooks.activity(phase);
        callback(phase, obj, raw);
      },
      (err) => {
        this.hooks.closed(err);
        done(err);
      },
    );
  }
}
export type InformerHandler<T> = (type: EventType, obj: T) => void;

export interface InformerOptions extends ListOptions {
  /**
   * The watch's server-side timeout (timeoutSeconds, with up to 20% jitter below it): a healthy API server ends a
   * quiet watch by then, and the informer resumes it from its resourceVersion. A watch silent (no event, no
   * bookmark, no close) for this long plus stallGraceMs is stalled and is reconnected. Default 5 min.
   */
  idleReconnectMs?: number;
  /** Added to idleReconnectMs before a silent watch counts as stalled (default 60 s). */
  stallGraceMs?: number;
  /** The Watch under ListWatch (default client-node's, on the client's kubeconfig); a fake in tests. */
  watch?: WatchLike;
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
  private listed = false;
  private running = false;
  private restarting = false;
  private reconnectPending = false;
  private failures = 0;
  private lastActivity = 0;
  private retryTimer?: TimerHandle;
  private idleTimer?: TimerHandle;
  private syncWaiters: (() => void)[] = [];
  /** Counts of restarts after errors and of idle reconnects, for metrics and tests. */
  readonly stats = { errors: 0, restarts: 0, idleReconnects: 0, lists: 0, watches: 0, bookmarks: 0, lastError: '' };

  constructor(
    readonly type: ResourceType,
    client: InformerClient,
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
      // ListWatch fills its cache from this list, then opens the watch: GuardedWatch marks the informer synced.
      this.listed = true;
      return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: list.resourceVersion }, items: list.items };
    };
    const idle = opts.idleReconnectMs ?? 300_000;
    const watch = new GuardedWatch(opts.watch ?? new TrimmingWatch(client.kubeConfig, type), {
      running: () => this.running,
      opening: () => {
        if (this.listed) this.markSynced();
      },
      activity: (phase) => {
        this.lastActivity = this.clock.now();
        if (phase === 'BOOKMARK') this.stats.bookmarks++;
      },
      closed: () => {
        this.lastActivity = this.clock.now();
      },
      timeoutSeconds: () => {
        this.stats.watches++;
        return Math.max(1, Math.floor((idle / 1000) * (0.8 + 0.2 * Math.random())));
      },
    });
    this.lw = new ListWatch<T>(path, watch as unknown as Watch, listFn, false, opts.labelSelector, opts.fieldSelector);
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

  /** Reconnects a watch silent past its server-side timeout plus a grace: a quiet resource never gets there. */
  private scheduleIdleCheck(): void {
    const idle = this.opts.idleReconnectMs ?? 300_000;
    const stalledAfter = idle + (this.opts.stallGraceMs ?? 60_000);
    this.idleTimer = this.clock.setTimeout(() => {
      if (!this.running) return;
      if (!this.restarting && this.clock.now() - this.lastActivity >= stalledAfter) {
        this.log.warn('Informer watch stalled; reconnecting', { informer: this.name, silentMs: this.clock.now() - this.lastActivity });
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
