import { expect } from 'chai';
import { WorkQueue, RateLimiter, type RateLimiterOptions } from '../../src/kube/workqueue.js';
import { FakeClock } from '../../src/util/clock.js';

const noGlobalLimit: RateLimiterOptions = { baseDelayMs: 100, maxDelayMs: 10_000, qps: 1_000_000, burst: 1_000_000 };

async function drain(q: WorkQueue): Promise<string[]> {
  const out: string[] = [];
  while (q.len() > 0) {
    const key = await q.get();
    if (key === undefined) break;
    out.push(key);
    q.done(key);
  }
  return out;
}

describe('WorkQueue', () => {
  describe('dedupe', () => {
    it('queues a key added many times only once', async () => {
      const q = new WorkQueue('t', new FakeClock());
      for (let i = 0; i < 5; i++) q.add('ns/a');
      q.add('ns/b');
      q.add('ns/a');
      expect(await drain(q)).to.deep.equal(['ns/a', 'ns/b']);
    });

    it('never hands a key to two workers at once, and requeues it after done when it was added meanwhile', async () => {
      const q = new WorkQueue('t', new FakeClock());
      q.add('k');
      const first = await q.get();
      expect(first).to.equal('k');
      q.add('k');
      q.add('k');
      expect(q.len(), 'a key in flight is not queued again').to.equal(0);
      q.done('k');
      expect(q.len()).to.equal(1);
      expect(await q.get()).to.equal('k');
      q.done('k');
      expect(q.len()).to.equal(0);
    });

    it('wakes a waiting worker when a key arrives', async () => {
      const q = new WorkQueue('t', new FakeClock());
      const got = q.get();
      q.add('late');
      expect(await got).to.equal('late');
      expect(q.isProcessing('late')).to.equal(true);
    });

    it('hands out no queued key once shut down', async () => {
      const q = new WorkQueue('t', new FakeClock());
      q.add('a');
      q.add('b');
      q.shutDown();
      expect(await q.get()).to.equal(undefined);
    });

    it('returns undefined to waiting workers on shutdown and ignores later adds', async () => {
      const q = new WorkQueue('t', new FakeClock());
      const got = q.get();
      q.shutDown();
      expect(await got).to.equal(undefined);
      q.add('x');
      expect(q.len()).to.equal(0);
    });
  });

  describe('per-key exponential backoff', () => {
    it('doubles the delay on each failure and caps it', () => {
      const clock = new FakeClock();
      const rl = new RateLimiter({ ...noGlobalLimit, maxDelayMs: 1000 }, clock);
      const delays = Array.from({ length: 6 }, () => rl.when('k'));
      expect(delays).to.deep.equal([100, 200, 400, 800, 1000, 1000]);
      expect(rl.numRequeues('k')).to.equal(6);
    });

    it('keeps keys independent and resets a key on forget', () => {
      const rl = new RateLimiter(noGlobalLimit, new FakeClock());
      rl.when('a');
      rl.when('a');
      expect(rl.when('b')).to.equal(100);
      expect(rl.when('a')).to.equal(400);
      rl.forget('a');
      expect(rl.when('a')).to.equal(100);
    });

    it('delivers a rate-limited key only after its backoff has passed', async () => {
      const clock = new FakeClock();
      const q = new WorkQueue('t', clock, noGlobalLimit);
      q.addRateLimited('k');
      q.addRateLimited('k');
      expect(q.len()).to.equal(0);
      clock.advance(99);
      expect(q.len(), 'not before the first backoff (100ms)').to.equal(0);
      clock.advance(1);
      expect(q.len()).to.equal(1);
      expect(await drain(q)).to.deep.equal(['k']);
      q.addRateLimited('k');
      clock.advance(399);
      expect(q.len(), 'third failure waits 400ms').to.equal(0);
      clock.advance(1);
      expect(q.len()).to.equal(1);
    });
  });

  describe('global rate limit', () => {
    it('lets a burst through at once and spaces the rest at qps', () => {
      const clock = new FakeClock();
      const rl = new RateLimiter({ baseDelayMs: 1, maxDelayMs: 1, qps: 10, burst: 3 }, clock);
      const delays = ['a', 'b', 'c', 'd', 'e'].map((k) => rl.when(k));
      expect(delays.slice(0, 3)).to.deep.equal([1, 1, 1]);
      expect(delays[3]).to.equal(100);
      expect(delays[4]).to.equal(200);
    });

    it('refills tokens as time passes', () => {
      const clock = new FakeClock();
      const rl = new RateLimiter({ baseDelayMs: 1, maxDelayMs: 1, qps: 10, burst: 2 }, clock);
      rl.when('a');
      rl.when('b');
      expect(rl.when('c')).to.equal(100);
      clock.advance(1000);
      expect(rl.when('d')).to.equal(1);
    });

    it('bounds the rate at which a flood of failing keys re-enters the queue', () => {
      const clock = new FakeClock();
      const q = new WorkQueue('t', clock, { baseDelayMs: 1, maxDelayMs: 1, qps: 50, burst: 10 });
      for (let i = 0; i < 110; i++) q.addRateLimited(`k${i}`);
      clock.advance(1);
      expect(q.len()).to.equal(10);
      clock.advance(1000);
      expect(q.len()).to.be.within(59, 61);
    });
  });

  describe('requeue after', () => {
    it('delivers a key after the given delay and keeps the earliest of two schedules', () => {
      const clock = new FakeClock();
      const q = new WorkQueue('t', clock);
      q.addAfter('k', 5000);
      q.addAfter('k', 1000);
      q.addAfter('k', 3000);
      expect(q.pending()).to.equal(1);
      clock.advance(999);
      expect(q.len()).to.equal(0);
      clock.advance(1);
      expect(q.len()).to.equal(1);
      expect(clock.pendingTimers()).to.equal(0);
    });

    it('adds at once for a zero delay', () => {
      const q = new WorkQueue('t', new FakeClock());
      q.addAfter('k', 0);
      expect(q.len()).to.equal(1);
    });

    it('reports the queue depth as it changes', async () => {
      const depths: number[] = [];
      const q = new WorkQueue('t', new FakeClock(), noGlobalLimit, (d) => depths.push(d));
      q.add('a');
      q.add('b');
      await q.get();
      expect(depths).to.deep.equal([1, 2, 1]);
    });
  });
});

