import { expect } from 'chai';
import type { KubernetesObject, V1Secret, V1Service } from '@kubernetes/client-node';
import { checkClusterId, holdAtStartup, peersFromSecrets, STARTUP_GRACE_MS, STARTUP_SYNC_WAIT_MS } from '../../src/controllers/serviceexport/membership.js';
import { exportEvents, mustRecreate, rejectedStatus } from '../../src/controllers/serviceexport/status.js';
import { managedSliceKey, serviceKeys, sliceKeys, sourceSliceKey } from '../../src/controllers/serviceexport/watches.js';
import type { Condition } from '../../src/util/conditions.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function secret(name: string, data: Record<string, string>, extra: Partial<V1Secret['metadata']> = {}): V1Secret {
  return { metadata: { name, namespace: 'mizzen-system', ...extra }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) };
}

describe('serviceexport: member Secrets', () => {
  const cases: { name: string; secrets: V1Secret[]; peers: string[]; problems?: RegExp[] }[] = [
    { name: 'a Secret with an id and a kubeconfig declares a peer', secrets: [secret('a', { 'cluster-id': 'c1', kubeconfig: 'x' })], peers: ['c1'] },
    { name: 'peers come out sorted by cluster id', secrets: [secret('a', { 'cluster-id': 'c2', kubeconfig: 'x' }), secret('b', { 'cluster-id': 'c1', kubeconfig: 'y' })], peers: ['c1', 'c2'] },
    { name: 'a Secret without cluster-id is ignored with a problem', secrets: [secret('a', { kubeconfig: 'x' })], peers: [], problems: [/has no "cluster-id"/] },
    { name: 'a cluster id that is not a DNS label is ignored', secrets: [secret('a', { 'cluster-id': 'C_1', kubeconfig: 'x' })], peers: [], problems: [/not a DNS label/] },
    { name: 'a Secret naming this cluster is ignored', secrets: [secret('a', { 'cluster-id': 'c0', kubeconfig: 'x' })], peers: [], problems: [/names this cluster/] },
    {
      name: 'of two Secrets naming one cluster the first by name wins',
      secrets: [secret('z', { 'cluster-id': 'c1', kubeconfig: 'late' }), secret('a', { 'cluster-id': 'c1', kubeconfig: 'early' })],
      peers: ['c1'],
      problems: [/already declares/],
    },
    { name: 'a Secret with an id but no kubeconfig still declares the (unreadable) peer', secrets: [secret('a', { 'cluster-id': 'c1' })], peers: ['c1'] },
    { name: 'a Secret being deleted declares nothing', secrets: [secret('a', { 'cluster-id': 'c1', kubeconfig: 'x' }, { deletionTimestamp: new Date() })], peers: [] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const out = peersFromSecrets(c.secrets, 'c0');
      expect(out.peers.map((p) => p.clusterId)).to.deep.equal(c.peers);
      expect(out.problems.map((p) => p.message)).to.have.length((c.problems ?? []).length);
      (c.problems ?? []).forEach((re, i) => expect(out.problems[i]?.message).to.match(re));
    });
  }

  it('the winner of two Secrets naming one cluster is the one sorted first', () => {
    const out = peersFromSecrets([secret('z', { 'cluster-id': 'c1', kubeconfig: 'late' }), secret('a', { 'cluster-id': 'c1', kubeconfig: 'early' })], 'c0');
    expect(out.peers[0]?.kubeconfig).to.equal('early');
  });

  it('the hash changes with the kubeconfig, so a rotated credential rebuilds the peer', () => {
    const [a] = peersFromSecrets([secret('a', { 'cluster-id': 'c1', kubeconfig: 'one' })], 'c0').peers;
    const [b] = peersFromSecrets([secret('a', { 'cluster-id': 'c1', kubeconfig: 'two' })], 'c0').peers;
    expect(a?.hash).to.not.equal(b?.hash);
  });

  it('cluster ids are DNS labels', () => {
    expect(checkClusterId('c-1')).to.equal(undefined);
    expect(checkClusterId('a'.repeat(63))).to.equal(undefined);
    expect(checkClusterId('a'.repeat(64))).to.match(/not a DNS label/);
    expect(checkClusterId('-c')).to.match(/not a DNS label/);
  });
});

function obj(kind: string, name: string, labels: Record<string, string> = {}): KubernetesObject {
  return { kind, metadata: { name, namespace: 'ns', labels } };
}

