import { expect } from 'chai';
import {
  derivedServiceName,
  LABEL_ENDPOINTSLICE_MANAGED_BY,
  LABEL_KUBERNETES_SERVICE_NAME,
  LABEL_SERVICE_NAME,
  LABEL_SOURCE_CLUSTER,
  plan,
  type ClusterSnapshot,
  type LocalLiveState,
  type McsPlan,
} from '../../src/mcs/index.js';
import type { Condition } from '../../src/util/conditions.js';
import { applied, cluster, exporter, noLive, NOW, NS, service, shuffled, slice, stateOf, svcExport, T } from './fixtures.js';

const importOf = (p: McsPlan, name = 'web') => p.serviceImports.find((i) => i.metadata.name === name);
const statusOf = (p: McsPlan, name = 'web') => p.exportStatuses.find((s) => s.name === name)?.status.conditions ?? [];
const cond = (conds: readonly Condition[], type: string) => conds.find((c) => c.type === type);
const sliceSources = (p: McsPlan) => [...new Set(p.endpointSlices.map((s) => s.metadata?.labels?.[LABEL_SOURCE_CLUSTER]))].sort();
const deletedKinds = (p: McsPlan, kind: string) => p.deletions.filter((d) => d.kind === kind).map((d) => d.name);

interface Case {
  name: string;
  /** Plans for each of these local clusters (default c0) over the same snapshots. */
  locals?: string[];
  snapshots: ClusterSnapshot[];
  live?: LocalLiveState;
  check: (p: McsPlan, local: string) => void;
}

