import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import { KubeClient } from '../../../operator/src/kube/client.js';
import { R } from '../../../operator/src/kube/resources.js';
import { e2e } from '../lib/env.js';
import { clusterCmd, waitFor } from '../lib/cluster.js';
import { metric, startOperatorProcess, stopOperatorProcess, type OperatorProcess } from '../lib/operator.js';

interface Lease extends KubernetesObject {
  spec?: { holderIdentity?: string | null; leaseTransitions?: number };
}

describe('leader election between two operator processes', function () {
  const namespace = 'mizzen-leader-e2e';
  const leaseName = 'mizzen-e2e-leader';
  const leaseDurationMs = 4000;
  const retryPeriodMs = Math.round(leaseDurationMs / 7.5);
  let a: OperatorProcess | undefined;
  let b: OperatorProcess | undefined;
  let client: KubeClient;

  before(async () => {
    client = await KubeClient.create(KubeClient.loadConfig(e2e.kubeconfig));
  });

  after(async () => {
    await stopOperatorProcess(a, 'SIGKILL');
    await stopOperatorProcess(b);
    client.close();
  });

  const holder = async (): Promise<string | null | undefined> => (await client.get<Lease>(R.lease, leaseName, namespace))?.spec?.holderIdentity;
  const args = (id: string): string[] => ['--namespace', namespace, '--lease-name', leaseName, '--lease-duration', `${leaseDurationMs}ms`, '--identity', id, '--controllers', ''];

  it('keeps the second process standby while the first holds the Lease', async function () {
    a = await startOperatorProcess(e2e.kubeconfig, args('op-a'));
    await waitFor('op-a to hold the lease', async () => (await holder()) === 'op-a', 30_000, 100);
    b = await startOperatorProcess(e2e.kubeconfig, args('op-b'));
    // Give op-b several lease durations to (wrongly) take over.
    const until = Date.now() + 3 * leaseDurationMs;
    while (Date.now() < until) {
      expect(await holder()).to.equal('op-a');
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(await metric(a, 'mizzen_leader')).to.equal(1);
    expect(await metric(b, 'mizzen_leader')).to.equal(0);
    const ready = await fetch(`${b.probeUrl}/readyz`);
    expect(ready.status, 'a healthy standby is ready').to.equal(200);
  });

  it('hands over within the lease duration (plus one retry period) after the leader is killed', async function () {
    const before = (await client.get<Lease>(R.lease, leaseName, namespace))?.spec?.leaseTransitions ?? 0;
    a!.child.kill('SIGKILL');
    const killedAt = Date.now();
    await a!.exited;
    await waitFor('op-b to take the lease', async () => (await holder()) === 'op-b', 30_000, 20);
    const takeover = Date.now() - killedAt;
    console.log(`      takeover ${takeover} ms after SIGKILL (lease ${leaseDurationMs} ms, retry ${retryPeriodMs} ms)`);
    // The figure is printed; the bound leaves room for a loaded machine (polling, process start-up).
    expect(takeover).to.be.at.least(leaseDurationMs - 1000);
    expect(takeover).to.be.at.most(leaseDurationMs + retryPeriodMs + 3000);
    await waitFor('op-b to report leadership', async () => (await metric(b!, 'mizzen_leader')) === 1, 5000, 50);
    expect((await client.get<Lease>(R.lease, leaseName, namespace))?.spec?.leaseTransitions).to.equal(before + 1);
  });

  it('stops leading during an API server outage longer than the renew deadline, stays up and leads again after it', async function () {
    this.timeout(180_000);
    const renewDeadlineMs = Math.round((leaseDurationMs * 2) / 3);
    const stoppedAt = Date.now();
    await clusterCmd('stop-apiserver', e2e.name);
    try {
      await waitFor('op-b to stop leading', async () => (await metric(b!, 'mizzen_leader')) === 0, 60_000, 50);
      console.log(`      stopped leading ${Date.now() - stoppedAt} ms after the API server was stopped (renew deadline ${renewDeadlineMs} ms)`);
      expect(b!.logs.some((l) => l.message === 'Lost leader lease; stopped leading and campaigning again')).to.equal(true);
    } finally {
      await clusterCmd('start-apiserver', e2e.name);
    }
    const back = Date.now();
    await waitFor('op-b to lead again', async () => (await metric(b!, 'mizzen_leader')) === 1, 60_000, 50);
    console.log(`      leading again ${Date.now() - back} ms after the API server was ready`);
    expect(b!.child.exitCode, 'the operator did not exit').to.equal(null);
    expect(await holder()).to.equal('op-b');
  });

  it('releases the Lease on a clean stop so a new process takes over at once', async function () {
    a = await startOperatorProcess(e2e.kubeconfig, args('op-c'));
    const stoppedAt = Date.now();
    await stopOperatorProcess(b, 'SIGTERM');
    expect(await b!.exited).to.equal(0);
    await waitFor('op-c to take the released lease', async () => (await holder()) === 'op-c', 10_000, 20);
    const takeover = Date.now() - stoppedAt;
    console.log(`      takeover ${takeover} ms after SIGTERM of the leader`);
    expect(takeover).to.be.below(leaseDurationMs);
  });
});