describe('serviceexport: object → service key', () => {
  const ours = { 'app.kubernetes.io/managed-by': 'mizzen' };
  const cases: { name: string; keys: string[]; got: () => (string | undefined)[] }[] = [
    { name: 'a ServiceExport, a Service and a ServiceImport map to their own key', keys: ['ns/web', 'ns/web', 'ns/web'], got: () => [...serviceKeys(obj('ServiceExport', 'web')), ...serviceKeys(obj('Service', 'web')), ...serviceKeys(obj('ServiceImport', 'web'))] },
    {
      name: "a derived Service maps to its import's key",
      keys: ['ns/web'],
      got: () => serviceKeys(obj('Service', 'derived-abc', { ...ours, 'mizzen.io/mcs-object': 'derived-service', 'multicluster.kubernetes.io/service-name': 'web' })),
    },
    { name: 'a source slice maps to its Service', keys: ['ns/web'], got: () => sliceKeys(obj('EndpointSlice', 'web-x', { 'kubernetes.io/service-name': 'web' })) },
    {
      name: 'an imported slice maps to its import, not to the derived Service it feeds',
      keys: ['ns/web'],
      got: () =>
        sliceKeys(obj('EndpointSlice', 'web-c1-x', { 'kubernetes.io/service-name': 'derived-abc', 'multicluster.kubernetes.io/service-name': 'web', 'multicluster.kubernetes.io/source-cluster': 'c1' })),
    },
    { name: 'a slice of no Service maps to nothing', keys: [], got: () => sliceKeys(obj('EndpointSlice', 'x')) },
    {
      name: 'the source index takes source slices only, the managed index our imported slices only',
      keys: ['ns/web', 'ns/web'],
      got: () => [
        sourceSliceKey(obj('EndpointSlice', 'a', { 'kubernetes.io/service-name': 'web' })),
        sourceSliceKey(obj('EndpointSlice', 'b', { 'kubernetes.io/service-name': 'derived-abc', 'multicluster.kubernetes.io/source-cluster': 'c1' })),
        managedSliceKey(obj('EndpointSlice', 'b', { ...ours, 'mizzen.io/mcs-object': 'endpoint-slice', 'multicluster.kubernetes.io/service-name': 'web' })),
        managedSliceKey(obj('EndpointSlice', 'c', { 'multicluster.kubernetes.io/service-name': 'web' })),
      ].filter((k) => k !== undefined),
    },
  ];
  for (const c of cases) it(c.name, () => expect(c.got()).to.deep.equal(c.keys));
});

const cond = (type: string, status: Condition['status'], reason: string, message = `${type} ${reason}`): Condition => ({ type, status, reason, message, lastTransitionTime: '2025-01-01T00:00:00Z' });

describe('serviceexport: export events', () => {
  const valid = cond('Valid', 'True', 'Valid');
  const ready = cond('Ready', 'True', 'Ready');
  const noConflict = cond('Conflict', 'False', 'NoConflicts');
  const cases: { name: string; before: Condition[] | undefined; after: Condition[]; events: string[] }[] = [
    { name: 'becoming Ready is a Normal Exported event', before: undefined, after: [valid, ready, noConflict], events: ['Normal/Exported'] },
    { name: 'nothing new, no event', before: [valid, ready, noConflict], after: [valid, ready, noConflict], events: [] },
    { name: 'becoming invalid is a Warning with the Valid reason', before: [valid, ready], after: [cond('Valid', 'False', 'NoService'), cond('Ready', 'False', 'Failed')], events: ['Warning/NoService'] },
    { name: 'a conflict is a Warning Conflict', before: [valid, ready, noConflict], after: [valid, ready, cond('Conflict', 'True', 'PortConflict')], events: ['Warning/Conflict'] },
    {
      name: 'a conflict whose reason changes is reported again',
      before: [valid, ready, cond('Conflict', 'True', 'PortConflict')],
      after: [valid, ready, cond('Conflict', 'True', 'PortConflict,TypeConflict')],
      events: ['Warning/Conflict'],
    },
    { name: 'a conflict resolved is a Normal ConflictResolved', before: [valid, ready, cond('Conflict', 'True', 'PortConflict')], after: [valid, ready, noConflict], events: ['Normal/ConflictResolved'] },
  ];
  for (const c of cases) it(c.name, () => expect(exportEvents(c.before, c.after).map((e) => `${e.type}/${e.reason}`)).to.deep.equal(c.events));
});

