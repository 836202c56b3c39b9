import { expect } from 'chai';
import type { V1EndpointSlice } from '@kubernetes/client-node';
import { desiredEndpointSlices, derivedServiceName, type SliceTarget } from '../../src/mcs/index.js';
import { NS, shuffled, slice, type EndpointOpts } from './fixtures.js';

const key = { namespace: NS, name: 'web' };
const clusterSetIP: SliceTarget = { key, type: 'ClusterSetIP', ipFamilies: ['IPv4'] };
const headless: SliceTarget = { key, type: 'Headless', ipFamilies: [] };
const ips = (slices: V1EndpointSlice[]) => slices.flatMap((s) => s.endpoints.map((e) => e.addresses[0]));
const many = (n: number, prefix = '10.0'): EndpointOpts[] => Array.from({ length: n }, (_, i) => ({ ip: `${prefix}.${Math.floor(i / 250)}.${(i % 250) + 1}` }));

interface Case {
  name: string;
  target: SliceTarget;
  source?: string;
  slices: V1EndpointSlice[];
  check: (out: V1EndpointSlice[]) => void;
}

const cases: Case[] = [
  {
    name: 'only ready endpoints are mirrored, and a nil ready condition counts as ready',
    target: clusterSetIP,
    slices: [slice('web', 's1', [{ ip: '10.0.0.1' }, { ip: '10.0.0.2', ready: false }, { ip: '10.0.0.3', ready: null }])],
    check: (out) => expect(ips(out)).to.deep.equal(['10.0.0.1', '10.0.0.3']),
  },
  {
    name: 'hostnames are kept for a headless import',
    target: headless,
    slices: [slice('web', 's1', [{ ip: '10.0.0.1', hostname: 'web-0' }])],
    check: (out) => {
      expect(out[0]?.endpoints[0]?.hostname).to.equal('web-0');
      expect(out[0]?.metadata?.labels?.['kubernetes.io/service-name']).to.equal(undefined);
    },
  },
  {
    name: 'a ClusterSetIP slice names the derived Service for kube-proxy and drops hostnames',
    target: clusterSetIP,
    slices: [slice('web', 's1', [{ ip: '10.0.0.1', hostname: 'web-0' }])],
    check: (out) => {
      expect(out[0]?.endpoints[0]?.hostname).to.equal(undefined);
      expect(out[0]?.metadata?.labels?.['kubernetes.io/service-name']).to.equal(derivedServiceName(key));
    },
  },
  {
    name: "another cluster's node names and pod references are dropped, the zone is kept",
    target: clusterSetIP,
    source: 'c1',
    slices: [slice('web', 's1', [{ ip: '10.0.0.1', nodeName: 'n1', zone: 'z1' }])],
    check: (out) => expect(out[0]?.endpoints[0]).to.deep.equal({ addresses: ['10.0.0.1'], conditions: { ready: true, serving: true, terminating: false }, zone: 'z1' }),
  },
  {
    name: "the local cluster's own endpoints keep their node names",
    target: clusterSetIP,
    source: 'c0',
    slices: [slice('web', 's1', [{ ip: '10.0.0.1', nodeName: 'n1' }])],
    check: (out) => expect(out[0]?.endpoints[0]?.nodeName).to.equal('n1'),
  },
  {
    name: 'more than 100 endpoints are split into slices of at most 100',
    target: clusterSetIP,
    slices: [slice('web', 's1', many(150)), slice('web', 's2', many(100, '10.1'))],
    check: (out) => {
      expect(out.map((s) => s.endpoints.length)).to.deep.equal([100, 100, 50]);
      expect(new Set(out.map((s) => s.metadata?.name)).size).to.equal(3);
      expect(new Set(ips(out)).size).to.equal(250);
    },
  },
  {
    name: 'IPv4 and IPv6 endpoints go to separate slices; FQDN slices and families the import lacks are not mirrored',
    target: { key, type: 'Headless', ipFamilies: ['IPv4', 'IPv6'] },
    slices: [
      slice('web', 's4', [{ ip: '10.0.0.1' }]),
      slice('web', 's6', [{ ip: 'fd00::1' }], { addressType: 'IPv6' }),
      slice('web', 'sf', [{ ip: 'example.com' }], { addressType: 'FQDN' }),
    ],
    check: (out) => expect(out.map((s) => s.addressType)).to.deep.equal(['IPv4', 'IPv6']),
  },
  {
    name: 'an IPv4-only import mirrors no IPv6 slice',
    target: clusterSetIP,
    slices: [slice('web', 's4', [{ ip: '10.0.0.1' }]), slice('web', 's6', [{ ip: 'fd00::1' }], { addressType: 'IPv6' })],
    check: (out) => expect(out.map((s) => s.addressType)).to.deep.equal(['IPv4']),
  },
  {
    name: 'endpoints with different port sets go to different slices',
    target: clusterSetIP,
    slices: [slice('web', 's1', [{ ip: '10.0.0.1' }]), slice('web', 's2', [{ ip: '10.0.0.2' }], { ports: [{ name: 'http', port: 9090, protocol: 'TCP' }] })],
    check: (out) => expect(out.map((s) => s.ports?.[0]?.port)).to.deep.equal([8080, 9090]),
  },
  {
    name: 'an endpoint listed in two source slices is mirrored once',
    target: clusterSetIP,
    slices: [slice('web', 's1', [{ ip: '10.0.0.1' }]), slice('web', 's2', [{ ip: '10.0.0.1' }])],
    check: (out) => expect(ips(out)).to.deep.equal(['10.0.0.1']),
  },
  {
    name: 'a source with no ready endpoint gives no slice',
    target: clusterSetIP,
    slices: [slice('web', 's1', [{ ip: '10.0.0.1', ready: false }])],
    check: (out) => expect(out).to.deep.equal([]),
  },
  {
    name: 'names are <service>-<cluster>-<hash>, at most 63 characters even for long names',
    target: { ...clusterSetIP, key: { namespace: NS, name: 'a-very-long-service-name-that-fills-most-of-a-dns-label-xxxxxx' } },
    source: 'a-long-cluster-name-as-well',
    slices: [slice('a-very-long-service-name-that-fills-most-of-a-dns-label-xxxxxx', 's1', many(120))],
    check: (out) => {
      for (const s of out) expect(s.metadata?.name).to.match(/^a-very-long-service-name-[a-z0-9-]*-[0-9a-v]{10}$/).and.have.length.at.most(63);
      expect(out[0]?.metadata?.name).to.not.equal(out[1]?.metadata?.name);
    },
  },
];

