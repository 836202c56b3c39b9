import { expect } from 'chai';
import {
  base32Hex,
  derivedServiceName,
  exportsByService,
  importIPs,
  mergePorts,
  mergeService,
  timeMillis,
  type ExportedService,
} from '../../src/mcs/index.js';
import { cluster, exporter, service, svcExport, T } from './fixtures.js';

const exported = (clusterId: string, ports: ExportedService['ports']): ExportedService => ({
  clusterId,
  type: 'ClusterSetIP',
  ports,
  sessionAffinity: 'None',
  sessionAffinityTimeoutSeconds: undefined,
  internalTrafficPolicy: undefined,
  trafficDistribution: undefined,
  ipFamilies: ['IPv4'],
  exportedLabels: {},
  exportedAnnotations: {},
});

describe('mcs names', () => {
  it('base32hex matches the RFC 4648 test vectors, lower case and unpadded', () => {
    const enc = (s: string) => base32Hex(new TextEncoder().encode(s));
    expect(['f', 'fo', 'foo', 'foob', 'fooba', 'foobar'].map(enc)).to.deep.equal(['co', 'cpng', 'cpnmu', 'cpnmuog', 'cpnmuoj1', 'cpnmuoj1e8']);
  });

  it('the derived Service name is the one the mcs-api reference controller computes', () => {
    // Computed with mcs-api controllers/common.go derivedName for default/nginx (Go, crypto/sha256 + base32.HexEncoding).
    expect(derivedServiceName({ namespace: 'default', name: 'nginx' })).to.equal('derived-iuq6ea9f4j');
  });
});

describe('mcs exports', () => {
  it('groups exports by namespace/name, oldest first, then by cluster id', () => {
    const groups = exportsByService(
      [
        exporter('c2', 'web', { exp: { created: T[0] } }),
        exporter('c1', 'web', { exp: { created: T[1] } }),
        exporter('c0', 'web', { exp: { created: T[0] } }),
        exporter('c0', 'api'),
      ].map((s) => ({ clusterId: s.clusterId, state: s })),
    );
    expect(groups.map((g) => `${g.key.namespace}/${g.key.name}:${g.exports.map((e) => e.clusterId).join(',')}`)).to.deep.equal(['app/api:c0', 'app/web:c0,c2,c1']);
    expect(groups[1]?.exports[0]?.service?.metadata?.name).to.equal('web');
  });

  it('an export being deleted no longer exports, and one listed at two versions counts once', () => {
    const deleting = { ...svcExport('web'), metadata: { ...svcExport('web').metadata, deletionTimestamp: T[1] as unknown as Date } };
    const beta = { ...svcExport('api'), apiVersion: 'multicluster.x-k8s.io/v1beta1' as const };
    const groups = exportsByService([{ clusterId: 'c0', state: cluster('c0', { exports: [deleting, svcExport('api'), beta], services: [service('web'), service('api')] }) }]);
    expect(groups.map((g) => [g.key.name, g.exports.length])).to.deep.equal([['api', 1]]);
  });

  it('a missing or unreadable creationTimestamp sorts last', () => {
    expect(timeMillis(undefined)).to.equal(Number.POSITIVE_INFINITY);
    expect(timeMillis('not a time')).to.equal(Number.POSITIVE_INFINITY);
    expect(timeMillis(new Date(T[0]))).to.equal(Date.parse(T[0]));
  });
});

