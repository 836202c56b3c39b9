import { type Clock, type TimerHandle, realClock } from '../util/clock.js';

/**
 * A keyed work queue with the semantics of client-go's rate-limited queue:
 * - a key is queued at most once, however often it is added (dedupe);
 * - a key being processed is never handed to a second worker; if it is added meanwhile it is queued again
 *   when the worker calls done();
 * - addRateLimited() delays a key by the larger of its own exponential backoff and a global token bucket;
 * - addAfter() delays a key by a fixed time (requeue-after), keeping the earliest pending time per key;
 * - add(key, true) queues the key ahead of every key added without priority (moving it forward if it waits
 *   already): a small change to a settled object need not wait behind a thousand new ones (controller-runtime's
 *   priority queue makes the same distinction);
 * - with maxBulkInFlight N, at most N keys taken from the normal queue are processed at once, while a key added
 *   with priority takes any free worker: with more workers than N, an urgent key never waits for a bulk key to
 *   finish, and the bulk keys' requests queued at the API server stay few (a thousand new objects converge as fast
 *   with N workers writing as with all of them when the API server is the bottleneck, and an endpoint change does
 *   not queue behind 32 workers' writes).
 */
export interface RateLimiterOptions {
  /** First retry delay for a failing key. */
  baseDelayMs: number;
  /** Cap for a single key's backoff. */
  maxDelayMs: number;
  /** Global rate of rate-limited adds, shared by all keys. */
  qps: number;
  /** Global burst. */
  burst: number;
}

export const defaultRateLimiter: RateLimiterOptions = { baseDelayMs: 50, maxDelayMs: 300_000, qps: 10, burst: 100 };

export class RateLimiter {
  private failures = new Map<string, number>();
  private tokens: number;
  private last: number;

  constructor(
    private readonly opts: RateLimiterOptions,
    private readonly clock: Clock,
  ) {
    this.tokens = opts.burst;
    this.last = clock.now();
  }

  /** The delay before the key's next attempt; counts one more failure for it. */
  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const perKey = Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** Math.min(n, 40));
    return Math.max(perKey, this.reserveToken());
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Takes one token from the bucket and returns how long to wait until it is really available. */
  private reserveToken(): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.opts.burst, this.tokens + ((now - this.last) / 1000) * this.opts.qps);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.opts.qps) * 1000);
  }
}

type Waiter = (key: string | undefined) => void;

export interface WorkQueueOptions {
  /** Keys from the normal (non-priority) queue processed at once at most; unset: no cap (every worker). */
  maxBulkInFlight?: number;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  /** Keys added with priority: handed out before `queue`. */
  private readonly urgent: string[] = [];
  /** Keys added with priority while being processed: queued with priority after done(). */
  private readonly urgentAfterDone = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  /** The keys in `processing` that were taken from the normal queue: at most maxBulkInFlight. */
  private readonly bulkInFlight = new Set<string>();
  private readonly maxBulkInFlight: number;
  private readonly waiting = new Map<string, { due: number; handle: TimerHandle }>();
  private readonly waiters: Waiter[] = [];
  private shuttingDown = false;
  readonly limiter: RateLimiter;

  constructor(
    readonly name: string,
    private readonly clock: Clock = realClock,
    limiterOptions: RateLimiterOptions = defaultRateLimiter,
    private readonly onDepthChange: (depth: number) => void = () => undefined,
    options: WorkQueueOptions = {},
  ) {
    this.limiter = new RateLimiter(limiterOptions, clock);
    const max = options.maxBulkInFlight;
    this.maxBulkInFlight = max === undefined || !(max >= 1) ? Infinity : Math.floor(max);
  }

  add(key: string, priority = false): void {
    if (this.shuttingDown) return;
    if (this.dirty.has(key)) {
      if (priority) this.promote(key);
      return;
    }
    this.dirty.add(key);
    if (this.processing.has(key)) {
      if (priority) this.urgentAfterDone.add(key);
      return;
    }
    (priority ? this.urgent : this.queue).push(key);
    if (this.waiters.length > 0) this.dispatch();
    this.onDepthChange(this.len());
  }

  /** Moves a waiting key from the normal queue to the priority queue. */
  private promote(key: string): void {
    if (this.processing.has(key)) {
      this.urgentAfterDone.add(key);
      return;
    }
    const i = this.queue.indexOf(key);
    if (i < 0) return;
    this.queue.splice(i, 1);
    this.urgent.push(key);
    if (this.waiters.length > 0) this.dispatch();
  }

  /**
   * The next key a worker may take, marked as being processed: a priority key first, else a normal one while
   * fewer than maxBulkInFlight normal keys are being processed.
   */
  private next(): string | undefined {
    let key = this.urgent.shift();
    let bulk = false;
    if (key === undefined && this.bulkInFlight.size < this.maxBulkInFlight) {
      key = this.queue.shift();
      bulk = key !== undefined;
    }
    if (key === undefined) return undefined;
    this.dirty.delete(key);
    this.processing.add(key);
    if (bulk) this.bulkInFlight.add(key);
    return key;
  }

  /** Hands keys to waiting workers while there are both. */
  private dispatch(): void {
    while (this.waiters.length > 0) {
      const key = this.next();
      if (key === undefined) return;
      (this.waiters.shift() as Waiter)(key);
    }
  }

  /** Adds the key after delayMs; an earlier pending add for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const due = this.clock.now() + delayMs;
    const pending = this.waiting.get(key);
    if (pending && pending.due <= due) return;
    if (pending) this.clock.clearTimeout(pending.handle);
    const handle = this.clock.setTimeout(() => {
      this.waiting.delete(key);
      this.add(key);
    }, delayMs);
    this.waiting.set(key, { due, handle });
  }

  addRateLimited(key: string): void {
    this.addAfter(key, this.limiter.when(key));
  }

  forget(key: string): void {
    this.limiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.limiter.numRequeues(key);
  }

  /** Resolves with the next key, or undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.next();
    if (key !== undefined) {
      this.onDepthChange(this.len());
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    const wasBulk = this.bulkInFlight.delete(key);
    const urgent = this.urgentAfterDone.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key, urgent);
    } else if (wasBulk && this.waiters.length > 0 && this.queue.length > 0) {
      // A bulk slot is free: a waiting worker may take the next normal key.
      this.dispatch();
      this.onDepthChange(this.len());
    }
  }

  len(): number {
    return this.queue.length + this.urgent.length;
  }

  /** Keys scheduled for later (backoff or requeue-after). */
  pending(): number {
    return this.waiting.size;
  }

  isProcessing(key: string): boolean {
    return this.processing.has(key);
  }

  /** Whether a key being processed was taken from the priority queue (not counted against maxBulkInFlight). */
  isUrgentInFlight(key: string): boolean {
    return this.processing.has(key) && !this.bulkInFlight.has(key);
  }

  /** Keys being processed, and how many of them came from the normal queue. */
  inFlight(): { all: number; bulk: number } {
    return { all: this.processing.size, bulk: this.bulkInFlight.size };
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const { handle } of this.waiting.values()) this.clock.clearTimeout(handle);
    this.waiting.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }
}
