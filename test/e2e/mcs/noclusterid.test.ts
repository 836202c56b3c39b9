// An operator with no cluster id (no --cluster-id, no ClusterProperty cluster.clusterset.k8s.io) cannot take part
// in a ClusterSet: each ServiceExport says so in its status and says how to fix it, and nothing is imported.
import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ClusterProperty } from '../../../operator/src/api/index.js';
import { R } from '../../../operator/src/kube/resources.js';
import { e2e } from '../lib/env.js';
import { kubectl, waitFor } from '../lib/cluster.js';
import { logTail, startOperatorProcess, stopOperatorProcess, type OperatorProcess } from '../lib/operator.js';
import { condition, Member, service, serviceExport } from './helpers.js';

const NS = 'mcs-noid-e2e';
const CLUSTER_PROPERTY = 'cluster.clusterset.k8s.io';
type Property = ClusterProperty & KubernetesObject;

describe('multi-cluster services without a cluster id', function () {
  this.timeout(60_000);
  let c0: Member;
  let op: OperatorProcess | undefined;
  let saved: Property | undefined;

  before(async function () {
    this.timeout(240_000);
    c0 = await Member.open('c0', e2e.kubeconfig);
    saved = await c0.client.get<Property>(R.clusterProperty, CLUSTER_PROPERTY);
    if (saved) await c0.client.delete(R.clusterProperty, CLUSTER_PROPERTY);
    await c0.ensureNamespace(NS);
    op = await startOperatorProcess(e2e.kubeconfig, ['--no-leader-elect', '--controllers', 'serviceexport', '--namespace', NS]);
  });

  after(async function () {
    if (this.currentTest?.state === 'failed' && op) console.log(logTail(op, 40));
    await stopOperatorProcess(op);
    await c0.client.delete(R.namespace, NS).catch(() => undefined);
    if (saved) await c0.client.create({ apiVersion: saved.apiVersion, kind: saved.kind, metadata: { name: saved.metadata.name }, spec: saved.spec }).catch(() => undefined);
    c0.close();
  });

  it('a ServiceExport gets Ready=False NoClusterId naming --cluster-id and the ClusterProperty, and no import', async () => {
    await c0.apply(service(NS, 'lonely'));
    await c0.apply(serviceExport(NS, 'lonely'));
    const ready = await waitFor('the export to say why nothing happens', async () => {
      const c = condition(await c0.getExport(NS, 'lonely'), 'Ready');
      return c?.reason === 'NoClusterId' ? c : undefined;
    });
    expect(ready.status).to.equal('False');
    expect(ready.message).to.contain('--cluster-id').and.to.contain('ClusterProperty cluster.clusterset.k8s.io');
    expect(ready.observedGeneration).to.equal(1);
    expect(await c0.getImport(NS, 'lonely')).to.equal(undefined);
    // The printer columns show it too.
    const table = await kubectl(e2e.kubeconfig, ['get', 'serviceexports', '-n', NS]);
    expect(table).to.match(/NAME\s+VALID\s+READY\s+CONFLICT\s+AGE/);
    expect(table).to.match(/lonely\s+False\s+/);
    expect(op?.logs.find((l) => /Found no cluster id/.test(String(l.message)))).to.not.equal(undefined);
  });
});
