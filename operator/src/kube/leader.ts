import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeClient } from './client.js';
import { R, resourcePath } from './resources.js';
import { ApiError, errorMessage, isConflict } from './errors.js';
import type { Logger } from '../util/log.js';
import { type Clock, type TimerHandle, realClock } from '../util/clock.js';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  /** How long a candidate waits on an unchanged Lease before taking it over (default 15 s). */
  leaseDurationMs?: number;
  /** The leader stops leading when it has not renewed for this long (default 10 s, below leaseDurationMs). */
  renewDeadlineMs?: number;
  /** A candidate's poll interval, and the leader's retry interval after a failed renew (default 2 s). */
  retryPeriodMs?: number;
  /** The leader's interval between successful renews (default renewDeadlineMs / 3). */
  renewPeriodMs?: number;
  clock?: Clock;
}

export interface Lease extends KubernetesObject {
  spec?: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number;
  };
}

/** Where the Lease is kept: the API server, or a fake in tests. Every call gives up after timeoutMs. */
export interface LeaseStore {
  readonly description: string;
  get(timeoutMs: number): Promise<Lease | undefined>;
  create(lease: Lease, timeoutMs: number): Promise<Lease>;
  /** Replaces the Lease; fails with a conflict (409) when its resourceVersion is not the stored one. */
  replace(lease: Lease, timeoutMs: number): Promise<Lease>;
}

/** The Lease namespace/name on the API server. Its requests are never fenced (see KubeClient.writeGuard). */
export function apiLeaseStore(client: KubeClient, namespace: string, name: string): LeaseStore {
  return {
    description: `${namespace}/${name}`,
    async get(timeoutMs) {
      try {
        return await client.request<Lease>('GET', resourcePath(R.lease, namespace, name), { timeoutMs });
      } catch (err) {
        if (err instanceof ApiError && err.statusCode === 404) return undefined;
        throw err;
      }
    },
    create: (lease, timeoutMs) =>
      client.request<Lease>('POST', resourcePath(R.lease, namespace), { body: lease, timeoutMs, unfenced: true, query: { fieldManager: client.fieldManager } }),
    replace: (lease, timeoutMs) =>
      client.request<Lease>('PUT', resourcePath(R.lease, namespace, name), { body: lease, timeoutMs, unfenced: true, query: { fieldManager: client.fieldManager } }),
  };
}

export interface LeaderCallbacks {
  /** This process leads from now on. Called without waiting for it: renewing goes on meanwhile. */
  onStartedLeading(): void;
  /**
   * Leading ended: the Lease could not be renewed before the renew deadline ('lost'), or stop() was called.
   * Awaited before campaigning again, so the work of one term is over before the next one starts.
   */
  onStoppedLeading(reason: 'lost' | 'stopped'): Promise<void> | void;
}

type Attempt = 'ok' | 'held' | 'failed';

class AttemptTimeout extends Error {
  override name = 'AttemptTimeout';
}

/** The MicroTime format the Lease API requires (microsecond precision). */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000Z');
}

/**
 * Lease-based leader election (coordination.k8s.io/v1). A candidate takes the Lease over only after it has
 * seen the same record unchanged for a full lease duration on its own clock (so clock skew between nodes does
 * not matter); writes carry the Lease's resourceVersion, so two candidates can never both win.
 *
 * The leader renews from the moment it holds the Lease, whatever the work started by onStartedLeading is
 * doing. It counts itself leader only until renewDeadline after it sent its last successful write: the others
 * wait at least leaseDuration after they saw that write, so leaseDuration - renewDeadline is the margin in
 * which the leader's work stops (isLeader() turns false at once; writes are fenced on it). Every renew attempt
 * is bounded by the time left before that deadline, and the deadline is a timer of the injected Clock, so a
 * hung request or a jump of the clock ends leadership on time. After a loss the elector campaigns again.
 */
export class LeaderElector {
  private observedRecord = '';
  private observedAt = 0;
  private observedDurationMs = 0;
  private leading = false;
  private stopped = false;
  private expired = false;
  /** Leading is valid until then (clock time): renewDeadline after the send time of the last good write. */
  private validUntil = 0;
  private deadlineTimer?: TimerHandle;
  private wake?: () => void;
  private runDone?: Promise<void>;
  private readonly clock: Clock;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly renewPeriodMs: number;
  private current?: Lease;
  /** Terms led, renews and failed renew attempts: for metrics and tests. */
  readonly stats = { terms: 0, renews: 0, failedRenews: 0, losses: 0 };

