import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import { TokenBucket } from '../../src/kube/client.js';
import { isUrgent, urgent } from '../../src/kube/priority.js';
import { FakeClock } from '../../src/util/clock.js';
import { Metrics } from '../../src/kube/metrics.js';
import { trimForCache } from '../../src/kube/informer.js';
import { R } from '../../src/kube/resources.js';
import { ConfigError, loadOperatorConfig } from '../../src/config/index.js';

describe('kube: client rate limit', () => {
  /** Records the order in which takes resolve. */
  function tracker(): { order: string[]; take: (bucket: TokenBucket, name: string, urgent?: boolean) => void; flush: () => Promise<void> } {
    const order: string[] = [];
    return {
      order,
      take: (bucket, name, urgent = false) => void bucket.take(urgent).then(() => order.push(name)),
      flush: () => new Promise((resolve) => setImmediate(resolve)),
    };
  }

  it('lets a burst through at once, then spreads the rest at qps', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ qps: 10, burst: 3 }, clock);
    const t = tracker();
    for (const name of ['a', 'b', 'c', 'd', 'e']) t.take(bucket, name);
    await t.flush();
    expect(t.order).to.deep.equal(['a', 'b', 'c']);
    clock.advance(99);
    await t.flush();
    expect(t.order).to.have.length(3);
    clock.advance(1);
    await t.flush();
    expect(t.order).to.deep.equal(['a', 'b', 'c', 'd']);
    clock.advance(100);
    await t.flush();
    expect(t.order).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
    expect(bucket.stats).to.include({ throttled: 2, waitedMs: 300, urgentThrottled: 0 });
    // A second later the bucket is full again: a burst goes through at once.
    clock.advance(1000);
    for (const name of ['f', 'g', 'h']) t.take(bucket, name);
    await t.flush();
    expect(t.order).to.have.length(8);
    expect(bucket.waiting()).to.equal(0);
  });

  it('starts an urgent request before every bulk request waiting, without exceeding the rate', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ qps: 10, burst: 1 }, clock);
    const t = tracker();
    for (const name of ['b1', 'b2', 'b3', 'b4']) t.take(bucket, name);
    await t.flush();
    expect(t.order).to.deep.equal(['b1']);
    t.take(bucket, 'u1', true);
    t.take(bucket, 'u2', true);
    await t.flush();
    expect(t.order).to.deep.equal(['b1'], 'an urgent request waits for a token too');
    for (let i = 0; i < 5; i++) {
      clock.advance(100);
      await t.flush();
      expect(t.order).to.have.length(2 + i, 'one request per token, at qps');
    }
    expect(t.order).to.deep.equal(['b1', 'u1', 'u2', 'b2', 'b3', 'b4']);
    expect(bucket.stats).to.include({ throttled: 3, urgentThrottled: 2, urgentWaitedMs: 300 });
  });

  it('takes the urgency from the reconcile context when not given', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ qps: 10, burst: 1 }, clock);
    await bucket.take();
    const order: string[] = [];
    void bucket.take().then(() => order.push('bulk'));
    void urgent(() => bucket.take()).then(() => order.push('urgent'));
    clock.advance(100);
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).to.deep.equal(['urgent']);
    expect(isUrgent()).to.equal(false);
    clock.advance(100);
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).to.deep.equal(['urgent', 'bulk']);
  });

  it('reports the waits of the clients it watches in mizzen_api_client_throttled_total and _wait_seconds_total', async () => {
    const metrics = new Metrics();
    metrics.watchLimiter({ throttled: 3, waitedMs: 1500, urgentThrottled: 1, urgentWaitedMs: 20 });
    metrics.watchLimiter({ throttled: 1, waitedMs: 500, urgentThrottled: 0, urgentWaitedMs: 0 });
    const text = await metrics.registry.metrics();
    expect(text).to.include('mizzen_api_client_throttled_total{priority="bulk"} 4');
    expect(text).to.include('mizzen_api_client_throttled_total{priority="urgent"} 1');
    expect(text).to.include('mizzen_api_client_wait_seconds_total{priority="bulk"} 2');
    expect(text).to.include('mizzen_api_client_wait_seconds_total{priority="urgent"} 0.02');
  });

  it('never waits when qps is 0', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ qps: 0, burst: 1 }, clock);
    for (let i = 0; i < 100; i++) await bucket.take();
    expect(bucket.stats.throttled).to.equal(0);
  });

  it('reads MIZZEN_KUBE_API_QPS and MIZZEN_KUBE_API_BURST, with defaults, and rejects nonsense', () => {
    expect(loadOperatorConfig({}, {})).to.include({ apiQps: 200, apiBurst: 400 });
    expect(loadOperatorConfig({}, { MIZZEN_KUBE_API_QPS: '50', MIZZEN_KUBE_API_BURST: '80' })).to.include({ apiQps: 50, apiBurst: 80 });
    expect(() => loadOperatorConfig({}, { MIZZEN_KUBE_API_QPS: 'fast' })).to.throw(ConfigError, /MIZZEN_KUBE_API_QPS must be a whole number/);
  });

  it('reads MIZZEN_MCS_WORKERS and MIZZEN_MCS_BULK_WORKERS, with defaults', () => {
    expect(loadOperatorConfig({}, {})).to.include({ mcsWorkers: 32, mcsBulkWorkers: 2 });
    expect(loadOperatorConfig({}, { MIZZEN_MCS_WORKERS: '16', MIZZEN_MCS_BULK_WORKERS: '4' })).to.include({ mcsWorkers: 16, mcsBulkWorkers: 4 });
    expect(() => loadOperatorConfig({}, { MIZZEN_MCS_BULK_WORKERS: 'some' })).to.throw(ConfigError, /MIZZEN_MCS_BULK_WORKERS must be a whole number/);
  });
});

describe('kube: what the informer caches keep', () => {
  it('drops the field sets of managedFields and keeps who applied what, when', () => {
    const obj = {
      metadata: {
        name: 'a',
        namespace: 'ns',
        managedFields: [
          { manager: 'mizzen', operation: 'Apply', apiVersion: 'v1', time: '2026-01-01T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': {} } },
          { manager: 'kubelet', operation: 'Update', subresource: 'status', fieldsType: 'FieldsV1', fieldsV1: { 'f:status': {} } },
        ],
      },
      spec: { ports: [] },
    } as unknown as KubernetesObject;
    const trimmed = trimForCache(obj, R.service);
    expect(trimmed).to.equal(obj);
    expect(trimmed).to.deep.equal({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'a',
        namespace: 'ns',
        managedFields: [
          { manager: 'mizzen', operation: 'Apply', time: '2026-01-01T00:00:00Z' },
          { manager: 'kubelet', operation: 'Update', subresource: 'status' },
        ],
      },
      spec: { ports: [] },
    });
  });

  it('keeps an apiVersion and kind the server sent', () => {
    const obj = { apiVersion: 'multicluster.x-k8s.io/v1beta1', kind: 'ServiceExport', metadata: { name: 'a' } };
    expect(trimForCache(obj, R.serviceExport)).to.include({ apiVersion: 'multicluster.x-k8s.io/v1beta1', kind: 'ServiceExport' });
  });
});