const cases: Case[] = [
  {
    name: 'an export on one cluster gives an import in every cluster where the namespace exists, and none where it does not',
    locals: ['c0', 'c1', 'c2'],
    snapshots: [exporter('c0', 'web'), cluster('c1'), cluster('c2', { namespaces: ['default'] })],
    check: (p, local) => {
      if (local === 'c2') {
        expect(p.serviceImports).to.deep.equal([]);
        expect(p.endpointSlices).to.deep.equal([]);
        return;
      }
      const imp = importOf(p);
      expect(imp?.metadata.namespace).to.equal(NS);
      expect(imp?.spec?.type).to.equal('ClusterSetIP');
      expect(imp?.spec?.ports).to.deep.equal([{ name: 'http', protocol: 'TCP', port: 80 }]);
      expect(imp?.status?.clusters).to.deep.equal([{ cluster: 'c0' }]);
      expect(sliceSources(p)).to.deep.equal(['c0']);
    },
  },
  {
    name: 'a headless Service is imported as Headless, with no derived Service and no IPs',
    locals: ['c0', 'c1'],
    snapshots: [exporter('c0', 'db', { svc: { headless: true } }), cluster('c1')],
    check: (p) => {
      const imp = importOf(p, 'db');
      expect(imp?.spec?.type).to.equal('Headless');
      expect(imp?.spec?.ips).to.equal(undefined);
      expect(imp?.metadata.annotations).to.deep.equal({});
      expect(p.derivedServices).to.deep.equal([]);
      expect(p.importStatuses[0]?.status.conditions[0]).to.include({ type: 'Ready', status: 'True' });
    },
  },
  {
    name: 'a ClusterSetIP import gets a derived ClusterIP Service without selector and is pending until it has IPs',
    snapshots: [exporter('c0', 'web', { svc: { ipFamilies: ['IPv4', 'IPv6'] } })],
    check: (p) => {
      const svc = p.derivedServices[0];
      expect(svc?.metadata?.name).to.equal(derivedServiceName({ namespace: NS, name: 'web' }));
      expect(svc?.spec).to.deep.include({ type: 'ClusterIP', ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'PreferDualStack' });
      expect(svc?.spec?.selector).to.equal(undefined);
      expect(importOf(p)?.spec?.ips).to.equal(undefined);
      expect(importOf(p)?.metadata.annotations).to.deep.equal({ 'multicluster.kubernetes.io/derived-service': svc?.metadata?.name });
      expect(p.importStatuses[0]?.status.conditions[0]).to.include({ type: 'Ready', status: 'False', reason: 'Pending' });
      expect(cond(statusOf(p), 'Ready')).to.include({ status: 'False', reason: 'Pending' });
    },
  },
  {
    name: 'once the derived Service has cluster IPs the import has one IP per family and the export is Ready',
    snapshots: [exporter('c0', 'web', { svc: { ipFamilies: ['IPv4', 'IPv6'] } })],
    live: applied(plan('c0', [exporter('c0', 'web', { svc: { ipFamilies: ['IPv4', 'IPv6'] } })], noLive, NOW)),
    check: (p) => {
      expect(importOf(p)?.spec?.ips).to.deep.equal(['10.100.0.1', 'fd00::1']);
      expect(p.importStatuses[0]?.status.conditions[0]).to.include({ type: 'Ready', status: 'True', reason: 'Ready' });
      // The derived Service is created before its import (whose IPs it gives), so it has no owner reference.
      expect(p.derivedServices[0]?.metadata?.ownerReferences).to.equal(undefined);
      expect(p.endpointSlices[0]?.metadata?.ownerReferences?.[0]).to.include({ kind: 'ServiceImport', name: 'web', uid: 'uid-import-web' });
    },
  },
  {
    name: 'an ExternalName Service makes the export Valid=False InvalidServiceType and no import',
    locals: ['c0', 'c1'],
    snapshots: [exporter('c0', 'ext', { svc: { type: 'ExternalName' } }), cluster('c1')],
    check: (p, local) => {
      expect(p.serviceImports).to.deep.equal([]);
      expect(p.endpointSlices).to.deep.equal([]);
      if (local !== 'c0') return;
      const conds = statusOf(p, 'ext');
      expect(cond(conds, 'Valid')).to.include({ status: 'False', reason: 'InvalidServiceType' });
      expect(cond(conds, 'Ready')).to.include({ status: 'False', reason: 'Failed' });
      expect(cond(conds, 'Conflict')).to.equal(undefined);
    },
  },
  {
    name: 'an export without a Service is Valid=False NoService',
    snapshots: [cluster('c0', { exports: [svcExport('ghost')] })],
    check: (p) => {
      expect(cond(statusOf(p, 'ghost'), 'Valid')).to.include({ status: 'False', reason: 'NoService' });
      expect(p.serviceImports).to.deep.equal([]);
    },
  },
  {
    name: 'an invalid export takes no part: the valid export on the other cluster is imported alone',
    locals: ['c0', 'c1'],
    snapshots: [cluster('c0', { exports: [svcExport('web', { created: T[0] })] }), exporter('c1', 'web', { exp: { created: T[1] } })],
    check: (p, local) => {
      expect(importOf(p)?.status?.clusters).to.deep.equal([{ cluster: 'c1' }]);
      expect(sliceSources(p)).to.deep.equal(['c1']);
      if (local === 'c1') expect(cond(statusOf(p), 'Conflict')).to.include({ status: 'False', reason: 'NoConflicts' });
    },
  },
  {
    name: 'ports are the union across clusters by name then (protocol, port); a port one cluster lacks is a PortConflict on every export, naming that cluster',
    locals: ['c0', 'c1'],
    snapshots: [
      exporter('c0', 'web', { svc: { ports: [{ name: 'http', port: 80 }] } }),
      exporter('c1', 'web', { exp: { created: T[1] }, svc: { ports: [{ name: 'http', port: 80 }, { name: 'grpc', port: 9090 }] } }),
    ],
    check: (p) => {
      expect(importOf(p)?.spec?.ports).to.deep.equal([
        { name: 'grpc', protocol: 'TCP', port: 9090 },
        { name: 'http', protocol: 'TCP', port: 80 },
      ]);
      expect(p.derivedServices[0]?.spec?.ports?.map((x) => x.name)).to.deep.equal(['grpc', 'http']);
      const conflict = cond(statusOf(p), 'Conflict');
      expect(conflict).to.include({ status: 'True', reason: 'PortConflict' });
      expect(conflict?.message).to.equal(
        'Conflicting ports: 1/2 clusters differ from the oldest export, in cluster "c0" ("c1" has "grpc" TCP/9090); the ServiceImport has the union of the ports.',
      );
    },
  },
  {
    name: 'disjoint extra ports on both sides (tcp/42 + udp/42 against tcp/42 + sctp/142) are a PortConflict, and the import has all three',
    locals: ['c0', 'c1'],
    snapshots: [
      exporter('c0', 'web', { svc: { ports: [{ name: 'tcp', port: 42 }, { name: 'udp', port: 42, protocol: 'UDP' }] } }),
      exporter('c1', 'web', { exp: { created: T[1] }, svc: { ports: [{ name: 'tcp', port: 42 }, { name: 'sctp', port: 142, protocol: 'SCTP' }] } }),
    ],
    check: (p) => {
      expect(importOf(p)?.spec?.ports).to.deep.equal([
        { name: 'sctp', protocol: 'SCTP', port: 142 },
        { name: 'tcp', protocol: 'TCP', port: 42 },
        { name: 'udp', protocol: 'UDP', port: 42 },
      ]);
      const conflict = cond(statusOf(p), 'Conflict');
      expect(conflict).to.include({ status: 'True', reason: 'PortConflict' });
      expect(conflict?.message).to.contain('("c1" has "sctp" SCTP/142, lacks "udp" UDP/42)');
    },
  },
  {
    name: 'the same ports in another order are no conflict',
    snapshots: [
      exporter('c0', 'web', { svc: { ports: [{ name: 'http', port: 80 }, { name: 'grpc', port: 9090 }] } }),
      exporter('c1', 'web', { exp: { created: T[1] }, svc: { ports: [{ name: 'grpc', port: 9090 }, { name: 'http', port: 80 }] } }),
    ],
    check: (p) => expect(cond(statusOf(p), 'Conflict')).to.include({ status: 'False', reason: 'NoConflicts' }),
  },
  {
    name: 'an unnamed port in one cluster and a named one in another: a PortConflict on every export, and the union names the unnamed port so the derived Service stays valid',
    locals: ['c0', 'c1'],
    snapshots: [
      exporter('c0', 'web', {
        svc: { ports: [{ port: 80 }] },
        extra: { slices: [slice('web', 'web-abcde', [{ ip: '10.2.0.1' }], { ports: [{ name: '', port: 8080, protocol: 'TCP' }] })] },
      }),
      exporter('c1', 'web', {
        exp: { created: T[1] },
        svc: { ports: [{ name: 'metrics', port: 9090 }] },
        extra: { slices: [slice('web', 'web-fghij', [{ ip: '10.3.0.1' }], { ports: [{ name: 'metrics', port: 9090, protocol: 'TCP' }] })] },
      }),
    ],
    check: (p) => {
      const want = [
        { name: 'metrics', protocol: 'TCP', port: 9090 },
        { name: 'tcp-80', protocol: 'TCP', port: 80 },
      ];
      expect(importOf(p)?.spec?.ports).to.deep.equal(want);
      expect(importOf(p)?.metadata.annotations?.['mizzen.io/unnamed-port-name']).to.equal('tcp-80');
      expect(p.derivedServices[0]?.spec?.ports).to.deep.equal(want);
      const slicePorts: Record<string, unknown> = Object.fromEntries(p.endpointSlices.map((x) => [x.metadata?.labels?.[LABEL_SOURCE_CLUSTER] ?? '', x.ports]));
      expect(slicePorts).to.deep.equal({ c0: [{ name: 'tcp-80', protocol: 'TCP', port: 8080 }], c1: [{ name: 'metrics', protocol: 'TCP', port: 9090 }] });
      const conflict = cond(statusOf(p), 'Conflict');
      expect(conflict).to.include({ status: 'True', reason: 'PortConflict' });
      expect(conflict?.message).to.contain('"c1" has "metrics" TCP/9090, lacks unnamed TCP/80').and.contain('The unnamed port is named "tcp-80"');
      expect(cond(statusOf(p), 'Valid')).to.include({ status: 'True' });
    },
  },
  {
    name: 'a lone unnamed port stays unnamed',
    snapshots: [exporter('c0', 'web', { svc: { ports: [{ port: 80 }] } }), exporter('c1', 'web', { exp: { created: T[1] }, svc: { ports: [{ port: 80 }] } })],
    check: (p) => {
      expect(importOf(p)?.spec?.ports).to.deep.equal([{ protocol: 'TCP', port: 80 }]);
      expect(importOf(p)?.metadata.annotations?.['mizzen.io/unnamed-port-name']).to.equal(undefined);
      expect(cond(statusOf(p), 'Conflict')).to.include({ status: 'False' });
    },
  },
  {
    name: 'a port with the same name but another number is a PortConflict on both exports, and the oldest definition wins',
    locals: ['c0', 'c1'],
    snapshots: [
      exporter('c0', 'web', { exp: { created: T[1] }, svc: { ports: [{ name: 'http', port: 8080 }] } }),
      exporter('c1', 'web', { exp: { created: T[0] }, svc: { ports: [{ name: 'http', port: 80 }] } }),
    ],
    check: (p) => {
      expect(importOf(p)?.spec?.ports).to.deep.equal([{ name: 'http', protocol: 'TCP', port: 80 }]);
      const conflict = cond(statusOf(p), 'Conflict');
      expect(conflict).to.include({ status: 'True', reason: 'PortConflict' });
      expect(conflict?.message).to.contain('"c0"').and.contain('"c1"');
    },
  },
  {
    name: 'the same (protocol, port) under another name is a PortConflict',
    snapshots: [
      exporter('c0', 'web', { svc: { ports: [{ name: 'http', port: 80 }] } }),
      exporter('c1', 'web', { exp: { created: T[1] }, svc: { ports: [{ name: 'web', port: 80 }] } }),
    ],
    check: (p) => {
      expect(importOf(p)?.spec?.ports).to.deep.equal([{ name: 'http', protocol: 'TCP', port: 80 }]);
      expect(cond(statusOf(p), 'Conflict')).to.include({ status: 'True', reason: 'PortConflict' });
    },
  },
  {
    name: 'equal creationTimestamps are broken by cluster name: the lower cluster id wins',
    snapshots: [
      exporter('c1', 'web', { exp: { created: T[0] }, svc: { headless: true } }),
      exporter('c0', 'web', { exp: { created: T[0] } }),
    ],
    check: (p) => {
      expect(importOf(p)?.spec?.type).to.equal('ClusterSetIP');
      expect(cond(statusOf(p), 'Conflict')?.message).to.contain('using ClusterSetIP from the oldest export, in cluster "c0"');
    },
  },
  {
    name: 'a Headless export next to an older ClusterSetIP one is a TypeConflict and the oldest decides the type',
    locals: ['c0', 'c1'],
    snapshots: [exporter('c0', 'web', { exp: { created: T[0] } }), exporter('c1', 'web', { exp: { created: T[1] }, svc: { headless: true } })],
    check: (p) => {
      expect(importOf(p)?.spec?.type).to.equal('ClusterSetIP');
      expect(cond(statusOf(p), 'Conflict')).to.include({ status: 'True', reason: 'TypeConflict' });
      expect(p.endpointSlices.every((s) => s.metadata?.labels?.[LABEL_KUBERNETES_SERVICE_NAME] === derivedServiceName({ namespace: NS, name: 'web' }))).to.equal(true);
    },
  },
  {
    name: 'different session affinity is a SessionAffinityConflict, and several conflicts join their reasons with commas',
    snapshots: [
      exporter('c0', 'web', { svc: { sessionAffinity: 'ClientIP', timeoutSeconds: 600, ports: [{ name: 'http', port: 80 }] } }),
      exporter('c1', 'web', { exp: { created: T[1] }, svc: { headless: true, ports: [{ name: 'http', port: 81 }] } }),
    ],
    check: (p) => {
      const imp = importOf(p);
      expect(imp?.spec).to.deep.include({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } } });
      expect(p.derivedServices[0]?.spec).to.deep.include({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } } });
      expect(cond(statusOf(p), 'Conflict')?.reason).to.equal('PortConflict,TypeConflict,SessionAffinityConflict,SessionAffinityConfigConflict');
    },
  },
  {
    name: 'internalTrafficPolicy and trafficDistribution come from the oldest export, a difference is a conflict',
    snapshots: [
      exporter('c0', 'web', { svc: { internalTrafficPolicy: 'Local', trafficDistribution: 'PreferClose' } }),
      exporter('c1', 'web', { exp: { created: T[1] } }),
    ],
    check: (p) => {
      expect(importOf(p)?.spec).to.deep.include({ internalTrafficPolicy: 'Local', trafficDistribution: 'PreferClose' });
      expect(cond(statusOf(p), 'Conflict')?.reason).to.equal('InternalTrafficPolicyConflict,TrafficDistributionConflict');
    },
  },
  {
    name: 'ipFamilies are the intersection of the exports, and an export sharing no family is an IPFamilyConflict',
    snapshots: [
      exporter('c0', 'web', { svc: { ipFamilies: ['IPv6', 'IPv4'] } }),
      exporter('c1', 'web', { exp: { created: T[1] }, svc: { ipFamilies: ['IPv4'] } }),
      exporter('c2', 'web', { exp: { created: T[2] }, svc: { ipFamilies: ['IPv6'] } }),
    ],
    check: (p) => {
      expect(importOf(p)?.spec?.ipFamilies).to.deep.equal(['IPv4']);
      expect(cond(statusOf(p), 'Conflict')).to.include({ status: 'True', reason: 'IPFamilyConflict' });
      expect(cond(statusOf(p), 'Conflict')?.message).to.contain('"c2" has IPv6');
    },
  },
  {
    name: "only the oldest export's exportedLabels and exportedAnnotations reach the import, and a difference is LabelsConflict,AnnotationsConflict",
    snapshots: [
      exporter('c0', 'web', { exp: { created: T[1], labels: { tier: 'new' }, annotations: { note: 'new' } } }),
      exporter('c1', 'web', { exp: { created: T[0], labels: { tier: 'old' }, annotations: { note: 'old' } }, svc: { labels: { secret: 'no' } } }),
    ],
    check: (p) => {
      const imp = importOf(p);
      expect(imp?.metadata.labels).to.deep.equal({
        'app.kubernetes.io/managed-by': 'mizzen',
        'mizzen.io/mcs-object': 'service-import',
        'multicluster.kubernetes.io/service-name': 'web',
        tier: 'old',
      });
      expect(imp?.metadata.annotations).to.deep.include({ note: 'old' });
      expect(cond(statusOf(p), 'Conflict')?.reason).to.equal('LabelsConflict,AnnotationsConflict');
    },
  },
  {
    name: 'with three exporters Conflict=True is on every export of the service, also one that agrees with the winner',
    locals: ['c0', 'c1', 'c2'],
    snapshots: [
      exporter('c0', 'web', { exp: { created: T[0] } }),
      exporter('c1', 'web', { exp: { created: T[1] } }),
      exporter('c2', 'web', { exp: { created: T[2] }, svc: { sessionAffinity: 'ClientIP', timeoutSeconds: 60 } }),
    ],
    check: (p) => {
      const conflict = cond(statusOf(p), 'Conflict');
      expect(conflict).to.include({ status: 'True', reason: 'SessionAffinityConflict,SessionAffinityConfigConflict' });
      expect(conflict?.message).to.contain('1/3 clusters disagree ("c2" has ClientIP)');
    },
  },
  {
    name: 'slices mirror each exporter, one set per source cluster, with the three labels, in every member',
    locals: ['c0', 'c1', 'c2'],
    snapshots: [
      exporter('c0', 'web', { endpoints: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2', ready: false }] }),
      exporter('c1', 'web', { exp: { created: T[1] }, endpoints: [{ ip: '10.1.0.1' }] }),
      cluster('c2'),
    ],
    check: (p) => {
      expect(sliceSources(p)).to.deep.equal(['c0', 'c1']);
      for (const s of p.endpointSlices) {
        expect(s.metadata?.labels).to.include({
          [LABEL_SERVICE_NAME]: 'web',
          [LABEL_ENDPOINTSLICE_MANAGED_BY]: 'mcs-controller.mizzen.io',
          [LABEL_KUBERNETES_SERVICE_NAME]: derivedServiceName({ namespace: NS, name: 'web' }),
        });
      }
      const c0 = p.endpointSlices.find((s) => s.metadata?.labels?.[LABEL_SOURCE_CLUSTER] === 'c0');
      expect(c0?.endpoints.map((e) => e.addresses[0])).to.deep.equal(['10.0.0.1']);
    },
  },
  {
    name: 'a slice that is itself imported is never exported again',
    locals: ['c1'],
    snapshots: [
      exporter('c0', 'web'),
      cluster('c1', {
        exports: [svcExport('web', { created: T[1] })],
        services: [service('web')],
        slices: [
          slice('web', 'web-own', [{ ip: '10.1.0.1' }]),
          slice('web', 'web-mirrored', [{ ip: '10.0.0.99' }], { labels: { 'kubernetes.io/service-name': 'web', [LABEL_SOURCE_CLUSTER]: 'c0' } }),
        ],
      }),
    ],
    check: (p) => {
      const fromC1 = p.endpointSlices.filter((s) => s.metadata?.labels?.[LABEL_SOURCE_CLUSTER] === 'c1');
      expect(fromC1.flatMap((s) => s.endpoints.map((e) => e.addresses[0]))).to.deep.equal(['10.1.0.1']);
    },
  },
  {
    name: 'the local ServiceExport gets Valid, Ready and Conflict with observedGeneration',
    snapshots: [exporter('c0', 'web', { exp: { generation: 7 } })],
    check: (p) => {
      const conds = statusOf(p);
      expect(conds.map((c) => c.type)).to.deep.equal(['Valid', 'Ready', 'Conflict']);
      expect(conds.every((c) => c.observedGeneration === 7 && c.lastTransitionTime === '2025-06-01T12:00:00Z')).to.equal(true);
      expect(cond(conds, 'Valid')).to.include({ status: 'True', reason: 'Valid' });
      expect(p.exportStatuses[0]).to.include({ apiVersion: 'multicluster.x-k8s.io/v1alpha1', kind: 'ServiceExport', changed: true });
    },
  },
  {
    name: 'a local cluster whose caches are not synced gets an empty plan that deletes nothing',
    snapshots: [cluster('c0', { synced: false }), exporter('c1', 'web')],
    live: applied(plan('c0', [cluster('c0'), exporter('c1', 'web')], noLive, NOW)),
    check: (p) => {
      expect(p.localReady).to.equal(false);
      expect(p.deletions).to.deep.equal([]);
      expect(p.serviceImports).to.deep.equal([]);
    },
  },
];

describe('mcs plan', () => {
  for (const c of cases) {
    for (const local of c.locals ?? ['c0']) {
      it(`${c.name} (as ${local})`, () => {
        c.check(plan(local, c.snapshots, c.live ?? noLive, NOW), local);
      });
    }
  }
});

describe('mcs plan over time', () => {
  const c0 = exporter('c0', 'web', { endpoints: [{ ip: '10.0.0.1' }] });
  const c1 = exporter('c1', 'web', { exp: { created: T[1] }, endpoints: [{ ip: '10.1.0.1' }] });
  /** The local objects after two rounds of apply: the import has its uid and its IPs. */
  const before = (local: string) => applied(plan(local, [c0, c1], applied(plan(local, [c0, c1], noLive, NOW)), NOW));

  const steps: { name: string; local: string; snapshots: ClusterSnapshot[]; check: (p: McsPlan, live: LocalLiveState) => void }[] = [
    {
      name: 'planning again over what was applied deletes nothing and keeps every slice',
      local: 'c0',
      snapshots: [c0, c1],
      check: (p, live) => {
        expect(p.deletions).to.deep.equal([]);
        expect(p.endpointSlices).to.deep.equal(live.endpointSlices);
        expect(importOf(p)?.spec?.ips).to.deep.equal(['10.100.0.1']);
      },
    },
    {
      name: 'an unreachable peer with a last known good snapshot keeps its slices and the import',
      local: 'c0',
      snapshots: [c0, { ...cluster('c1', { reachable: false }), lastKnownGood: stateOf(c1) }],
      check: (p, live) => {
        expect(p.deletions).to.deep.equal([]);
        expect(sliceSources(p)).to.deep.equal(['c0', 'c1']);
        expect(p.endpointSlices).to.deep.equal(live.endpointSlices);
        expect(importOf(p)?.status?.clusters).to.deep.equal([{ cluster: 'c0' }, { cluster: 'c1' }]);
        expect(p.clusters.find((r) => r.clusterId === 'c1')).to.include({ state: 'Stale', reason: 'Unreachable' });
      },
    },
    {
      name: 'an unreachable peer never seen before leaves its slices and the import untouched',
      local: 'c0',
      snapshots: [c0, cluster('c1', { reachable: false })],
      check: (p) => {
        expect(p.deletions).to.deep.equal([]);
        expect(p.frozen).to.deep.equal([{ namespace: NS, name: 'web' }]);
        expect(p.serviceImports).to.deep.equal([]);
        expect(p.exportStatuses).to.deep.equal([]);
        expect(p.clusters.find((r) => r.clusterId === 'c1')).to.include({ state: 'Unknown', reason: 'Unreachable' });
      },
    },
    {
      name: 'while a peer is unknown, the endpoints of reachable exporters still propagate',
      local: 'c0',
      snapshots: [exporter('c0', 'web', { endpoints: [{ ip: '10.0.0.1' }, { ip: '10.0.0.5' }] }), cluster('c1', { reachable: false })],
      check: (p, live) => {
        expect(p.deletions).to.deep.equal([]);
        expect(p.serviceImports).to.deep.equal([]);
        expect(sliceSources(p)).to.deep.equal(['c0']);
        expect(p.endpointSlices[0]?.metadata?.name).to.equal(live.endpointSlices.find((s) => s.metadata?.labels?.[LABEL_SOURCE_CLUSTER] === 'c0')?.metadata?.name);
        expect(p.endpointSlices[0]?.endpoints.map((e) => e.addresses[0])).to.deep.equal(['10.0.0.1', '10.0.0.5']);
      },
    },
    {
      name: 'while a peer is unknown, a reachable cluster that unexports loses its slices and the import stays',
      local: 'c0',
      snapshots: [cluster('c0', { services: c0.services, slices: c0.endpointSlices }), cluster('c1', { reachable: false })],
      check: (p) => {
        expect(deletedKinds(p, 'EndpointSlice')).to.have.length(1);
        expect(deletedKinds(p, 'EndpointSlice')[0]).to.match(/^web-c0-/);
        expect(deletedKinds(p, 'ServiceImport')).to.deep.equal([]);
        expect(deletedKinds(p, 'Service')).to.deep.equal([]);
      },
    },
    {
      name: 'a peer whose caches are not synced is reported NotSynced and deletes nothing',
      local: 'c1',
      snapshots: [cluster('c0', { synced: false }), c1],
      check: (p) => {
        expect(p.deletions).to.deep.equal([]);
        expect(p.clusters.find((r) => r.clusterId === 'c0')).to.include({ state: 'Unknown', reason: 'NotSynced' });
      },
    },
    {
      name: "a removed peer's slices are deleted and the import no longer lists it",
      local: 'c0',
      snapshots: [c0],
      check: (p) => {
        expect(sliceSources(p)).to.deep.equal(['c0']);
        expect(deletedKinds(p, 'EndpointSlice')).to.have.length(1);
        expect(deletedKinds(p, 'EndpointSlice')[0]).to.match(/^web-c1-/);
        expect(importOf(p)?.status?.clusters).to.deep.equal([{ cluster: 'c0' }]);
      },
    },
    {
      name: "unexporting on one cluster removes that cluster's slices and keeps the import",
      local: 'c1',
      snapshots: [cluster('c0', { services: c0.services, slices: c0.endpointSlices }), c1],
      check: (p) => {
        expect(sliceSources(p)).to.deep.equal(['c1']);
        expect(deletedKinds(p, 'EndpointSlice')[0]).to.match(/^web-c0-/);
        expect(deletedKinds(p, 'ServiceImport')).to.deep.equal([]);
      },
    },
    {
      name: 'unexporting everywhere removes the import, its derived Service and every slice',
      local: 'c0',
      snapshots: [cluster('c0', { services: c0.services }), cluster('c1', { services: c1.services })],
      check: (p) => {
        expect(deletedKinds(p, 'ServiceImport')).to.deep.equal(['web']);
        expect(deletedKinds(p, 'Service')).to.deep.equal([derivedServiceName({ namespace: NS, name: 'web' })]);
        expect(deletedKinds(p, 'EndpointSlice')).to.have.length(2);
      },
    },
  ];

  for (const s of steps) {
    it(s.name, () => {
      const live = before(s.local);
      s.check(plan(s.local, s.snapshots, live, NOW), live);
    });
  }

  it('a plan applied converges: after two rounds the next plan has nothing new to write', () => {
    const live = before('c0');
    const p3 = plan('c0', [c0, c1], live, NOW);
    expect(p3.importStatuses.map((s) => s.changed)).to.deep.equal([false]);
    expect(p3.serviceImports.map((i) => i.spec)).to.deep.equal(live.serviceImports.map((i) => i.spec));
    expect(p3.derivedServices.map((d) => d.metadata)).to.deep.equal(live.derivedServices.map((d) => d.metadata));
    expect(p3.endpointSlices).to.deep.equal(live.endpointSlices);
    expect(p3.deletions).to.deep.equal([]);
  });

  it('conditions keep their lastTransitionTime when the status does not flip', () => {
    const first = plan('c0', [c0, c1], noLive, new Date('2025-01-01T00:00:00Z'));
    const written = { ...c0, serviceExports: [{ ...c0.serviceExports[0], status: first.exportStatuses[0]?.status } as (typeof c0.serviceExports)[number]] };
    const again = plan('c0', [written, c1], before('c0'), NOW);
    const valid = cond(statusOf(again), 'Valid');
    const ready = cond(statusOf(again), 'Ready');
    expect(valid?.lastTransitionTime).to.equal('2025-01-01T00:00:00Z');
    expect(ready).to.include({ status: 'True', lastTransitionTime: '2025-06-01T12:00:00Z' });
    const third = plan('c0', [{ ...written, serviceExports: [{ ...written.serviceExports[0], status: again.exportStatuses[0]?.status } as (typeof c0.serviceExports)[number]] }, c1], before('c0'), NOW);
    expect(third.exportStatuses[0]?.changed).to.equal(false);
  });

  it('objects that mizzen does not manage are never deleted', () => {
    const live = before('c0');
    const foreign = { ...live, endpointSlices: live.endpointSlices.map((s) => ({ ...s, metadata: { ...s.metadata, labels: { [LABEL_SOURCE_CLUSTER]: 'c1' } } })) };
    expect(plan('c0', [c0], foreign, NOW).deletions.filter((d) => d.kind === 'EndpointSlice')).to.deep.equal([]);
  });
});

describe('mcs plan determinism', () => {
  const snapshots = [
    exporter('c0', 'web', { exp: { created: T[1] }, svc: { ports: [{ name: 'http', port: 80 }, { name: 'grpc', port: 9090 }] }, endpoints: [{ ip: '10.0.0.3' }, { ip: '10.0.0.1' }, { ip: '10.0.0.2' }] }),
    exporter('c1', 'web', { exp: { created: T[0] }, svc: { ports: [{ name: 'http', port: 8080 }] }, endpoints: [{ ip: '10.1.0.2' }, { ip: '10.1.0.1' }] }),
    exporter('c2', 'db', { svc: { headless: true }, endpoints: [{ ip: '10.2.0.1', hostname: 'db-0' }] }),
    cluster('c3'),
  ];
  const shuffle = (seed: number): ClusterSnapshot[] =>
    shuffled(snapshots, seed).map((s) => ({
      ...s,
      serviceExports: shuffled(s.serviceExports, seed + 1),
      services: shuffled(s.services, seed + 2),
      endpointSlices: shuffled(s.endpointSlices, seed + 3).map((sl) => ({ ...sl, endpoints: shuffled(sl.endpoints, seed + 4) })),
    }));

  it('input order shuffled gives identical output, in every member', () => {
    for (const local of ['c0', 'c1', 'c2', 'c3']) {
      const reference = JSON.stringify(plan(local, snapshots, noLive, NOW));
      for (let seed = 1; seed <= 20; seed++) {
        expect(JSON.stringify(plan(local, shuffle(seed), noLive, NOW)), `${local} seed ${seed}`).to.equal(reference);
      }
    }
  });

  it('every member computes the same ServiceImport spec', () => {
    const specs = ['c0', 'c1', 'c2', 'c3'].map((local) => JSON.stringify(plan(local, snapshots, noLive, NOW).serviceImports));
    expect(new Set(specs).size).to.equal(1);
  });
});
