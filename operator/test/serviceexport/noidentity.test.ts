import { expect } from 'chai';
import { NO_CLUSTER_ID_REASON, noClusterIdCondition, saysNoClusterId } from '../../src/controllers/serviceexport/noidentity.js';
import { setCondition } from '../../src/util/conditions.js';

describe('serviceexport: a cluster without an id', () => {
  const now = new Date('2026-01-02T03:04:05Z');

  it('says Ready=False NoClusterId and names both fixes: --cluster-id and the ClusterProperty', () => {
    const c = noClusterIdCondition(3);
    expect(c).to.include({ type: 'Ready', status: 'False', reason: NO_CLUSTER_ID_REASON, observedGeneration: 3 });
    expect(c.message).to.contain('--cluster-id').and.to.contain('ClusterProperty cluster.clusterset.k8s.io');
  });

  it('an export that already says so needs no write; a new generation or another reason does', () => {
    const said = setCondition(undefined, noClusterIdCondition(1), now);
    expect(saysNoClusterId(said, noClusterIdCondition(1))).to.equal(true);
    expect(saysNoClusterId(said, noClusterIdCondition(2))).to.equal(false);
    const other = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'Ready', message: 'ok', observedGeneration: 1 }, now);
    expect(saysNoClusterId(other, noClusterIdCondition(1))).to.equal(false);
    expect(saysNoClusterId(undefined, noClusterIdCondition(1))).to.equal(false);
  });
});
