import { expect } from 'chai';
import {
  COMPONENT_NAMES,
  PROFILE_NAMES,
  REPAIR_DEFAULTS,
  cniConfigData,
  cniConfigFromData,
  cniConfigToData,
  componentOf,
  ownerLabels,
  profileSpec,
  withProfile,
  type CniConfig,
} from '../../src/render/index.js';
import { overlay } from '../../src/render/merge.js';
import { iopWith } from './helpers.js';
import { resolveCniConfig } from '../../src/render/cniconfig.js';
import { InvalidSpecError } from '../../src/render/errors.js';

describe('overlay merge', () => {
  it('merges maps key by key with the overlay winning', () => {
    expect(overlay({ a: 1, b: { c: 2, d: 3 } }, { b: { c: 4 }, e: 5 })).to.deep.equal({ a: 1, b: { c: 4, d: 3 }, e: 5 });
  });

  it('replaces lists instead of concatenating them', () => {
    expect(overlay({ l: [1, 2] }, { l: [3] })).to.deep.equal({ l: [3] });
  });

  it('removes a key set to null and keeps one set to undefined', () => {
    expect(overlay({ a: 1, b: 2 }, { a: null, b: undefined })).to.deep.equal({ b: 2 });
  });

  it('merges gateway lists by name, appending new names', () => {
    const base = { components: { ingressGateways: [{ name: 'a', enabled: true, k8s: { replicaCount: 1 } }, { name: 'b', enabled: false }] } };
    const over = { components: { ingressGateways: [{ name: 'b', enabled: true }, { name: 'c', enabled: true }] } };
    expect(overlay(base, over)).to.deep.equal({
      components: {
        ingressGateways: [
          { name: 'a', enabled: true, k8s: { replicaCount: 1 } },
          { name: 'b', enabled: true },
          { name: 'c', enabled: true },
        ],
      },
    });
  });

  it('lets a scalar replace a map (repair: true over a repair object)', () => {
    expect(overlay({ repair: { enabled: false, deletePods: true } }, { repair: true })).to.deep.equal({ repair: true });
  });
});

describe('profiles', () => {
  const enabled = (name: (typeof PROFILE_NAMES)[number]): Record<string, unknown> => {
    const c = profileSpec(name).components ?? {};
    return {
      base: c.base?.enabled,
      pilot: c.pilot?.enabled,
      cni: c.cni?.enabled,
      istiodRemote: c.istiodRemote?.enabled,
      ingress: (c.ingressGateways ?? []).filter((g) => g.enabled).map((g) => g.name),
      egress: (c.egressGateways ?? []).filter((g) => g.enabled).map((g) => g.name),
    };
  };
  const table: { profile: (typeof PROFILE_NAMES)[number]; expected: Record<string, unknown> }[] = [
    { profile: 'default', expected: { base: true, pilot: true, cni: false, istiodRemote: false, ingress: ['istio-ingressgateway'], egress: [] } },
    { profile: 'demo', expected: { base: true, pilot: true, cni: false, istiodRemote: false, ingress: ['istio-ingressgateway'], egress: ['istio-egressgateway'] } },
    { profile: 'minimal', expected: { base: true, pilot: true, cni: false, istiodRemote: false, ingress: [], egress: [] } },
    { profile: 'empty', expected: { base: false, pilot: false, cni: false, istiodRemote: false, ingress: [], egress: [] } },
    { profile: 'preview', expected: { base: true, pilot: true, cni: false, istiodRemote: false, ingress: ['istio-ingressgateway'], egress: [] } },
    { profile: 'openshift', expected: { base: true, pilot: true, cni: true, istiodRemote: false, ingress: ['istio-ingressgateway'], egress: [] } },
    { profile: 'remote', expected: { base: true, pilot: false, cni: false, istiodRemote: true, ingress: [], egress: [] } },
    { profile: 'external', expected: { base: false, pilot: false, cni: false, istiodRemote: true, ingress: [], egress: [] } },
  ];
  for (const { profile, expected } of table) {
    it(`${profile} enables ${JSON.stringify(expected)}`, () => {
      expect(enabled(profile)).to.deep.equal(expected);
    });
  }

  it('lays the user spec over the profile', () => {
    const spec = withProfile({ profile: 'demo', components: { pilot: { k8s: { replicaCount: 2 } } } });
    expect(spec.components?.pilot?.k8s?.replicaCount).to.equal(2);
    expect(spec.components?.pilot?.k8s?.env).to.deep.equal([{ name: 'PILOT_TRACE_SAMPLING', value: '100' }]);
    expect(spec.components?.egressGateways?.[0]?.enabled).to.equal(true);
  });

  it('returns a fresh copy each time', () => {
    const a = profileSpec('default');
    (a.components as Record<string, unknown>).base = { enabled: false };
    expect(profileSpec('default').components?.base?.enabled).to.equal(true);
  });
});