  constructor(
    private readonly store: LeaseStore,
    private readonly opts: LeaderElectionOptions,
    private readonly log: Logger,
  ) {
    this.clock = opts.clock ?? realClock;
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? Math.round((this.leaseDurationMs * 2) / 3);
    this.retryPeriodMs = opts.retryPeriodMs ?? Math.max(200, Math.round(this.leaseDurationMs / 7.5));
    this.renewPeriodMs = opts.renewPeriodMs ?? Math.max(this.retryPeriodMs, Math.round(this.renewDeadlineMs / 3));
    if (!(this.renewDeadlineMs < this.leaseDurationMs)) throw new Error('leader election: the renew deadline must be shorter than the lease duration');
    if (!(this.retryPeriodMs < this.renewDeadlineMs && this.renewPeriodMs < this.renewDeadlineMs)) {
      throw new Error('leader election: the retry and renew periods must be shorter than the renew deadline');
    }
  }

  /** True while this process holds a Lease it renewed less than a renew deadline ago. */
  isLeader(): boolean {
    return this.leading && !this.expired && this.clock.now() < this.validUntil;
  }

  /** Campaigns, leads, and campaigns again after a loss, until stop(). Resolves when the election ends. */
  run(cb: LeaderCallbacks): Promise<void> {
    this.runDone ??= this.loop(cb);
    return this.runDone;
  }

  /**
   * Stops campaigning; a leader releases the Lease so another candidate need not wait for it to expire. The
   * attempt in flight is awaited first (run() ends only after it), so a renew cannot land after the release and
   * keep the Lease held for a full lease duration. A renew that timed out here but reached the server later
   * makes the release conflict: the Lease is read again and released if it is still ours.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.runDone;
    let lease = this.current;
    this.current = undefined;
    for (let tries = 0; tries < 2; tries++) {
      if (!lease || lease.spec?.holderIdentity !== this.opts.identity) return;
      try {
        const spec = { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(this.clock.now()), acquireTime: null };
        await this.bounded(this.store.replace({ ...lease, spec }, this.retryPeriodMs), this.retryPeriodMs);
        this.log.info('Released leader lease', { lease: this.store.description });
        return;
      } catch (err) {
        if (tries === 0 && isConflict(err)) {
          // Someone wrote the Lease since our last renew: read it again and release it only if it is still ours.
          lease = await this.bounded(this.store.get(this.retryPeriodMs), this.retryPeriodMs).catch(() => undefined);
          continue;
        }
        this.log.warn('Could not release leader lease', { lease: this.store.description, error: errorMessage(err) });
        return;
      }
    }
  }

  private async loop(cb: LeaderCallbacks): Promise<void> {
    while (!this.stopped) {
      if (!(await this.acquire())) return;
      this.leading = true;
      this.stats.terms++;
      this.log.info('Acquired leader lease', { lease: this.store.description, identity: this.opts.identity });
      try {
        cb.onStartedLeading();
      } catch (err) {
        this.log.error('Leader start-up failed', { error: errorMessage(err) });
      }
      const reason = await this.renewLoop();
      this.leading = false;
      if (this.deadlineTimer) this.clock.clearTimeout(this.deadlineTimer);
      if (reason === 'lost') {
        this.stats.losses++;
        this.log.error('Lost leader lease; stopped leading and campaigning again', {
          lease: this.store.description,
          identity: this.opts.identity,
          renewDeadlineMs: this.renewDeadlineMs,
        });
      }
      try {
        await cb.onStoppedLeading(reason);
      } catch (err) {
        this.log.error('Stopping leader work failed', { error: errorMessage(err) });
      }
    }
  }

  /** Campaigns until the Lease is won (true) or stop() is called (false). */
  private async acquire(): Promise<boolean> {
    for (;;) {
      if (this.stopped) return false;
      const sentAt = this.clock.now();
      const result = await this.attempt(this.retryPeriodMs);
      if (this.stopped) return false;
      if (result === 'ok') {
        this.expired = false;
        this.arm(sentAt);
        return true;
      }
      await this.sleep(this.nextAttemptDelay());
    }
  }