describe('mcs endpoint slices', () => {
  for (const c of cases) {
    it(c.name, () => c.check(desiredEndpointSlices(c.target, c.source ?? 'c1', c.slices, 'c0')));
  }

  it('splitting is stable: the same endpoints in any order give the same slices', () => {
    const sources = [slice('web', 's1', many(130)), slice('web', 's2', many(90, '10.1'))];
    const reference = desiredEndpointSlices(clusterSetIP, 'c1', sources, 'c0');
    for (let seed = 1; seed <= 10; seed++) {
      const mixed = shuffled(sources, seed).map((s) => ({ ...s, endpoints: shuffled(s.endpoints, seed * 7) }));
      expect(desiredEndpointSlices(clusterSetIP, 'c1', mixed, 'c0')).to.deep.equal(reference);
    }
  });

  it('every slice carries the source cluster, service name and managed-by labels', () => {
    const out = desiredEndpointSlices(headless, 'c1', [slice('web', 's1', [{ ip: '10.0.0.1' }])], 'c0');
    expect(out[0]?.metadata?.labels).to.deep.equal({
      'app.kubernetes.io/managed-by': 'mizzen',
      'endpointslice.kubernetes.io/managed-by': 'mcs-controller.mizzen.io',
      'mizzen.io/mcs-object': 'endpoint-slice',
      'multicluster.kubernetes.io/service-name': 'web',
      'multicluster.kubernetes.io/source-cluster': 'c1',
    });
  });
});
