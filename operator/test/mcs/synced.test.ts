import { expect } from 'chai';
import { plan, type ClusterSnapshot, type McsPlan } from '../../src/mcs/index.js';
import type { Condition } from '../../src/util/conditions.js';
import { applied, cluster, exporter, noLive, NOW, stateOf } from './fixtures.js';

const c0 = exporter('c0', 'web', { endpoints: [{ ip: '10.0.0.1' }] });
const c1 = exporter('c1', 'web', { endpoints: [{ ip: '10.1.0.1' }] });
/** The local objects of c0 after two rounds of apply over both exporters. */
const live = applied(plan('c0', [c0, c1], applied(plan('c0', [c0, c1], noLive, NOW)), NOW));
const synced = (p: McsPlan): Condition | undefined => p.importStatuses[0]?.status.conditions.find((c) => c.type === 'ClustersSynced');

describe('mcs ClustersSynced on imports', () => {
  const cases: { name: string; snapshots: ClusterSnapshot[]; want: Partial<Condition>; message?: string }[] = [
    { name: 'every exporter synced is True Synced', snapshots: [c0, c1], want: { status: 'True', reason: 'Synced' } },
    {
      name: 'an unreachable exporter read from its last known good state is False ClusterUnreachable, naming it',
      snapshots: [c0, { ...cluster('c1', { reachable: false }), lastKnownGood: stateOf(c1) }],
      want: { status: 'False', reason: 'ClusterUnreachable' },
      message: 'Cluster "c1" is used as last seen: it cannot be reached.',
    },
    {
      name: 'a reachable exporter whose caches are not synced is False ClusterNotSynced',
      snapshots: [c0, { ...cluster('c1', { synced: false }), lastKnownGood: stateOf(c1) }],
      want: { status: 'False', reason: 'ClusterNotSynced' },
    },
    {
      name: 'a member that exports nothing does not count',
      snapshots: [c0, cluster('c1'), cluster('c2', { reachable: false, lastKnownGood: stateOf(cluster('c2')) })],
      want: { status: 'True' },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const cond = synced(plan('c0', c.snapshots, live, NOW));
      expect(cond).to.include(c.want);
      if (c.message) expect(cond?.message).to.equal(c.message);
    });
  }

  it('a frozen import keeps its spec, clusters and Ready, and only ClustersSynced says which cluster it waits for', () => {
    const p = plan('c0', [c0, cluster('c1', { reachable: false })], live, NOW);
    expect(p.frozen).to.have.length(1);
    expect(p.serviceImports).to.deep.equal([]);
    const update = p.importStatuses[0];
    expect(update?.changed).to.equal(true);
    expect(update?.status.clusters).to.deep.equal([{ cluster: 'c0' }, { cluster: 'c1' }]);
    const conds = update?.status.conditions ?? [];
    expect(conds.find((c) => c.type === 'Ready')).to.deep.equal(live.serviceImports[0]?.status?.conditions?.find((c) => c.type === 'Ready'));
    expect(conds.find((c) => c.type === 'ClustersSynced')).to.include({ status: 'False', reason: 'ClusterUnreachable' });
  });

  it('a status that differs from the live one only in the order of its keys is not written again', () => {
    const first = plan('c0', [c0, c1], live, NOW);
    const reorder = (conds: readonly Condition[]): Condition[] =>
      conds.map((c) => Object.fromEntries(Object.entries(c).sort(([a], [b]) => (a < b ? -1 : 1))) as unknown as Condition);
    const ex = { ...c0.serviceExports[0], status: { conditions: reorder(first.exportStatuses[0]?.status.conditions ?? []) } } as (typeof c0.serviceExports)[number];
    const liveReordered = {
      ...live,
      serviceImports: live.serviceImports.map((i) => ({ ...i, status: { ...i.status, conditions: reorder(first.importStatuses[0]?.status.conditions ?? []) } })),
    };
    const again = plan('c0', [{ ...c0, serviceExports: [ex] }, c1], liveReordered, NOW);
    expect(again.exportStatuses[0]?.changed).to.equal(false);
    expect(again.importStatuses[0]?.changed).to.equal(false);
  });
});