describe('WorkQueue priority', () => {
  it('hands out keys added with priority before the others, in their own order', async () => {
    const q = new WorkQueue('t', new FakeClock());
    for (const k of ['a', 'b', 'c']) q.add(k);
    q.add('x', true);
    q.add('y', true);
    expect(q.len()).to.equal(5);
    expect(await drain(q)).to.deep.equal(['x', 'y', 'a', 'b', 'c']);
  });

  it('moves a waiting key forward when it is added again with priority, once', async () => {
    const q = new WorkQueue('t', new FakeClock());
    for (const k of ['a', 'b', 'c']) q.add(k);
    q.add('c', true);
    q.add('c');
    expect(await drain(q)).to.deep.equal(['c', 'a', 'b']);
  });

  it('a key added with priority while in flight is queued with priority after done', async () => {
    const q = new WorkQueue('t', new FakeClock());
    q.add('k');
    q.add('a');
    const k = await q.get();
    q.add('k', true);
    q.add('b');
    q.done(k as string);
    expect(await drain(q)).to.deep.equal(['k', 'a', 'b']);
  });
});

describe('WorkQueue maxBulkInFlight', () => {
  const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  /** A get() whose answer can be looked at without awaiting it. */
  function pendingGet(q: WorkQueue): { key?: string | undefined; settled: boolean } {
    const out: { key?: string | undefined; settled: boolean } = { settled: false };
    void q.get().then((key) => {
      out.key = key;
      out.settled = true;
    });
    return out;
  }

  it('processes at most N keys queued without priority at once, and hands out the next when one is done', async () => {
    const q = new WorkQueue('t', new FakeClock(), noGlobalLimit, undefined, { maxBulkInFlight: 2 });
    for (const k of ['a', 'b', 'c', 'd']) q.add(k);
    expect([await q.get(), await q.get()]).to.deep.equal(['a', 'b']);
    const third = pendingGet(q);
    await flush();
    expect(third.settled).to.equal(false, 'a third bulk key waits while two are processed');
    expect(q.inFlight()).to.deep.equal({ all: 2, bulk: 2 });
    q.done('a');
    await flush();
    expect(third.key).to.equal('c');
    expect(q.inFlight()).to.deep.equal({ all: 2, bulk: 2 });
  });

  it('gives a key added with priority to a free worker while the bulk keys are at the cap', async () => {
    const q = new WorkQueue('t', new FakeClock(), noGlobalLimit, undefined, { maxBulkInFlight: 1 });
    q.add('a');
    q.add('b');
    expect(await q.get()).to.equal('a');
    const worker = pendingGet(q);
    await flush();
    expect(worker.settled).to.equal(false);
    q.add('u', true);
    await flush();
    expect(worker.key).to.equal('u');
    expect(q.isUrgentInFlight('u')).to.equal(true);
    expect(q.isUrgentInFlight('a')).to.equal(false);
    // A key promoted while it waits behind the cap is handed out at once too.
    const next = pendingGet(q);
    await flush();
    expect(next.settled).to.equal(false);
    q.add('b', true);
    await flush();
    expect(next.key).to.equal('b');
    expect(q.inFlight()).to.deep.equal({ all: 3, bulk: 1 });
  });

  it('queues a bulk key that comes back while the cap is reached behind the keys that waited before it', async () => {
    const q = new WorkQueue('t', new FakeClock(), noGlobalLimit, undefined, { maxBulkInFlight: 1 });
    q.add('a');
    expect(await q.get()).to.equal('a');
    q.add('b');
    q.add('a'); // changed while in flight
    const worker = pendingGet(q);
    q.done('a');
    await flush();
    expect(worker.key).to.equal('b');
    q.done('b');
    expect(await q.get()).to.equal('a');
  });

  it('returns undefined to workers held back by the cap on shutdown', async () => {
    const q = new WorkQueue('t', new FakeClock(), noGlobalLimit, undefined, { maxBulkInFlight: 1 });
    q.add('a');
    q.add('b');
    expect(await q.get()).to.equal('a');
    const held = pendingGet(q);
    await flush();
    q.shutDown();
    await flush();
    expect(held).to.deep.equal({ key: undefined, settled: true });
    q.done('a');
    expect(await q.get()).to.equal(undefined);
  });

  it('with workers busy on bulk keys, never starves a priority key, never exceeds the cap, and loses or repeats no key', async () => {
    const clock = new FakeClock();
    const cap = 3;
    const workers = 5;
    const q = new WorkQueue('t', clock, noGlobalLimit, undefined, { maxBulkInFlight: cap });
    const processed = new Map<string, number>();
    const startedAt = new Map<string, number>();
    let maxBulk = 0;
    const concurrent = new Set<string>();
    const work = async (): Promise<void> => {
      for (;;) {
        const key = await q.get();
        if (key === undefined) return;
        expect(concurrent.has(key), `${key} twice at once`).to.equal(false);
        concurrent.add(key);
        maxBulk = Math.max(maxBulk, q.inFlight().bulk);
        processed.set(key, (processed.get(key) ?? 0) + 1);
        if (!startedAt.has(key)) startedAt.set(key, clock.now());
        // Bulk keys take 100 ms, priority keys 10 ms.
        await new Promise<void>((resolve) => clock.setTimeout(resolve, key.startsWith('u') ? 10 : 100));
        concurrent.delete(key);
        q.done(key);
      }
    };
    const running = Array.from({ length: workers }, () => work());
    for (let i = 0; i < 60; i++) q.add(`b${i}`);
    const addedAt = new Map<string, number>();
    for (let t = 0; t < 3000; t += 5) {
      if (t % 50 === 0 && t < 1500) {
        const key = `u${t}`;
        addedAt.set(key, clock.now());
        q.add(key, true);
      }
      // Bulk keys changed again while they wait or are processed: queued once more, never lost.
      if (t === 200) for (let i = 0; i < 10; i++) q.add(`b${i}`);
      clock.advance(5);
      await flush();
    }
    expect(q.len()).to.equal(0);
    expect(maxBulk).to.equal(cap);
    for (let i = 0; i < 60; i++) expect(processed.get(`b${i}`), `b${i}`).to.be.oneOf(i < 10 ? [1, 2] : [1]);
    for (const [key, at] of addedAt) {
      expect(processed.get(key), key).to.equal(1);
      // A free worker is always there (workers > cap): a priority key starts within one step of the clock.
      expect((startedAt.get(key) as number) - at, key).to.be.at.most(5);
    }
    q.shutDown();
    await Promise.all(running);
  });
});