describe('CNI config', () => {
  const cfg: CniConfig = {
    cniBinDir: '/home/kubernetes/bin',
    cniConfDir: '/etc/cni/net.d',
    cniConfFileName: '10-calico.conflist',
    excludeNamespaces: ['istio-system', 'kube-system'],
    chained: false,
    logLevel: 'debug',
    repair: { ...REPAIR_DEFAULTS, deletePods: false },
    nativeNftables: true,
  };

  it('reads back what it writes', () => {
    expect(cniConfigFromData(cniConfigToData(cfg))).to.deep.equal(cfg);
  });

  it('writes only strings', () => {
    for (const v of Object.values(cniConfigToData(cfg))) expect(v).to.be.a('string');
  });

  it('fills defaults for missing keys and reads an empty exclude list', () => {
    const read = cniConfigFromData({ excludeNamespaces: '' });
    expect(read.excludeNamespaces).to.deep.equal([]);
    expect(read.repair).to.deep.equal(REPAIR_DEFAULTS);
    expect(read.cniBinDir).to.equal('/opt/cni/bin');
  });

  it('derives the data from an IstioOperator, normalising repair: true', () => {
    const data = cniConfigData(iopWith({ values: { cni: { repair: true, cniBinDir: '/x/' } } }));
    expect(data['repair.enabled']).to.equal('true');
    expect(data.cniBinDir).to.equal('/x');
    expect(data.nativeNftables).to.equal('false');
  });

  it('carries values.global.nativeNftables to the agent and rejects a non-boolean', () => {
    expect(cniConfigData(iopWith({ values: { global: { nativeNftables: true } } })).nativeNftables).to.equal('true');
    expect(() => cniConfigData(iopWith({ values: { global: { nativeNftables: 'yes' as unknown as boolean } } }))).to.throw(/values\.global\.nativeNftables/);
  });
});

describe('labels', () => {
  it('uses istioctl defaults for an IstioOperator without metadata', () => {
    expect(ownerLabels({ metadata: {}, spec: { revision: 'canary' } })).to.deep.equal({
      'install.operator.istio.io/owning-resource': 'installed-state',
      'install.operator.istio.io/owning-resource-namespace': 'istio-system',
      'istio.io/rev': 'canary',
      'app.kubernetes.io/managed-by': 'mizzen',
    });
  });

  it('knows the component of an object only from a known component label', () => {
    expect(componentOf({ metadata: { labels: { 'operator.istio.io/component': 'Cni' } } })).to.equal('Cni');
    expect(componentOf({ metadata: { labels: { 'operator.istio.io/component': 'Other' } } })).to.equal(undefined);
    expect(componentOf({})).to.equal(undefined);
    expect(COMPONENT_NAMES).to.have.length(6);
  });
});

describe('values.cni settings the agent uses as Kubernetes names', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ repair: { brokenPodLabelKey: 'bad key!!' } }, /^values\.cni\.repair\.brokenPodLabelKey: "bad key!!" is not a valid label key/],
    [{ repair: { brokenPodLabelKey: 'UPPER_prefix.example.com/x' } }, /brokenPodLabelKey/],
    [{ repair: { brokenPodLabelValue: 'no spaces' } }, /brokenPodLabelValue/],
    [{ repair: { initContainerName: 'NOT_VALID' } }, /^values\.cni\.repair\.initContainerName: "NOT_VALID" is not a valid container name/],
    [{ excludeNamespaces: ['kube-system', 'UPPER CASE!'] }, /^values\.cni\.excludeNamespaces\[1\]: "UPPER CASE!" is not a namespace name/],
    [{ excludeNamespaces: ['a,b'] }, /^values\.cni\.excludeNamespaces\[0\]: "a,b"/],
  ];
  for (const [cni, msg] of bad) {
    it(`refuses ${JSON.stringify(cni)} naming the field`, () => {
      expect(() => resolveCniConfig(cni)).to.throw(InvalidSpecError).with.property('message').that.matches(msg);
    });
  }

  it('accepts prefixed label keys, DNS-1123 names and the defaults', () => {
    const cfg = resolveCniConfig({ excludeNamespaces: ['istio-system', 'team-a'], repair: { brokenPodLabelKey: 'example.com/broken', initContainerName: 'istio-validation' } });
    expect(cfg.excludeNamespaces).to.deep.equal(['istio-system', 'team-a']);
    expect(cfg.repair.brokenPodLabelKey).to.equal('example.com/broken');
    expect(resolveCniConfig({}).repair.brokenPodLabelKey).to.equal('cni.istio.io/uninitialized');
  });
});
