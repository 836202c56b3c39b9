import { expect } from 'chai';
import type { V1Pod } from '@kubernetes/client-node';
import { InformerPodSource } from '../../src/agent/pods.js';

const pod = (name: string, uid: string): V1Pod => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'ns', uid }, spec: { nodeName: 'n1', containers: [] } });

/** A pod cache that never hears of the pod (a watch that lags or has stalled), unless told. */
function cache(): { informer: never; add(p: V1Pod): void } {
  const pods = new Map<string, V1Pod>();
  const handlers: ((t: string, p: V1Pod) => void)[] = [];
  return {
    informer: { on: (h: (t: string, p: V1Pod) => void) => handlers.push(h), get: (name: string) => pods.get(name), list: () => [...pods.values()] } as never,
    add(p: V1Pod) {
      pods.set(p.metadata!.name!, p);
      for (const h of handlers) h('add', p);
    },
  };
}

describe('agent pod source', () => {
  it('reads a pod the cache does not have from the API server after the fallback delay, instead of failing the ADD', async () => {
    const c = cache();
    let gets = 0;
    const src = new InformerPodSource(c.informer, (_ns, name) => {
      gets++;
      return Promise.resolve(name === 'a' ? pod('a', 'u1') : undefined);
    }, 50);
    const t0 = Date.now();
    const found = await src.waitFor('ns', 'a', 'u1', 5000);
    const took = Date.now() - t0;
    console.log(`      found by GET after ${took} ms (fallback 50 ms, ADD timeout 5000 ms)`);
    expect(found?.metadata?.uid).to.equal('u1');
    expect(gets).to.equal(1);
    expect(took).to.be.below(4000);
    expect(src.stats.fetched).to.equal(1);
  });

  it('does not take a pod of another uid from the API server, and still takes the cache event', async () => {
    const c = cache();
    const src = new InformerPodSource(c.informer, () => Promise.resolve(pod('a', 'old-uid')), 20);
    const waiting = src.waitFor('ns', 'a', 'new-uid', 5000);
    setTimeout(() => c.add(pod('a', 'new-uid')), 100);
    expect((await waiting)?.metadata?.uid).to.equal('new-uid');
    expect(src.stats.fetched).to.equal(0);
  });

  it('gives up after the timeout when neither the cache nor the API server has it; GET errors do not end the wait early', async () => {
    const c = cache();
    const src = new InformerPodSource(c.informer, () => Promise.reject(new Error('connection refused')), 20);
    expect(await src.waitFor('ns', 'gone', undefined, 300)).to.equal(undefined);
    expect(src.stats.fetchErrors).to.be.greaterThan(0);
  });
});
