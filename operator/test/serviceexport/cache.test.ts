import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import { Index } from '../../src/controllers/serviceexport/cache.js';
import { Expectations } from '../../src/controllers/serviceexport/expectations.js';
import type { EventType, Informer, InformerHandler } from '../../src/kube/informer.js';

/** Just enough of an Informer for the index and the expectations: handlers and a way to fire events. */
class FakeInformer {
  private readonly handlers: InformerHandler<KubernetesObject>[] = [];
  on(h: InformerHandler<KubernetesObject>): void {
    this.handlers.push(h);
  }
  fire(type: EventType, obj: KubernetesObject): void {
    for (const h of this.handlers) h(type, obj);
  }
  as(): Informer {
    return this as unknown as Informer;
  }
}

const slice = (name: string, service: string | undefined, rv = '1'): KubernetesObject => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: 'ns', resourceVersion: rv, labels: service ? { svc: service } : {} },
});

describe('serviceexport: index of objects by service', () => {
  const setup = (): { inf: FakeInformer; index: Index<KubernetesObject> } => {
    const inf = new FakeInformer();
    const index = new Index<KubernetesObject>(inf.as(), (o) => (o.metadata?.labels?.svc ? `ns/${o.metadata.labels.svc}` : undefined));
    return { inf, index };
  };

  it('groups added objects by their key and forgets deleted ones', () => {
    const { inf, index } = setup();
    inf.fire('add', slice('a', 'web'));
    inf.fire('add', slice('b', 'web'));
    inf.fire('add', slice('c', 'db'));
    expect(index.get('ns/web').map((o) => o.metadata?.name)).to.deep.equal(['a', 'b']);
    inf.fire('delete', slice('a', 'web'));
    expect(index.get('ns/web').map((o) => o.metadata?.name)).to.deep.equal(['b']);
    expect(index.keys().sort()).to.deep.equal(['ns/db', 'ns/web']);
  });

  it('moves an object whose key changes and drops one that no longer has a key', () => {
    const { inf, index } = setup();
    inf.fire('add', slice('a', 'web'));
    inf.fire('update', slice('a', 'db', '2'));
    expect(index.get('ns/web')).to.deep.equal([]);
    expect(index.get('ns/db').map((o) => o.metadata?.resourceVersion)).to.deep.equal(['2']);
    inf.fire('update', slice('a', undefined, '3'));
    expect(index.keys()).to.deep.equal([]);
  });
});

describe('serviceexport: write expectations', () => {
  let now = 0;
  const setup = (): { inf: FakeInformer; ex: Expectations } => {
    const inf = new FakeInformer();
    const ex = new Expectations(5000, () => now);
    ex.observe(inf.as());
    return { inf, ex };
  };
  beforeEach(() => (now = 1000));

  it('a write is pending until the informer delivers its resourceVersion', () => {
    const { inf, ex } = setup();
    ex.expect('ns/web', slice('a', 'web', '7'));
    expect(ex.pending('ns/web')).to.equal(true);
    inf.fire('update', slice('a', 'web', '6'));
    expect(ex.pending('ns/web')).to.equal(true);
    inf.fire('update', slice('a', 'web', '7'));
    expect(ex.pending('ns/web')).to.equal(false);
  });

  it('a deletion is pending until the delete event', () => {
    const { inf, ex } = setup();
    ex.expect('ns/web', slice('a', 'web', '7'), true);
    expect(ex.pending('ns/web')).to.equal(true);
    inf.fire('delete', slice('a', 'web', '7'));
    expect(ex.pending('ns/web')).to.equal(false);
  });

  it('an event that arrived before the response of its write satisfies the write at once', () => {
    const { inf, ex } = setup();
    inf.fire('update', slice('a', 'web', '7'));
    ex.expect('ns/web', slice('a', 'web', '7'));
    expect(ex.pending('ns/web')).to.equal(false);
  });

  it('an expectation older than its time to live is dropped, so a lost event only delays', () => {
    const { ex } = setup();
    ex.expect('ns/web', slice('a', 'web', '7'));
    now += 5001;
    expect(ex.pending('ns/web')).to.equal(false);
  });

  it('services wait only for their own writes', () => {
    const { ex } = setup();
    ex.expect('ns/web', slice('a', 'web', '7'));
    expect(ex.pending('ns/db')).to.equal(false);
    expect(ex.waitingFor('ns/web')).to.deep.equal(['discovery.k8s.io/v1|EndpointSlice|ns|a']);
  });
});
