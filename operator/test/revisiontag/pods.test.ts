import { expect } from 'chai';
import { injectedRevision, namespacesUsingTag, podsNeedingRestart, tagOfNamespace } from '../../src/render/revisiontag/index.js';
import { namespace, pod } from './fixtures.js';

describe('revision tags: namespaces and pods', () => {
  const injected: { name: string; pod: ReturnType<typeof pod>; want: string | undefined }[] = [
    { name: 'a pod without the status annotation runs no sidecar', pod: pod('app', 'a'), want: undefined },
    { name: 'the revision comes from the sidecar.istio.io/status annotation', pod: pod('app', 'a', '1-7-6'), want: '1-7-6' },
    { name: 'an annotation without a revision falls back to the istio.io/rev label', pod: pod('app', 'a', '1-8-3', { status: '{"containers":["istio-proxy"]}' }), want: '1-8-3' },
    { name: 'an unreadable annotation still means a sidecar, from the label', pod: pod('app', 'a', '1-8-3', { status: '{not json' }), want: '1-8-3' },
  ];
  for (const c of injected) it(c.name, () => expect(injectedRevision(c.pod)).to.equal(c.want));

  it('an injected pod with neither revision field nor label ran the default revision (injectors before Istio 1.8)', () => {
    const p = pod('app', 'a', 'x', { status: '{}' });
    delete p.metadata!.labels!['istio.io/rev'];
    expect(injectedRevision(p)).to.equal('default');
  });

  it('namespaces select a tag with istio.io/rev; the default tag also gets istio-injection=enabled ones', () => {
    const nss = [namespace('b', { 'istio.io/rev': 'prod-stable' }), namespace('a', { 'istio.io/rev': 'prod-stable' }), namespace('c', { 'istio-injection': 'enabled' }), namespace('d', { 'istio.io/rev': 'default' }), namespace('e')];
    expect(namespacesUsingTag(nss, 'prod-stable')).to.deep.equal(['a', 'b']);
    expect(namespacesUsingTag(nss, 'default')).to.deep.equal(['c', 'd']);
    expect(namespacesUsingTag(nss, 'canary')).to.deep.equal([]);
    expect(nss.map((n) => tagOfNamespace(n) ?? '-')).to.deep.equal(['prod-stable', 'prod-stable', 'default', 'default', '-']);
  });

  it('an istio-injection label wins over istio.io/rev, as in Istio selectors: enabled is the default tag, anything else none', () => {
    const both = namespace('x', { 'istio.io/rev': 'prod-stable', 'istio-injection': 'enabled' });
    const off = namespace('y', { 'istio.io/rev': 'prod-stable', 'istio-injection': 'disabled' });
    expect([tagOfNamespace(both), tagOfNamespace(off)]).to.deep.equal(['default', undefined]);
    expect(namespacesUsingTag([both, off], 'prod-stable')).to.deep.equal([]);
  });

  it('counts running pods of those namespaces with a sidecar from another revision', () => {
    const pods = [
      pod('app', 'old-1', '1-7-6'),
      pod('app', 'old-2', '1-7-6'),
      pod('app', 'new', '1-8-3'),
      pod('app', 'plain'),
      pod('app', 'done', '1-7-6', { phase: 'Succeeded' }),
      pod('app', 'going', '1-7-6', { deleting: true }),
      pod('other', 'elsewhere', '1-7-6'),
    ];
    expect(podsNeedingRestart(pods, ['app'], '1-8-3')).to.deep.equal(['app/old-1', 'app/old-2']);
    expect(podsNeedingRestart(pods, ['app', 'other'], '1-7-6')).to.deep.equal(['app/new']);
    expect(podsNeedingRestart(pods, [], '1-8-3')).to.deep.equal([]);
  });
});
