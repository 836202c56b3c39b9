import { expect } from 'chai';
import { CHECKS, decide, podTraffic } from '../../src/agent/decide.js';
import { pod } from './helpers.js';

const settings = { excludeNamespaces: ['istio-system', 'kube-system'] };

describe('agent decision chain (pure)', () => {
  const cases: { name: string; pod: Parameters<typeof pod>[0]; reason: string; redirect: boolean }[] = [
    { name: 'redirects a pod with an istio-proxy sidecar', pod: {}, reason: 'sidecar', redirect: true },
    { name: 'skips a pod in an excluded namespace', pod: { namespace: 'kube-system' }, reason: 'excluded-namespace', redirect: false },
    { name: 'skips a host-network pod', pod: { hostNetwork: true }, reason: 'host-network', redirect: false },
    { name: 'skips a pod without a sidecar', pod: { containers: ['app'] }, reason: 'no-sidecar', redirect: false },
    { name: 'skips a pod whose injection is disabled', pod: { annotations: { 'sidecar.istio.io/inject': 'false' } }, reason: 'injection-disabled', redirect: false },
    { name: "reads the inject annotation as Go's ParseBool does", pod: { annotations: { 'sidecar.istio.io/inject': 'F' } }, reason: 'injection-disabled', redirect: false },
    { name: 'redirects when injection is explicitly enabled', pod: { annotations: { 'sidecar.istio.io/inject': 'true' } }, reason: 'sidecar', redirect: true },
    { name: 'skips a pod with its own istio-init redirection', pod: { initContainers: ['istio-init'] }, reason: 'own-redirection', redirect: false },
    { name: 'redirects a pod with another init container (istio-validation)', pod: { initContainers: ['istio-validation'] }, reason: 'sidecar', redirect: true },
    { name: 'skips a pod whose interception mode is NONE', pod: { annotations: { 'sidecar.istio.io/interceptionMode': 'NONE' } }, reason: 'interception-none', redirect: false },
    { name: 'reports the first failing check when several fail', pod: { namespace: 'istio-system', containers: ['app'] }, reason: 'excluded-namespace', redirect: false },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const d = decide(pod(c.pod), settings);
      expect({ reason: d.reason, redirect: d.redirect }).to.deep.equal({ reason: c.reason, redirect: c.redirect });
      expect(d.message).to.be.a('string').and.not.equal('');
    });
  }

  it('names each check, in order', () => {
    expect(CHECKS.map(([name]) => name)).to.deep.equal(['namespace not excluded', 'pod network', 'sidecar present', 'injection not disabled', 'no redirection of its own', 'interception not NONE']);
  });

  it("takes the sidecar's literal env values and IPv6 from the pod's addresses", () => {
    const t = podTraffic(pod({ proxyEnv: { ISTIO_META_DNS_CAPTURE: 'true' }, annotations: { a: 'b' } }), ['10.0.0.2/24', 'fd00::2/64']);
    expect(t).to.deep.equal({ annotations: { a: 'b' }, proxyEnv: { ISTIO_META_DNS_CAPTURE: 'true' }, ipv6: true });
    expect(podTraffic(pod(), ['10.0.0.2/24']).ipv6).to.equal(false);
  });

  it("takes the proxy's uid and gid from the istio-proxy container's securityContext, not the pod's", () => {
    const p = pod();
    const proxy = p.spec?.containers.find((c) => c.name === 'istio-proxy');
    if (proxy === undefined || p.spec === undefined) throw new Error('no istio-proxy');
    p.spec.securityContext = { runAsUser: 2000, runAsGroup: 2000 };
    expect(podTraffic(p, [])).to.not.have.any.keys('proxyUid', 'proxyGid');
    proxy.securityContext = { runAsUser: 1000650000, runAsGroup: 0 };
    expect(podTraffic(p, [])).to.deep.include({ proxyUid: 1000650000, proxyGid: 0 });
  });

  it('finds a native sidecar (an istio-proxy init container) like a regular one', () => {
    const native = pod({ containers: ['app'] });
    if (native.spec === undefined) throw new Error('no spec');
    native.spec.initContainers = [{ name: 'istio-proxy', image: 'proxyv2', restartPolicy: 'Always', securityContext: { runAsUser: 1500 }, env: [{ name: 'ISTIO_META_DNS_CAPTURE', value: 'true' }] }];
    expect(decide(native, settings).reason).to.equal('sidecar');
    expect(podTraffic(native, [])).to.deep.include({ proxyUid: 1500, proxyEnv: { ISTIO_META_DNS_CAPTURE: 'true' } });
  });
});
