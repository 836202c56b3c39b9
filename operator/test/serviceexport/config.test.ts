import { expect } from 'chai';
import { ConfigError, loadOperatorConfig } from '../../src/config/index.js';

describe('serviceexport: configuration', () => {
  it('takes the cluster id and the ClusterSet id from flags, else from the environment', () => {
    expect(loadOperatorConfig({ clusterId: 'c0', clustersetId: 'set' }, {})).to.include({ clusterId: 'c0', clusterSetId: 'set' });
    expect(loadOperatorConfig({}, { MIZZEN_CLUSTER_ID: 'east-1', MIZZEN_CLUSTERSET_ID: 'prod' })).to.include({ clusterId: 'east-1', clusterSetId: 'prod' });
    expect(loadOperatorConfig({ clusterId: 'c0' }, { MIZZEN_CLUSTER_ID: 'east-1' }).clusterId).to.equal('c0');
  });

  it('leaves the cluster id unset when nothing names it (the ClusterProperty may)', () => {
    const c = loadOperatorConfig({}, {});
    expect(c.clusterId).to.equal(undefined);
    expect(c.controllers).to.include('serviceexport');
    expect(c.peerProbeIntervalMs).to.equal(2000);
  });

  it('rejects a cluster id that is not a DNS label', () => {
    expect(() => loadOperatorConfig({ clusterId: 'East_1' }, {})).to.throw(ConfigError, /--cluster-id must be a DNS label/);
  });

  it('reads the peer probe interval from MIZZEN_PEER_PROBE_INTERVAL', () => {
    expect(loadOperatorConfig({}, { MIZZEN_PEER_PROBE_INTERVAL: '500ms' }).peerProbeIntervalMs).to.equal(500);
  });
});
