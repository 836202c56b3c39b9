import { expect } from 'chai';
import { LeaderElector, type Lease, type LeaseStore, type LeaderCallbacks } from '../../src/kube/leader.js';
import { ApiError } from '../../src/kube/errors.js';
import { FakeClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/log.js';

type Fault = 'ok' | 'hang' | 'error500' | 'refused';

/**
 * The Lease as the API server keeps it: resourceVersion preconditions on replace, a conflict on a second
 * create. Each call takes latencyMs of the fake clock and can be made to hang or fail.
 */
class FakeLeaseStore {
  lease?: Lease;
  private rv = 0;
  latencyMs = 5;
  /** When set, the next replace takes this long (then latencyMs again): a write that outlives its timeout. */
  nextReplaceLatencyMs?: number;
  /** Requests sent and not yet answered. */
  pending = 0;
  /** Requests sent. */
  calls = 0;
  fault: Fault = 'ok';
  /** Every successful write: clock time and holder. */
  readonly writes: { at: number; holder: string | null | undefined }[] = [];

  constructor(readonly clock: FakeClock) {}

  /** A per-candidate view, so a fault can hit one candidate's requests only. */
  view(faultFor: () => Fault = () => this.fault): LeaseStore {
    return {
      description: 'ns/lease',
      get: () => this.call(faultFor, () => (this.lease ? structuredClone(this.lease) : undefined)),
      create: (lease) =>
        this.call(faultFor, () => {
          if (this.lease) throw new ApiError(409, 'AlreadyExists', 'exists');
          return this.store(lease);
        }),
      replace: (lease) => {
        const latency = this.nextReplaceLatencyMs;
        this.nextReplaceLatencyMs = undefined;
        return this.call(
          faultFor,
          () => {
            if (lease.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion) throw new ApiError(409, 'Conflict', 'stale');
            return this.store(lease);
          },
          latency,
        );
      },
    };
  }

  private store(lease: Lease): Lease {
    this.lease = structuredClone({ ...lease, metadata: { ...lease.metadata, resourceVersion: String(++this.rv) } });
    this.writes.push({ at: this.clock.now(), holder: this.lease.spec?.holderIdentity });
    return structuredClone(this.lease);
  }

  private call<T>(faultFor: () => Fault, op: () => T, latencyMs = this.latencyMs): Promise<T> {
    const fault = faultFor();
    return new Promise<T>((resolve, reject) => {
      this.calls++;
      if (fault === 'hang') return;
      this.pending++;
      this.clock.setTimeout(() => {
        this.pending--;
        if (fault === 'error500') return reject(new ApiError(500, 'InternalError', 'etcd timeout'));
        if (fault === 'refused') return reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
        try {
          resolve(op());
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      }, latencyMs);
    });
  }
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

interface Candidate {
  id: string;
  elector: LeaderElector;
  events: { at: number; what: 'started' | 'lost' | 'stopped' }[];
  done: Promise<void>;
}

const opts = { namespace: 'ns', name: 'lease', leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

function candidate(store: FakeLeaseStore, clock: FakeClock, id: string, view = store.view(), extra: Partial<LeaderCallbacks> = {}): Candidate {
  const elector = new LeaderElector(view, { ...opts, identity: id, clock }, silentLogger());
  const events: Candidate['events'] = [];
  const done = elector.run({
    onStartedLeading: () => {
      events.push({ at: clock.now(), what: 'started' });
      extra.onStartedLeading?.();
    },
    onStoppedLeading: (reason) => {
      events.push({ at: clock.now(), what: reason });
    },
  });
  return { id, elector, events, done };
}

/** Moves the fake clock in steps, letting promises settle between them; checks the one-leader invariant. */
async function run(clock: FakeClock, ms: number, all: Candidate[] = [], stepMs = 10): Promise<void> {
  for (let t = 0; t < ms; t += stepMs) {
    clock.advance(stepMs);
    await flush();
    const leaders = all.filter((c) => c.elector.isLeader()).map((c) => c.id);
    expect(leaders.length, `leaders at ${clock.now()} ms: ${leaders.join(', ')}`).to.be.at.most(1);
  }
}

describe('LeaderElector', () => {
  let clock: FakeClock;
  let store: FakeLeaseStore;
  const stops: Candidate[] = [];

  beforeEach(() => {
    clock = new FakeClock(1_000_000);
    store = new FakeLeaseStore(clock);
  });

  afterEach(async () => {
    store.fault = 'ok';
    const stopping = stops.splice(0).map((c) => c.elector.stop());
    await run(clock, 3000);
    await Promise.all(stopping);
  });

  it('acquires a free Lease and renews it every renew period: 18 writes a minute with the defaults, not 30', async () => {
    const a = candidate(store, clock, 'a');
    stops.push(a);
    await run(clock, 100, [a]);
    expect(a.elector.isLeader()).to.equal(true);
    expect(store.lease?.spec?.holderIdentity).to.equal('a');
    const before = store.writes.length;
    await run(clock, 60_000, [a], 50);
    const perMinute = store.writes.length - before;
    expect(perMinute).to.be.within(15, 20);
  });

  it('keeps renewing while the work it started (cache sync) never finishes, so a standby never takes over', async () => {
    const a = candidate(store, clock, 'a', store.view(), { onStartedLeading: () => void new Promise(() => undefined) });
    stops.push(a);
    await run(clock, 100, [a]);
    const b = candidate(store, clock, 'b');
    stops.push(b);
    await run(clock, 60_000, [a, b], 50);
    expect(a.elector.isLeader()).to.equal(true);
    expect(b.elector.isLeader()).to.equal(false);
    expect(store.writes.every((w) => w.holder === 'a')).to.equal(true);
  });

  it('stops leading by the renew deadline when renew requests hang, before a standby can take over', async () => {
    let faultA: Fault = 'ok';
    const a = candidate(store, clock, 'a', store.view(() => faultA));
    stops.push(a);
    await run(clock, 100, [a]);
    const b = candidate(store, clock, 'b');
    stops.push(b);
    await run(clock, 5_000, [a, b]);
    const lastGood = store.writes.filter((w) => w.holder === 'a').at(-1)!.at;
    faultA = 'hang';
    await run(clock, 30_000, [a, b]);
    const lost = a.events.find((e) => e.what === 'lost');
    const bStarted = b.events.find((e) => e.what === 'started');
    expect(lost, 'a noticed the loss').to.not.equal(undefined);
    expect(bStarted, 'b took over').to.not.equal(undefined);
    // a's last successful write was sent before lastGood: it must stop within the renew deadline of it.
    expect(lost!.at - lastGood).to.be.at.most(opts.renewDeadlineMs);
    expect(bStarted!.at, 'b leads only after a stopped').to.be.above(lost!.at);
    expect(bStarted!.at - lastGood).to.be.at.least(opts.leaseDurationMs);
  });

  it('rides out failed renews shorter than the renew deadline', async () => {
    const a = candidate(store, clock, 'a');
    stops.push(a);
    await run(clock, 100, [a]);
    await run(clock, 4_000, [a]);
    store.fault = 'error500';
    await run(clock, 5_000, [a]);
    store.fault = 'refused';
    await run(clock, 1_000, [a]);
    store.fault = 'ok';
    await run(clock, 10_000, [a]);
    expect(a.events.map((e) => e.what)).to.deep.equal(['started']);
    expect(a.elector.isLeader()).to.equal(true);
    expect(a.elector.stats.failedRenews).to.be.greaterThan(0);
  });

  it('after an outage longer than the renew deadline stops leading, campaigns again and leads again (no exit)', async () => {
    const a = candidate(store, clock, 'a');
    stops.push(a);
    await run(clock, 100, [a]);
    store.fault = 'refused';
    await run(clock, 20_000, [a]);
    expect(a.elector.isLeader()).to.equal(false);
    expect(a.events.map((e) => e.what)).to.deep.equal(['started', 'lost']);
    store.fault = 'ok';
    await run(clock, 5_000, [a]);
    expect(a.elector.isLeader()).to.equal(true);
    expect(a.events.map((e) => e.what)).to.deep.equal(['started', 'lost', 'started']);
    expect(store.lease?.spec?.holderIdentity).to.equal('a');
  });

  it('campaigns every retry period while the API server is unreachable, not every few milliseconds', async () => {
    const a = candidate(store, clock, 'a');
    stops.push(a);
    await run(clock, 100, [a]);
    store.fault = 'refused';
    // Past the renew deadline and the lease duration: a candidate now, its own old Lease long expired.
    await run(clock, 20_000, [a], 5);
    const before = store.calls;
    await run(clock, 20_000, [a], 5);
    const perMinute = (store.calls - before) * 3;
    console.log(`      ${perMinute} requests a minute while the API server refuses connections (retry period ${opts.retryPeriodMs} ms)`);
    expect(perMinute).to.be.at.most(60_000 / opts.retryPeriodMs + 3);
    expect(a.elector.isLeader()).to.equal(false);
  });

  it('ends leading on a forward clock jump past the deadline (a suspended process) before sending anything', async () => {
    const a = candidate(store, clock, 'a');
    stops.push(a);
    await run(clock, 100, [a]);
    const writes = store.writes.length;
    clock.advance(60_000);
    expect(a.elector.isLeader(), 'not leader right after the jump, before any request').to.equal(false);
    expect(store.writes.length).to.equal(writes);
    await flush();
    expect(a.events.map((e) => e.what)).to.deep.equal(['started', 'lost']);
    await run(clock, 3_000, [a]);
    expect(a.elector.isLeader(), 'the Lease was still its own: leads again').to.equal(true);
  });

  it('lets exactly one of two candidates racing for a free Lease win', async () => {
    const a = candidate(store, clock, 'a');
    const b = candidate(store, clock, 'b');
    stops.push(a, b);
    await run(clock, 30_000, [a, b]);
    const leaders = [a, b].filter((c) => c.elector.isLeader());
    expect(leaders).to.have.length(1);
    expect(store.lease?.spec?.holderIdentity).to.equal(leaders[0]!.id);
    expect(store.lease?.spec?.leaseTransitions).to.equal(0);
  });

  it('never has two leaders under random latencies and faults (fixed seed)', async function () {
    this.timeout(60_000);
    let seed = 20261201;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const faults: Fault[] = ['ok', 'ok', 'ok', 'hang', 'error500', 'refused'];
    const faultOf: Record<string, Fault> = { a: 'ok', b: 'ok', c: 'ok' };
    const cs = ['a', 'b', 'c'].map((id) => candidate(store, clock, id, store.view(() => faultOf[id]!)));
    stops.push(...cs);
    for (let round = 0; round < 60; round++) {
      for (const id of Object.keys(faultOf)) faultOf[id] = faults[Math.floor(random() * faults.length)]!;
      store.latencyMs = 1 + Math.floor(random() * 3000);
      await run(clock, 1000 + Math.floor(random() * 8000), cs, 25);
    }
    for (const id of Object.keys(faultOf)) faultOf[id] = 'ok';
    store.latencyMs = 5;
    await run(clock, 40_000, cs, 25);
    console.log(`      seed 20261201: ${cs.map((c) => `${c.id} led ${c.elector.stats.terms}×`).join(', ')}; ${store.lease?.spec?.leaseTransitions ?? 0} transitions`);
    expect(cs.filter((c) => c.elector.isLeader())).to.have.length(1);
  });

  it('releases the Lease on stop so a standby takes over at once', async () => {
    const a = candidate(store, clock, 'a');
    await run(clock, 100, [a]);
    const b = candidate(store, clock, 'b');
    stops.push(b);
    await run(clock, 1000, [a, b]);
    const stopping = a.elector.stop();
    await run(clock, 100, [a, b]);
    await stopping;
    await a.done;
    expect(store.lease?.spec?.holderIdentity ?? null).to.equal(null);
    expect(a.events.map((e) => e.what)).to.deep.equal(['started', 'stopped']);
    await run(clock, 3000, [a, b]);
    expect(b.elector.isLeader()).to.equal(true);
  });

  it('releases the Lease on stop even when a renew is in flight (the renew does not land after the release)', async () => {
    const a = candidate(store, clock, 'a');
    await run(clock, 100, [a]);
    store.latencyMs = 1000;
    // The first renew is sent a renew period (3.3 s) after the acquire; stop while its GET or PUT is pending.
    let waited = 0;
    while (store.pending === 0 && waited < 10_000) {
      await run(clock, 10, [a]);
      waited += 10;
    }
    expect(store.pending, 'a renew in flight').to.be.greaterThan(0);
    const writesBefore = store.writes.length;
    const stopping = a.elector.stop();
    await run(clock, 5_000, [a]);
    await stopping;
    await a.done;
    expect(store.writes.slice(writesBefore).map((w) => w.holder ?? null), 'the renew in flight landed, then the release').to.deep.equal(['a', null]);
    expect(store.lease?.spec?.holderIdentity ?? null, 'released after the renew landed').to.equal(null);
    expect(store.lease?.spec?.leaseDurationSeconds).to.equal(1);
    expect(a.elector.isLeader()).to.equal(false);
  });

  it('releases the Lease on stop when a renew that timed out reached the server later (conflict, read again)', async () => {
    const a = candidate(store, clock, 'a');
    await run(clock, 100, [a]);
    // The next renew's PUT takes 3 s: its attempt gives up after 2.5 s, the write lands anyway.
    store.nextReplaceLatencyMs = 3000;
    const writes = store.writes.length;
    let waited = 0;
    while (a.elector.stats.failedRenews === 0 && waited < 10_000) {
      await run(clock, 10, [a]);
      waited += 10;
    }
    expect(a.elector.stats.failedRenews, 'the renew timed out').to.equal(1);
    while (store.writes.length === writes && waited < 20_000) {
      await run(clock, 10, [a]);
      waited += 10;
    }
    expect(store.writes.length, 'the timed-out renew landed').to.equal(writes + 1);
    const stopping = a.elector.stop();
    await run(clock, 3_000, [a]);
    await stopping;
    await a.done;
    expect(store.lease?.spec?.holderIdentity ?? null).to.equal(null);
    expect(store.writes.at(-1)?.holder ?? null).to.equal(null);
  });

  it('refuses options whose renew deadline is not below the lease duration', () => {
    expect(() => new LeaderElector(store.view(), { ...opts, identity: 'x', renewDeadlineMs: 15_000, clock }, silentLogger())).to.throw(/renew deadline/);
  });
});
