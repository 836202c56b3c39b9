import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeClient } from './client.js';
import { R } from './resources.js';
import { errorMessage, isConflict } from './errors.js';
import type { Logger } from '../util/log.js';
import { type Clock, realClock } from '../util/clock.js';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  clock?: Clock;
}

interface Lease extends KubernetesObject {
  spec?: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number;
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

/** The MicroTime format the Lease API requires (microsecond precision). */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000Z');
}

/**
 * Lease-based leader election (coordination.k8s.io/v1), as client-go does it: the holder renews the Lease
 * every retry period; a candidate takes it over only after it has seen the same record unchanged for a full
 * lease duration on its own clock (so clock skew between nodes does not matter). Writes use the Lease's
 * resourceVersion as a precondition, so two candidates can never both win. On a clean stop the holder
 * releases the Lease so a standby takes over at once.
 */
export class LeaderElector {
  private observedRecord = '';
  private observedAt = 0;
  private observedDurationMs = 0;
  private leading = false;
  private stopped = false;
  private readonly clock: Clock;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private current?: Lease;
  /** The renew or acquire request in flight, if any: stop() waits for it so its release is not overtaken. */
  private inflight?: Promise<boolean>;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: LeaderElectionOptions,
    private readonly log: Logger,
  ) {
    this.clock = opts.clock ?? realClock;
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
  }

  isLeader(): boolean {
    return this.leading;
  }

  /**
   * Campaigns until the Lease is won, calls onStarted, then renews until leadership is lost (onStopped is
   * called) or stop() is called. Resolves when the election ends.
   */
  async run(onStarted: () => void | Promise<void>, onStopped: () => void): Promise<void> {
    while (!this.stopped && !(await this.attempt())) await sleep(this.nextAttemptDelay());
    if (this.stopped) return;
    this.leading = true;
    this.log.info('Acquired leader lease', { lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.opts.identity });
    await onStarted();
    let lastRenew = this.clock.now();
    while (!this.stopped) {
      await sleep(this.retryPeriodMs);
      if (this.stopped) break;
      if (await this.attempt()) {
        lastRenew = this.clock.now();
      } else if (this.clock.now() - lastRenew > this.renewDeadlineMs) {
        this.leading = false;
        this.log.error('Lost leader lease', { lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.opts.identity });
        onStopped();
        return;
      }
    }
  }

  /**
   * Stops campaigning; a leader releases the Lease so another candidate need not wait for it to expire. A renew
   * still in flight is awaited first: releasing with the older resourceVersion would conflict, and the renew
   * landing after it would keep the Lease held for a full lease duration.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.inflight?.catch(() => false);
    if (!this.leading || !this.current) return;
    this.leading = false;
    for (let tries = 0; tries < 2; tries++) {
      const lease = this.current;
      if (!lease || lease.spec?.holderIdentity !== this.opts.identity) return;
      try {
        const spec = { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(this.clock.now()), acquireTime: null };
        await this.client.replace(R.lease, { ...lease, spec });
        this.log.info('Released leader lease', { lease: `${this.opts.namespace}/${this.opts.name}` });
        return;
      } catch (err) {
        if (tries === 0 && isConflict(err)) {
          // Someone wrote the Lease since our last renew: read it again and release it only if it is still ours.
          this.current = await this.client.get<Lease>(R.lease, this.opts.name, this.opts.namespace).catch(() => undefined);
          continue;
        }
        this.log.warn('Could not release leader lease', { error: errorMessage(err) });
        return;
      }
    }
  }

  private attempt(): Promise<boolean> {
    const p = this.tryAcquireOrRenew();
    this.inflight = p;
    return p;
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.clock.now();
    const { namespace, name, identity } = this.opts;
    const desired = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      renewTime: microTime(now),
    };
    try {
      const lease = await this.client.get<Lease>(R.lease, name, namespace);
      if (!lease) {
        this.current = await this.client.create<Lease>({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: { ...desired, acquireTime: microTime(now), leaseTransitions: 0 },
        });
        this.observe(this.current);
        return true;
      }
      const spec = lease.spec ?? {};
      this.observe(lease);
      const held = !!spec.holderIdentity && spec.holderIdentity !== identity;
      const durationMs = (spec.leaseDurationSeconds ?? 0) * 1000;
      if (held && this.observedAt + durationMs > now) return false;
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
      this.current = await this.client.replace(R.lease, next);
      this.observe(this.current);
      return true;
    } catch (err) {
      if (!isConflict(err)) {
        this.log.debug('Leader election attempt failed', { error: errorMessage(err) });
      }
      return false;
    }
  }

  /** A retry period, or less when the observed holder's lease runs out sooner. */
  private nextAttemptDelay(): number {
    const expiresIn = this.observedAt + this.observedDurationMs - this.clock.now();
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