describe('mcs port merge', () => {
  const cases: { name: string; services: ExportedService[]; ports: string[]; clashes: string[] }[] = [
    {
      name: 'identical ports merge into one',
      services: [exported('c0', [{ name: 'http', protocol: 'TCP', port: 80 }]), exported('c1', [{ name: 'http', protocol: 'TCP', port: 80 }])],
      ports: ['http TCP/80'],
      clashes: [],
    },
    {
      name: 'the same number over another protocol is another port',
      services: [exported('c0', [{ name: 'dns', protocol: 'UDP', port: 53 }]), exported('c1', [{ name: 'dns-tcp', protocol: 'TCP', port: 53 }])],
      ports: ['dns UDP/53', 'dns-tcp TCP/53'],
      clashes: [],
    },
    {
      name: 'two unnamed ports with different numbers clash, as duplicated empty names',
      services: [exported('c0', [{ protocol: 'TCP', port: 80 }]), exported('c1', [{ protocol: 'TCP', port: 8080 }])],
      ports: [' TCP/80'],
      clashes: ['c1'],
    },
    {
      name: 'a different appProtocol on the same port clashes and the oldest appProtocol is kept',
      services: [exported('c0', [{ name: 'http', protocol: 'TCP', port: 80, appProtocol: 'http' }]), exported('c1', [{ name: 'http', protocol: 'TCP', port: 80, appProtocol: 'kubernetes.io/h2c' }])],
      ports: ['http TCP/80 http'],
      clashes: ['c1'],
    },
    {
      name: 'an unnamed port next to named ones is named after its protocol and number',
      services: [exported('c0', [{ protocol: 'UDP', port: 53 }]), exported('c1', [{ name: 'metrics', protocol: 'TCP', port: 9090 }])],
      ports: ['metrics TCP/9090', 'udp-53 UDP/53'],
      clashes: [],
    },
    {
      name: 'the name given to the unnamed port steps aside from a name the union already has',
      services: [exported('c0', [{ protocol: 'TCP', port: 80 }]), exported('c1', [{ name: 'tcp-80', protocol: 'TCP', port: 8080 }])],
      ports: ['tcp-80 TCP/8080', 'tcp-80-2 TCP/80'],
      clashes: [],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const merged = mergePorts(c.services);
      expect(merged.ports.map((p) => `${p.name ?? ''} ${p.protocol}/${p.port}${p.appProtocol ? ` ${p.appProtocol}` : ''}`)).to.deep.equal(c.ports);
      expect(merged.clashes.map((x) => x.loser)).to.deep.equal(c.clashes);
    });
  }

  it('a conflict lists the clusters that differ from the oldest export, and only those', () => {
    const [group] = exportsByService(
      [
        exporter('c0', 'web', { svc: { ports: [{ name: 'http', port: 80 }] } }),
        exporter('c1', 'web', { exp: { created: T[1] }, svc: { ports: [{ name: 'http', port: 80 }] } }),
        exporter('c2', 'web', { exp: { created: T[1] }, svc: { ports: [] } }),
      ].map((s) => ({ clusterId: s.clusterId, state: s })),
    );
    const merged = mergeService(group!);
    expect(merged.conflicts.map((c) => ({ reason: c.reason, clusters: c.clusters, winner: c.winner }))).to.deep.equal([{ reason: 'PortConflict', clusters: ['c2'], winner: 'c0' }]);
    expect(merged.conflictMessage).to.contain('1/3 clusters differ').and.contain('"c2" lacks "http" TCP/80');
  });

  it('a conflict lists the clusters that disagree and the one that won', () => {
    const [group] = exportsByService(
      [exporter('c0', 'web', { svc: { ports: [{ name: 'http', port: 80 }] } }), exporter('c1', 'web', { exp: { created: T[1] }, svc: { ports: [{ name: 'http', port: 81 }] } })].map((s) => ({
        clusterId: s.clusterId,
        state: s,
      })),
    );
    const merged = mergeService(group!);
    expect(merged.conflicts.map((c) => ({ reason: c.reason, clusters: c.clusters, winner: c.winner }))).to.deep.equal([{ reason: 'PortConflict', clusters: ['c1'], winner: 'c0' }]);
  });
});

describe('mcs clusterset IPs', () => {
  const cases: { name: string; spec: Record<string, unknown> | undefined; ips: string[] }[] = [
    { name: 'one IP per family, primary first', spec: { clusterIP: '10.0.0.1', clusterIPs: ['10.0.0.1', 'fd00::1'] }, ips: ['10.0.0.1', 'fd00::1'] },
    { name: 'clusterIP alone when clusterIPs is not set', spec: { clusterIP: '10.0.0.1' }, ips: ['10.0.0.1'] },
    { name: 'nothing while no IP is allocated', spec: {}, ips: [] },
    { name: 'nothing for a headless Service', spec: { clusterIP: 'None', clusterIPs: ['None'] }, ips: [] },
    { name: 'nothing without a Service', spec: undefined, ips: [] },
  ];
  for (const c of cases) {
    it(c.name, () => expect(importIPs(c.spec === undefined ? undefined : { spec: c.spec })).to.deep.equal(c.ips));
  }
});