  /** Renews until the deadline passes without a good renew ('lost') or stop() ('stopped'). */
  private async renewLoop(): Promise<'lost' | 'stopped'> {
    let delay = this.renewPeriodMs;
    for (;;) {
      await this.sleep(delay);
      if (this.stopped) return 'stopped';
      if (!this.isLeader()) return 'lost';
      const sentAt = this.clock.now();
      const result = await this.attempt(Math.min(this.validUntil - sentAt, Math.max(this.retryPeriodMs, this.renewDeadlineMs / 4)));
      if (this.stopped) return 'stopped';
      if (!this.isLeader()) return 'lost';
      if (result === 'held') return 'lost';
      if (result === 'ok') {
        this.stats.renews++;
        this.arm(sentAt);
        delay = this.renewPeriodMs;
      } else {
        this.stats.failedRenews++;
        delay = Math.max(1, Math.min(this.retryPeriodMs, this.validUntil - this.clock.now()));
      }
    }
  }

  /** Leading is valid until renewDeadline after sentAt; a Clock timer ends it then even if nothing else runs. */
  private arm(sentAt: number): void {
    this.validUntil = sentAt + this.renewDeadlineMs;
    if (this.deadlineTimer) this.clock.clearTimeout(this.deadlineTimer);
    this.deadlineTimer = this.clock.setTimeout(
      () => {
        this.expired = true;
        this.wake?.();
      },
      this.validUntil - this.clock.now(),
    );
  }

  /** Waits ms on the Clock; stop() and the renew deadline cut it short. */
  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => done(), ms);
      const done = (): void => {
        this.clock.clearTimeout(timer);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      this.wake = done;
    });
  }

  /** Rejects with AttemptTimeout after ms on the Clock if the promise has not settled. */
  private bounded<T>(p: Promise<T>, ms: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => reject(new AttemptTimeout(`leader election request timed out after ${Math.round(ms)} ms`)), ms);
      p.then(
        (v) => {
          this.clock.clearTimeout(timer);
          resolve(v);
        },
        (err: unknown) => {
          this.clock.clearTimeout(timer);
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  /** One read-and-write of the Lease, all of it within timeoutMs. */
  private async attempt(timeoutMs: number): Promise<Attempt> {
    if (timeoutMs <= 0) return 'failed';
    const deadline = this.clock.now() + timeoutMs;
    const left = (): number => Math.max(1, deadline - this.clock.now());
    const now = this.clock.now();
    const { identity } = this.opts;
    const desired = { holderIdentity: identity, leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000), renewTime: microTime(now) };
    try {
      const lease = await this.bounded(this.store.get(left()), left());
      if (!lease) {
        const created = await this.bounded(
          this.store.create(
            {
              apiVersion: 'coordination.k8s.io/v1',
              kind: 'Lease',
              metadata: { name: this.opts.name, namespace: this.opts.namespace },
              spec: { ...desired, acquireTime: microTime(now), leaseTransitions: 0 },
            },
            left(),
          ),
          left(),
        );
        this.current = created;
        this.observe(created);
        return 'ok';
      }
      const spec = lease.spec ?? {};
      this.observe(lease);
      const heldByOther = !!spec.holderIdentity && spec.holderIdentity !== identity;
      if (heldByOther && this.observedAt + this.observedDurationMs > this.clock.now()) {
        this.current = lease;
        return 'held';
      }
      const transition = spec.holderIdentity !== identity;
      const next: Lease = {
        ...lease,
        spec: {
          ...spec,
          ...desired,
          acquireTime: transition ? microTime(now) : (spec.acquireTime ?? microTime(now)),
          leaseTransitions: (spec.leaseTransitions ?? 0) + (transition ? 1 : 0),
        },
      };
      const written = await this.bounded(this.store.replace(next, left()), left());
      this.current = written;
      this.observe(written);
      return 'ok';
    } catch (err) {
      if (!isConflict(err)) this.log.debug('Leader election attempt failed', { lease: this.store.description, error: errorMessage(err) });
      return 'failed';
    }
  }

  /**
   * A retry period, or less when the observed holder's lease runs out sooner. Once it has run out, a failed
   * attempt (the API server unreachable, a conflict) waits a full retry period: retrying at once would send a
   * request every few milliseconds for as long as the outage lasts.
   */
  private nextAttemptDelay(): number {
    const expiresIn = this.observedAt + this.observedDurationMs - this.clock.now();
    if (expiresIn <= 0) return this.retryPeriodMs;
    return Math.max(10, Math.min(this.retryPeriodMs, expiresIn + 5));
  }

  private observe(lease: Lease): void {
    const record = JSON.stringify(lease.spec ?? {});
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAt = this.clock.now();
      this.observedDurationMs = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
    }
  }
}
