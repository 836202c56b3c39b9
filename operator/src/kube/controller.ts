import type { KubernetesObject } from '@kubernetes/client-node';
import { WorkQueue, type RateLimiterOptions, defaultRateLimiter } from './workqueue.js';
import type { Informer, EventType } from './informer.js';
import { classify, errorMessage } from './errors.js';
import type { Metrics } from './metrics.js';
import type { Logger } from '../util/log.js';
import { type Clock, type TimerHandle, realClock } from '../util/clock.js';
import { urgent } from './priority.js';

export interface ReconcileResult {
  /** Reconcile this key again after this many milliseconds (e.g. to poll a child's readiness). */
  requeueAfterMs?: number;
}

export type Reconciler = (key: string) => Promise<ReconcileResult | void>;

/** Maps a watched object to the keys of the root objects it concerns. */
export type KeyMapper<T> = (obj: T, type: EventType) => string[];

export interface ControllerOptions {
  name: string;
  reconcile: Reconciler;
  workers?: number;
  /**
   * Keys added without priority processed at once at most (WorkQueue maxBulkInFlight); the other workers are
   * kept for keys added with priority. Unset: every worker takes any key.
   */
  maxBulkInFlight?: number;
  rateLimiter?: RateLimiterOptions;
  /** Re-enqueue every known root key this often (level-based safety net); 0 disables. */
  resyncMs?: number;
  clock?: Clock;
}

export function objectKey(obj: KubernetesObject): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata?.name ?? ''}` : (obj.metadata?.name ?? '');
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/**
 * One controller per root kind: watches enqueue keys, workers take keys from a deduplicating, rate-limited
 * queue and call reconcile(key). Errors are classified by type: invalid input is not retried (the reconcile
 * reports it in status), conflicts and transient errors are retried with per-key backoff, and anything else
 * is logged with its key as a bug and retried, keeping the process alive.
 */
export class Controller {
  readonly queue: WorkQueue;
  private readonly informers: Informer[] = [];
  private readonly roots: Informer[] = [];
  private running = false;
  private workersDone: Promise<void>[] = [];
  private resyncTimer?: TimerHandle;
  private readonly clock: Clock;

  constructor(
    private readonly opts: ControllerOptions,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    const clock = opts.clock ?? realClock;
    this.clock = clock;
    this.queue = new WorkQueue(opts.name, clock, opts.rateLimiter ?? defaultRateLimiter, (d) => metrics.queueDepth.set({ controller: opts.name }, d), {
      ...(opts.maxBulkInFlight === undefined ? {} : { maxBulkInFlight: opts.maxBulkInFlight }),
    });
  }

  get name(): string {
    return this.opts.name;
  }

  /** Watches the root kind itself: every event enqueues the object's own key. */
  watchRoot<T extends KubernetesObject>(informer: Informer<T>): this {
    this.roots.push(informer as unknown as Informer);
    return this.watch(informer, (obj) => [objectKey(obj)]);
  }

  /**
   * Watches a related kind; the mapper names the root keys an event concerns. `urgent` says which events' keys
   * go ahead of the others in the queue (WorkQueue.add with priority). With delayMs, the keys are queued that much
   * later, and every event meanwhile folds into that one pending add: a burst of related changes (say, 2,000
   * namespaces created) costs one reconcile per key per delay instead of one per change.
   */
  watch<T extends KubernetesObject>(informer: Informer<T>, map: KeyMapper<T>, urgent?: (obj: T, type: EventType) => boolean, opts: { delayMs?: number } = {}): this {
    this.informers.push(informer as unknown as Informer);
    const delay = opts.delayMs ?? 0;
    informer.on((type, obj) => {
      const keys = map(obj, type);
      if (keys.length === 0) return;
      if (delay > 0) {
        for (const key of keys) this.queue.addAfter(key, delay);
        return;
      }
      const priority = urgent?.(obj, type) ?? false;
      for (const key of keys) this.queue.add(key, priority);
    });
    return this;
  }

  enqueue(key: string, priority = false): void {
    this.queue.add(key, priority);
  }

  watchedInformers(): readonly Informer[] {
    return this.informers;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const workers = this.opts.workers ?? 2;
    for (let i = 0; i < workers; i++) this.workersDone.push(this.worker());
    this.scheduleResync();
  }

  private scheduleResync(): void {
    const resync = this.opts.resyncMs ?? 0;
    if (resync <= 0 || !this.running) return;
    this.resyncTimer = this.clock.setTimeout(() => {
      if (!this.running) return;
      for (const inf of this.roots) for (const obj of inf.list()) this.queue.add(objectKey(obj));
      this.scheduleResync();
    }, resync);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.resyncTimer) this.clock.clearTimeout(this.resyncTimer);
    this.queue.shutDown();
    await Promise.all(this.workersDone);
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      await this.process(key);
      this.queue.done(key);
    }
  }

  private async process(key: string): Promise<void> {
    const name = this.opts.name;
    const end = this.metrics.reconcileDuration.startTimer({ controller: name });
    try {
      // A key taken with priority reconciles in an urgent context: its API requests go ahead of bulk ones.
      const result = this.queue.isUrgentInFlight(key) ? await urgent(() => this.opts.reconcile(key)) : await this.opts.reconcile(key);
      end();
      this.metrics.reconciles.inc({ controller: name, result: 'success' });
      this.queue.forget(key);
      if (result?.requeueAfterMs !== undefined && result.requeueAfterMs > 0) this.queue.addAfter(key, result.requeueAfterMs);
    } catch (err) {
      end();
      const cls = classify(err);
      this.metrics.reconciles.inc({ controller: name, result: 'error' });
      this.metrics.reconcileErrors.inc({ controller: name, class: cls });
      if (cls === 'invalid') {
        this.log.warn('Reconcile rejected invalid input', { controller: name, key, error: errorMessage(err) });
        this.queue.forget(key);
        return;
      }
      const level = cls === 'bug' ? 'error' : 'info';
      this.log.log(level, 'Reconcile failed; requeued with backoff', {
        controller: name,
        key,
        class: cls,
        error: errorMessage(err),
        retries: this.queue.numRequeues(key),
        ...(cls === 'bug' && err instanceof Error ? { stack: err.stack } : {}),
      });
      if (this.running) this.queue.addRateLimited(key);
    }
  }
}
