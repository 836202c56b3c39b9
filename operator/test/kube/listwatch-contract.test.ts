// The behaviour of client-node's ListWatch that kube/informer.ts relies on or works around, pinned to the version
// in package-lock.json. When an upgrade changes one of these, this test says which assumption broke.
import { createRequire } from 'node:module';
import { expect } from 'chai';
import { ListWatch, type KubernetesObject, type KubernetesListObject, type Watch } from '@kubernetes/client-node';
import { FakeWatch, flush, obj } from './fakewatch.js';

const version = (createRequire(import.meta.url)('@kubernetes/client-node/package.json') as { version: string }).version;

function listWatch(items: () => KubernetesObject[], opts: { hold?: Promise<void>; rv?: () => string } = {}) {
  const watch = new FakeWatch();
  let lists = 0;
  const listFn = async (): Promise<KubernetesListObject<KubernetesObject>> => {
    lists++;
    if (opts.hold) await opts.hold;
    return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: opts.rv?.() ?? '10' }, items: items() };
  };
  const lw = new ListWatch('/api/v1/configmaps', watch as unknown as Watch, listFn, false);
  const seen: string[] = [];
  lw.on('add', (o) => seen.push(`add ${o.metadata?.name ?? ''}`));
  lw.on('update', (o) => seen.push(`update ${o.metadata?.name ?? ''}`));
  lw.on('delete', (o) => seen.push(`delete ${o.metadata?.name ?? ''}`));
  lw.on('error', (e) => seen.push(`error ${(e as Error).message}`));
  return { lw, watch, seen, lists: () => lists };
}

describe(`client-node ListWatch contract (version ${version})`, () => {
  it('is the version these assumptions were checked against', () => {
    expect(version).to.equal('1.4.0');
  });

  it('opens its watch after stop() when a LIST was in flight (GuardedWatch refuses to open it)', async () => {
    let release: () => void = () => undefined;
    const { lw, watch } = listWatch(() => [], { hold: new Promise<void>((r) => (release = r)) });
    void lw.start();
    await flush();
    await lw.stop();
    release();
    await flush();
    expect(watch.opened, 'a watch after stop()').to.have.length(1);
  });

  it('has the LIST in its cache when it calls watch() (the informer is synced at that moment)', async () => {
    const { lw, watch } = listWatch(() => [obj('a', '1')]);
    let cachedAtWatch: string[] = [];
    const orig = watch.watch.bind(watch);
    watch.watch = (p, q, cb, done) => {
      cachedAtWatch = lw.list().map((o) => o.metadata?.name ?? '');
      return orig(p, q, cb, done);
    };
    await lw.start();
    expect(cachedAtWatch).to.deep.equal(['a']);
  });

  it('asks for no bookmarks itself, and takes a BOOKMARK silently, moving its resourceVersion', async () => {
    const { lw, watch, seen } = listWatch(() => []);
    await lw.start();
    expect(watch.last.query).to.not.have.property('allowWatchBookmarks');
    watch.last.send('BOOKMARK', { kind: 'ConfigMap', metadata: { resourceVersion: '42' } });
    expect(seen).to.deep.equal([]);
    expect(lw.latestResourceVersion()).to.equal('42');
  });

  it('relists after an in-stream 410 followed by a normal close, with deletes for what vanished', async () => {
    let items = [obj('a', '1'), obj('b', '1')];
    const { lw, watch, seen, lists } = listWatch(() => items);
    await lw.start();
    items = [obj('a', '1')];
    watch.last.send('ERROR', { kind: 'Status', code: 410 } as KubernetesObject);
    watch.last.close(null);
    await flush();
    expect(lists()).to.equal(2);
    expect(seen).to.include('delete b');
  });

  it('resumes from its resourceVersion without a LIST after a normal close (a server-side timeout)', async () => {
    const { lw, watch, lists } = listWatch(() => []);
    await lw.start();
    watch.last.send('ADDED', obj('a', '15'));
    watch.last.close(null);
    await flush();
    expect(lists()).to.equal(1);
    expect(watch.last.query.resourceVersion).to.equal('15');
    await lw.stop();
  });

  it('stops for good on any other error, reporting it once (the informer restarts it with backoff)', async () => {
    const { lw, watch, seen } = listWatch(() => []);
    await lw.start();
    watch.last.close(new Error('socket hang up'));
    await flush();
    expect(seen).to.deep.equal(['error socket hang up']);
    expect(watch.opened).to.have.length(1);
  });
});
