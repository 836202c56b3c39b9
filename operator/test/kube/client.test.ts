import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import { TokenBucket } from '../../src/kube/client.js';
import { trimForCache } from '../../src/kube/informer.js';
import { R } from '../../src/kube/resources.js';
import { ConfigError, loadOperatorConfig } from '../../src/config/index.js';

describe('kube: client rate limit', () => {
  it('lets a burst through at once, then spreads the rest at qps', () => {
    let now = 0;
    const bucket = new TokenBucket({ qps: 10, burst: 3 }, () => now);
    expect([bucket.reserve(), bucket.reserve(), bucket.reserve()]).to.deep.equal([0, 0, 0]);
    expect(bucket.reserve()).to.equal(100);
    expect(bucket.reserve()).to.equal(200);
    expect(bucket.stats.throttled).to.equal(2);
    now = 1000;
    // A second later ten tokens came back, which pays the debt of two and refills the bucket to its burst.
    expect([bucket.reserve(), bucket.reserve(), bucket.reserve()]).to.deep.equal([0, 0, 0]);
    expect(bucket.reserve()).to.be.greaterThan(0);
  });

  it('never waits when qps is 0', () => {
    const bucket = new TokenBucket({ qps: 0, burst: 1 }, () => 0);
    for (let i = 0; i < 100; i++) expect(bucket.reserve()).to.equal(0);
  });

  it('reads MIZZEN_KUBE_API_QPS and MIZZEN_KUBE_API_BURST, with defaults, and rejects nonsense', () => {
    expect(loadOperatorConfig({}, {})).to.include({ apiQps: 200, apiBurst: 400 });
    expect(loadOperatorConfig({}, { MIZZEN_KUBE_API_QPS: '50', MIZZEN_KUBE_API_BURST: '80' })).to.include({ apiQps: 50, apiBurst: 80 });
    expect(() => loadOperatorConfig({}, { MIZZEN_KUBE_API_QPS: 'fast' })).to.throw(ConfigError, /MIZZEN_KUBE_API_QPS must be a whole number/);
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