describe('serviceexport: derived Service re-creation', () => {
  const svc = (families?: string[]): V1Service => ({ spec: { ...(families ? { ipFamilies: families } : {}) } });
  it('a new primary family needs a new Service', () => expect(mustRecreate(svc(['IPv4']), svc(['IPv6', 'IPv4']))).to.equal(true));
  it('adding a second family does not', () => expect(mustRecreate(svc(['IPv4']), svc(['IPv4', 'IPv6']))).to.equal(false));
  it('no live Service or no families: nothing to re-create', () => {
    expect(mustRecreate(undefined, svc(['IPv4']))).to.equal(false);
    expect(mustRecreate(svc(['IPv4']), svc())).to.equal(false);
  });
});

describe('serviceexport: a rejected derived Service', () => {
  const now = new Date('2026-06-01T00:00:00Z');
  const c = (type: string, status: Condition['status'], reason: string, message = ''): Condition => ({ type, status, reason, message, lastTransitionTime: '2026-01-01T00:00:00Z' });
  const update = <S>(kind: string, status: S) => ({ apiVersion: 'multicluster.x-k8s.io/v1alpha1', kind, namespace: 'app', name: 'web', status, changed: false });
  const error = 'Service "derived-x" is invalid: spec.ports[0].name: Required value';

  it("makes the import's Ready False DerivedServiceRejected with the server's message, and that is a change to write", () => {
    const live = [c('Ready', 'True', 'Ready'), c('ClustersSynced', 'True', 'Synced')];
    const out = rejectedStatus(update('ServiceImport', { clusters: [], conditions: live }), live, 'app/derived-x', error, now);
    expect(out.changed).to.equal(true);
    expect(out.status.conditions[0]).to.include({ type: 'Ready', status: 'False', reason: 'DerivedServiceRejected', lastTransitionTime: '2026-06-01T00:00:00Z' });
    expect(out.status.conditions[0]?.message).to.equal(`The API server rejected the derived Service app/derived-x: ${error}`);
  });

  it("makes a valid export's Ready False Failed, and once written asks for nothing more", () => {
    const planned = [c('Valid', 'True', 'Valid'), c('Ready', 'False', 'Pending'), c('Conflict', 'True', 'PortConflict')];
    const first = rejectedStatus(update('ServiceExport', { conditions: planned }), planned, 'app/derived-x', error, now);
    expect(first.status.conditions[1]).to.include({ status: 'False', reason: 'Failed' });
    expect(first.changed).to.equal(true);
    const again = rejectedStatus(update('ServiceExport', { conditions: first.status.conditions }), first.status.conditions, 'app/derived-x', error, now);
    expect(again.changed).to.equal(false);
  });

  it('leaves an invalid export as it is', () => {
    const planned = [c('Valid', 'False', 'NoService'), c('Ready', 'False', 'Failed')];
    const u = update('ServiceExport', { conditions: planned });
    expect(rejectedStatus(u, planned, 'app/derived-x', error, now)).to.equal(u);
  });
});

describe('serviceexport: waiting for the peers after a start', () => {
  const synced = { synced: true, reachable: true };
  const loading = { synced: false, reachable: true };
  const down = { synced: false, reachable: false };
  const cases: { name: string; at: number; peers: { synced: boolean; reachable: boolean }[]; hold: boolean }[] = [
    { name: 'every peer synced: plan at once', at: 0, peers: [synced, synced], hold: false },
    { name: 'no peers: plan at once', at: 0, peers: [], hold: false },
    { name: 'a peer not synced yet, within the grace', at: STARTUP_GRACE_MS - 1, peers: [synced, down], hold: true },
    { name: 'an unreachable peer after the grace: plan (its services stay frozen, the condition says why)', at: STARTUP_GRACE_MS, peers: [down], hold: false },
    { name: 'a reachable peer still loading its first LIST after the grace: wait', at: STARTUP_GRACE_MS + 5000, peers: [synced, loading], hold: true },
    { name: 'a reachable peer that never syncs: plan after the longer wait', at: STARTUP_SYNC_WAIT_MS, peers: [loading], hold: false },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(holdAtStartup(c.at, c.peers)).to.equal(c.hold);
    });
  }
});
