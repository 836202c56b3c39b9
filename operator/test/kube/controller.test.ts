import { expect } from 'chai';
import { Controller, type ReconcileResult } from '../../src/kube/controller.js';
import { ApiError, InvalidInputError } from '../../src/kube/errors.js';
import { Metrics } from '../../src/kube/metrics.js';
import { FakeClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/log.js';
import { isUrgent } from '../../src/kube/priority.js';

const flush = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

const limiter = { baseDelayMs: 100, maxDelayMs: 1_600, qps: 1_000_000, burst: 1_000_000 };

/** A controller on a fake clock whose reconcile is the given function; calls are recorded with their time. */
function setup(reconcile: (key: string, n: number) => Promise<ReconcileResult | void> | ReconcileResult | void, workers = 1, resyncMs = 0) {
  const clock = new FakeClock(0);
  const calls: { key: string; at: number }[] = [];
  const metrics = new Metrics();
  const c = new Controller(
    {
      name: 't',
      workers,
      rateLimiter: limiter,
      resyncMs,
      clock,
      reconcile: (key) => {
        calls.push({ key, at: clock.now() });
        return Promise.resolve().then(() => reconcile(key, calls.filter((x) => x.key === key).length));
      },
    },
    silentLogger(),
    metrics,
  );
  const advance = async (ms: number, step = 10): Promise<void> => {
    for (let t = 0; t < ms; t += step) {
      clock.advance(step);
      await flush();
    }
  };
  return { c, clock, calls, metrics, advance };
}

describe('Controller', () => {
  it('requeues after requeueAfterMs, not before', async () => {
    const { c, calls, advance } = setup((_k, n) => (n === 1 ? { requeueAfterMs: 1000 } : undefined));
    c.start();
    c.enqueue('ns/a');
    await flush();
    await advance(990);
    expect(calls.map((x) => x.at)).to.deep.equal([0]);
    await advance(20);
    expect(calls.map((x) => x.at)).to.deep.equal([0, 1000]);
    await advance(5000);
    expect(calls).to.have.length(2);
    await c.stop();
  });

  it('retries transient errors and bugs with per-key exponential backoff up to the cap, and forgets it on success', async () => {
    const { c, calls, advance } = setup((_k, n) => {
      if (n <= 3) throw new ApiError(503, 'ServiceUnavailable', 'restarting');
      if (n <= 6) throw new TypeError('a bug');
      return undefined;
    });
    c.start();
    c.enqueue('k');
    await flush();
    await advance(20_000);
    const gaps = calls.slice(1).map((x, i) => x.at - calls[i]!.at);
    expect(gaps).to.deep.equal([100, 200, 400, 800, 1600, 1600]);
    expect(c.queue.numRequeues('k')).to.equal(0);
    await c.stop();
  });

  it('does not retry invalid input (terminal until the object changes), and an event after that reconciles again', async () => {
    const { c, calls, advance, metrics } = setup((_k, n) => {
      if (n === 1) throw new InvalidInputError('spec.x is wrong', 'spec.x');
      if (n === 2) throw new ApiError(422, 'Invalid', 'rejected');
      return undefined;
    });
    c.start();
    c.enqueue('k');
    await flush();
    await advance(60_000, 100);
    expect(calls).to.have.length(1);
    c.enqueue('k');
    await flush();
    await advance(60_000, 100);
    expect(calls).to.have.length(2);
    const errors = await metrics.reconcileErrors.get();
    expect(errors.values.find((v) => v.labels.class === 'invalid')?.value).to.equal(2);
  });

  it('reconciles a key added while it is in flight once more afterwards, never twice at once', async () => {
    let release: () => void = () => undefined;
    let inFlight = 0;
    let maxInFlight = 0;
    const { c, calls } = setup(
      async () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise<void>((r) => (release = r));
        inFlight--;
      },
      4,
    );
    c.start();
    c.enqueue('k');
    await flush();
    c.enqueue('k');
    c.enqueue('k');
    await flush();
    expect(calls).to.have.length(1);
    release();
    await flush();
    expect(calls).to.have.length(2);
    release();
    await flush();
    expect(calls).to.have.length(2);
    expect(maxInFlight).to.equal(1);
    await c.stop();
  });

  it('on stop waits for the reconcile in flight, starts none after, and schedules no retry', async () => {
    let release: () => void = () => undefined;
    const { c, calls, clock, advance } = setup(async (key) => {
      if (key === 'slow') await new Promise<void>((r) => (release = r));
      throw new ApiError(500, 'InternalError', 'x');
    });
    c.start();
    c.enqueue('slow');
    await flush();
    c.enqueue('other');
    let stopped = false;
    const stopping = c.stop().then(() => (stopped = true));
    await flush();
    expect(stopped, 'stop waits for the reconcile in flight').to.equal(false);
    release();
    await stopping;
    expect(calls.map((x) => x.key)).to.deep.equal(['slow']);
    c.enqueue('late');
    await advance(10_000, 100);
    expect(calls).to.have.length(1);
    expect(clock.pendingTimers(), 'no retry timer left behind').to.equal(0);
  });

  it('resyncs the root keys on the clock while running, and not after stop', async () => {
    const { c, calls, advance } = setup(() => undefined, 1, 1000);
    const objs = [{ metadata: { name: 'a', namespace: 'n' } }, { metadata: { name: 'b' } }];
    c.watchRoot({ on: () => undefined, list: () => objs } as never);
    c.start();
    await advance(2500, 50);
    expect(calls.map((x) => x.key)).to.deep.equal(['n/a', 'b', 'n/a', 'b']);
    await c.stop();
    await advance(5000, 100);
    expect(calls).to.have.length(4);
  });

  it('folds a burst of related events into one reconcile per key when the watch has a delay', async () => {
    const { c, calls, advance } = setup(() => undefined);
    let emit: (type: string, obj: unknown) => void = () => undefined;
    c.watch({ on: (h: (type: string, obj: unknown) => void) => (emit = h) } as never, () => ['ns/tag'], undefined, { delayMs: 1000 });
    c.start();
    for (let i = 0; i < 200; i++) {
      emit('add', { metadata: { name: `ns-${i}` } });
      if (i % 20 === 0) await advance(50, 50);
    }
    await advance(2000, 50);
    expect(calls.map((x) => x.key)).to.deep.equal(['ns/tag']);
    await c.stop();
  });

  it('keeps workers beyond maxBulkInFlight for keys added with priority, whose reconciles run in an urgent context', async () => {
    const seen: { key: string; urgent: boolean }[] = [];
    const release = new Map<string, () => void>();
    const c = new Controller(
      {
        name: 't',
        workers: 3,
        maxBulkInFlight: 1,
        rateLimiter: limiter,
        clock: new FakeClock(0),
        reconcile: async (key) => {
          await Promise.resolve();
          seen.push({ key, urgent: isUrgent() });
          await new Promise<void>((resolve) => release.set(key, resolve));
        },
      },
      silentLogger(),
      new Metrics(),
    );
    c.start();
    for (const k of ['a', 'b', 'c']) c.enqueue(k);
    await flush();
    expect(seen).to.deep.equal([{ key: 'a', urgent: false }], 'one bulk key at a time');
    c.enqueue('u', true);
    await flush();
    expect(seen.map((x) => x.key)).to.deep.equal(['a', 'u']);
    expect(seen[1]).to.deep.equal({ key: 'u', urgent: true });
    release.get('a')?.();
    await flush();
    expect(seen.map((x) => x.key)).to.deep.equal(['a', 'u', 'b']);
    for (const k of ['u', 'b']) release.get(k)?.();
    await flush();
    release.get('c')?.();
    await flush();
    expect(seen).to.deep.equal([
      { key: 'a', urgent: false },
      { key: 'u', urgent: true },
      { key: 'b', urgent: false },
      { key: 'c', urgent: false },
    ]);
    await c.stop();
  });
});
