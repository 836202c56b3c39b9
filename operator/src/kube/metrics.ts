import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Operator metrics: queue depth, reconcile count/latency/errors per controller, API requests, leadership. */
/** Histogram buckets (seconds) for request latencies: API server requests, plugin requests to the agent. */
export const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What a client's rate limiter counts (TokenBucket.stats). */
export interface LimiterStats {
  readonly throttled: number;
  readonly waitedMs: number;
  readonly urgentThrottled: number;
  readonly urgentWaitedMs: number;
}

export class Metrics {
  readonly registry = new Registry();
  readonly queueDepth: Gauge;
  readonly reconciles: Counter;
  readonly reconcileErrors: Counter;
  readonly reconcileDuration: Histogram;
  readonly apiRequests: Counter;
  readonly apiRequestDuration: Histogram;
  readonly isLeader: Gauge;
  private informerStats: () => { name: string; restarts: number; synced: boolean }[] = () => [];
  private readonly limiterStats = new Set<LimiterStats>();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'mizzen_' });
    this.queueDepth = new Gauge({ name: 'mizzen_workqueue_depth', help: 'Keys waiting in a controller work queue', labelNames: ['controller'], registers });
    this.reconciles = new Counter({ name: 'mizzen_reconcile_total', help: 'Reconciles by controller and result', labelNames: ['controller', 'result'], registers });
    this.reconcileErrors = new Counter({ name: 'mizzen_reconcile_errors_total', help: 'Failed reconciles by controller and error class', labelNames: ['controller', 'class'], registers });
    this.reconcileDuration = new Histogram({
      name: 'mizzen_reconcile_duration_seconds',
      help: 'Reconcile latency by controller',
      labelNames: ['controller'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.apiRequests = new Counter({ name: 'mizzen_api_requests_total', help: 'API server requests by verb, HTTP status and resource', labelNames: ['verb', 'code', 'resource'], registers });
    this.apiRequestDuration = new Histogram({
      name: 'mizzen_api_request_duration_seconds',
      help: 'API server request latency by verb, from the start of the request (after the client rate limit) to the end of the answer',
      labelNames: ['verb'],
      buckets: REQUEST_BUCKETS,
      registers,
    });
    this.isLeader = new Gauge({ name: 'mizzen_leader', help: '1 while this process holds the leader Lease', registers });
    const stats = (): { name: string; restarts: number; synced: boolean }[] => this.informerStats();
    new Gauge({
      name: 'mizzen_informer_restarts',
      help: 'Informer restarts after watch errors, since process start',
      labelNames: ['informer'],
      registers,
      collect() {
        for (const s of stats()) this.set({ informer: s.name }, s.restarts);
      },
    });
    const limiters = this.limiterStats;
    const sum = (f: (s: LimiterStats) => number): number => [...limiters].reduce((n, s) => n + f(s), 0);
    new Counter({
      name: 'mizzen_api_client_throttled_total',
      help: 'API requests that waited for the client-side rate limit, by priority (urgent: for a key queued with priority)',
      labelNames: ['priority'],
      registers,
      collect() {
        this.reset();
        this.inc({ priority: 'bulk' }, sum((s) => s.throttled));
        this.inc({ priority: 'urgent' }, sum((s) => s.urgentThrottled));
      },
    });
    new Counter({
      name: 'mizzen_api_client_wait_seconds_total',
      help: 'Time API requests waited for the client-side rate limit, by priority',
      labelNames: ['priority'],
      registers,
      collect() {
        this.reset();
        this.inc({ priority: 'bulk' }, sum((s) => s.waitedMs) / 1000);
        this.inc({ priority: 'urgent' }, sum((s) => s.urgentWaitedMs) / 1000);
      },
    });
    new Gauge({
      name: 'mizzen_informer_synced',
      help: '1 once an informer has loaded its first list',
      labelNames: ['informer'],
      registers,
      collect() {
        for (const s of stats()) this.set({ informer: s.name }, s.synced ? 1 : 0);
      },
    });
  }

  /** Counts a client's rate limiter waits in mizzen_api_client_throttled_total and ..._wait_seconds_total. */
  watchLimiter(stats: LimiterStats): void {
    this.limiterStats.add(stats);
  }

  onCollectInformers(fn: () => { name: string; restarts: number; synced: boolean }[]): void {
    this.informerStats = fn;
  }
}
