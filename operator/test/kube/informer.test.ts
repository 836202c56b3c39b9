import { expect } from 'chai';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { Informer, type EventType } from '../../src/kube/informer.js';
import { R } from '../../src/kube/resources.js';
import { FakeClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/log.js';
import { FakeList, FakeWatch, flush, obj } from './fakewatch.js';

function setup(opts: { idleReconnectMs?: number; stallGraceMs?: number } = {}) {
  const clock = new FakeClock(0);
  const watch = new FakeWatch();
  const api = new FakeList();
  const client = { list: () => api.list(), kubeConfig: {} as KubeConfig };
  const inf = new Informer(R.configMap, client as never, silentLogger(), { clock, watch, retryBaseMs: 100, retryMaxMs: 1000, ...opts });
  const events: string[] = [];
  inf.on((type: EventType, o: KubernetesObject) => events.push(`${type} ${o.metadata?.name ?? ''}`));
  const advance = async (ms: number, step = 100): Promise<void> => {
    for (let t = 0; t < ms; t += step) {
      clock.advance(step);
      await flush();
    }
  };
  return { clock, watch, api, inf, events, advance };
}

describe('Informer', () => {
  it('lists, then watches from the list resourceVersion with bookmarks and a server-side timeout; synced once the list is in the cache', async () => {
    const { watch, api, inf, events } = setup({ idleReconnectMs: 300_000 });
    api.items = [obj('a', '5'), obj('b', '6')];
    api.resourceVersion = '7';
    api.hold = true;
    inf.start();
    await flush();
    expect(inf.hasSynced()).to.equal(false);
    let synced = false;
    void inf.waitForSync().then(() => (synced = true));
    api.release();
    await flush();
    expect(synced).to.equal(true);
    expect(inf.list().map((o) => o.metadata?.name).sort()).to.deep.equal(['a', 'b']);
    expect(events.sort()).to.deep.equal(['add a', 'add b']);
    const q = watch.last.query;
    expect(q.resourceVersion).to.equal('7');
    expect(q.allowWatchBookmarks).to.equal(true);
    expect(q.timeoutSeconds).to.be.within(240, 300);
    await inf.stop();
  });

  it('applies watch events to the cache and the handlers', async () => {
    const { watch, inf, events } = setup();
    inf.start();
    await flush();
    watch.last.send('ADDED', obj('a', '2'));
    watch.last.send('MODIFIED', obj('a', '3', 'ns', { data: { k: 'v' } }));
    watch.last.send('ADDED', obj('b', '4'));
    watch.last.send('DELETED', obj('b', '5'));
    expect(events).to.deep.equal(['add a', 'update a', 'add b', 'delete b']);
    expect(inf.get('a', 'ns')).to.have.nested.property('data.k', 'v');
    expect(inf.get('b', 'ns')).to.equal(undefined);
    await inf.stop();
  });

  it('relists after 410 Gone, with a delete for every object that vanished meanwhile', async () => {
    const { watch, api, inf, events } = setup();
    api.items = [obj('a', '1'), obj('b', '1')];
    inf.start();
    await flush();
    events.length = 0;
    api.items = [obj('a', '9')];
    api.resourceVersion = '9';
    watch.last.send('ERROR', { kind: 'Status', code: 410 } as KubernetesObject);
    watch.last.close(null);
    await flush();
    expect(api.calls).to.equal(2);
    expect(events.sort()).to.deep.equal(['delete b', 'update a']);
    expect(watch.last.query.resourceVersion).to.equal('9');
    await inf.stop();
  });

  it('restarts a failed watch with backoff from its resourceVersion, without relisting', async () => {
    const { watch, api, inf, advance } = setup();
    inf.start();
    await flush();
    watch.last.send('ADDED', obj('a', '12'));
    watch.last.close(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    await flush();
    expect(watch.open).to.have.length(0);
    await advance(100);
    expect(watch.open).to.have.length(1);
    expect(watch.last.query.resourceVersion).to.equal('12');
    expect(api.calls).to.equal(1);
    expect(inf.stats.restarts).to.equal(1);
    await inf.stop();
  });

  it('opens no watch when stopped while its LIST is in flight', async () => {
    const { watch, api, inf } = setup();
    api.hold = true;
    inf.start();
    await flush();
    const stopping = inf.stop();
    api.release();
    await stopping;
    await flush();
    expect(watch.opened).to.have.length(0);
  });

  it('counts bookmarks as activity: a quiet watch with bookmarks is never reconnected', async function () {
    this.timeout(30_000);
    const { watch, inf, advance } = setup({ idleReconnectMs: 10_000, stallGraceMs: 5_000 });
    inf.start();
    await flush();
    for (let i = 0; i < 12; i++) {
      await advance(5_000, 500);
      watch.last.send('BOOKMARK', obj('', String(100 + i)));
    }
    expect(inf.stats.bookmarks).to.equal(12);
    expect(inf.stats.idleReconnects).to.equal(0);
    expect(watch.opened).to.have.length(1);
    await inf.stop();
  });

  it('a quiet watch the server ends at its timeout resumes from its resourceVersion: not stalled, no relist', async function () {
    this.timeout(30_000);
    const { watch, api, inf, advance } = setup({ idleReconnectMs: 10_000, stallGraceMs: 5_000 });
    inf.start();
    await flush();
    for (let i = 0; i < 6; i++) {
      await advance(10_000, 500);
      watch.last.close(null);
      await flush();
    }
    expect(inf.stats.idleReconnects).to.equal(0);
    expect(api.calls).to.equal(1);
    expect(watch.opened).to.have.length(7);
    await inf.stop();
  });

  it('reconnects a watch that stays silent past its timeout plus the grace (a stalled connection)', async function () {
    this.timeout(30_000);
    const { watch, inf, advance } = setup({ idleReconnectMs: 10_000, stallGraceMs: 5_000 });
    inf.start();
    await flush();
    await advance(14_000, 500);
    expect(inf.stats.idleReconnects).to.equal(0);
    await advance(6_000, 500);
    expect(inf.stats.idleReconnects).to.equal(1);
    expect(watch.open).to.have.length(1);
    expect(watch.opened).to.have.length(2);
    await inf.stop();
  });
});
