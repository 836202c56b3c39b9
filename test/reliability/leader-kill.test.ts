// Fault suite: two operator processes with leader election; the leader is SIGKILLed again and again and a fresh
// process is started as the next standby each time. Each takeover must come within the lease duration plus a retry
// period (figures printed, bound generous for a loaded machine), the standby must make no mutating API request and
// no reconcile while it is standby, and each new leader must reconcile a change. Every process runs with exactly the
// Helm chart's RBAC (a token of its ServiceAccount; the Lease in the release namespace). Runs on the e2e cluster.
import os from 'node:os';
import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import { KubeClient } from '../../operator/src/kube/client.js';
import { R } from '../../operator/src/kube/resources.js';
import { e2e } from '../e2e/lib/env.js';
import { kubectl, waitFor } from '../e2e/lib/cluster.js';
import { apiWrites, logTail, metric, metricSum, startOperatorProcess, stopOperatorProcess, type OperatorProcess } from '../e2e/lib/operator.js';
import { quantile } from '../e2e/lib/stats.js';
import { chartIdentity, refusedInLogs, refusedTotal, type ChartIdentity } from '../e2e/lib/rbac.js';
import { scale } from './scale.js';

const KILLS = scale('MIZZEN_FAULT_LEADER_KILLS', 8, 40);
const NS = 'mz-leader-kill';
const LEASE = 'mizzen-fault-leader';
const LEASE_MS = 4000;
/** What the operator derives from the lease duration (config/index.ts). */
const RETRY_MS = Math.max(200, Math.round(LEASE_MS / 7.5));

interface Lease extends KubernetesObject {
  spec?: { holderIdentity?: string | null; leaseTransitions?: number };
}
interface Iop extends KubernetesObject {
  status?: { status?: string; conditions?: { type: string; status: string; observedGeneration?: number }[] };
}

describe('reliability: two operators with leader election, the leader SIGKILLed again and again', function () {
  this.timeout((5 + KILLS) * 60_000);
  let client: KubeClient;
  const procs: OperatorProcess[] = [];
  let identity: ChartIdentity | undefined;
  const args = (id: string): string[] => ['--namespace', NS, '--lease-name', LEASE, '--lease-duration', `${LEASE_MS}ms`, '--identity', id, '--controllers', 'istiooperator'];
  const lease = (): Promise<Lease | undefined> => client.get<Lease>(R.lease, LEASE, NS);
  const applyIop = (round: number): Promise<KubernetesObject> =>
    client.apply({ apiVersion: 'install.istio.io/v1alpha1', kind: 'IstioOperator', metadata: { name: 'leader-kill', namespace: NS }, spec: { profile: 'empty', revision: 'lk', values: { pilot: { env: { FAULT_ROUND: String(round) } } } } } as KubernetesObject, { force: true });
  const healthyAt = async (generation: number): Promise<boolean> => {
    const o = await client.get<Iop>(R.istioOperator, 'leader-kill', NS);
    const ready = o?.status?.conditions?.find((c) => c.type === 'Ready');
    return o?.status?.status === 'HEALTHY' && ready?.status === 'True' && ready.observedGeneration === generation;
  };
  /** A fresh standby: its probe server listens and it has read the Lease (a GET), and it does not lead. */
  const startStandby = async (id: string): Promise<OperatorProcess> => {
    const p = await startOperatorProcess(identity!.kubeconfig, args(id));
    procs.push(p);
    await waitFor(`${id} to read the Lease`, async () => (await metricSum(p, 'mizzen_api_requests_total', { verb: 'GET' })) > 0, 60_000, 100);
    return p;
  };

  before(async () => {
    client = await KubeClient.create(KubeClient.loadConfig(e2e.kubeconfig));
    await waitFor(`namespace ${NS} of an earlier run to be gone`, async () => !(await client.get<KubernetesObject & { status?: { phase?: string } }>(R.namespace, NS))?.status?.phase?.startsWith('Terminating'), 120_000, 500);
    await kubectl(e2e.kubeconfig, ['create', 'namespace', NS]).catch(() => undefined);
    identity = await chartIdentity(e2e.kubeconfig, NS);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') for (const p of procs.slice(-2)) console.log(`      operator log:\n${logTail(p, 30)}`);
  });

  after(async function () {
    this.timeout(300_000);
    // Deleted while the last leader runs: its finalizer removes the children.
    await kubectl(e2e.kubeconfig, ['-n', NS, 'delete', 'istiooperators', '--all', '--timeout=120s']).catch(() => undefined);
    for (const p of procs) await stopOperatorProcess(p);
    await identity?.remove();
    await kubectl(e2e.kubeconfig, ['delete', 'namespace', NS, '--wait=false']).catch(() => undefined);
    client.close();
  });

  it(`takes over within lease + retry period after each of ${KILLS} SIGKILLs; the standby makes no writes`, async function () {
    console.log(`      lease ${LEASE_MS} ms, retry period ${RETRY_MS} ms, ${KILLS} kills, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    let leader = await startStandby('lead-0');
    await waitFor('lead-0 to hold the Lease', async () => (await lease())?.spec?.holderIdentity === 'lead-0', 60_000, 100);
    let generation = (await applyIop(0)).metadata?.generation ?? 0;
    await waitFor('the IstioOperator HEALTHY under lead-0', () => healthyAt(generation), 120_000, 200);
    let standby = await startStandby('lead-1');

    const takeovers: number[] = [];
    const reconciled: number[] = [];
    let standbySamples = 0;
    for (let round = 1; round <= KILLS; round++) {
      const id = `lead-${round}`;
      const transitions = (await lease())?.spec?.leaseTransitions ?? 0;
      expect(await metric(standby, 'mizzen_leader'), `${id} is standby`).to.equal(0);

      leader.child.kill('SIGKILL');
      const killedAt = Date.now();
      await leader.exited;
      // Until the Lease names the standby, every sample of its writes must be 0. A sample counts only if the Lease
      // still named someone else after it was taken, so its own Lease update cannot have been counted yet.
      let takeover = 0;
      await waitFor(
        `${id} to take the Lease`,
        async () => {
          const writes = await apiWrites(standby);
          const holder = (await lease())?.spec?.holderIdentity;
          if (holder === id) {
            takeover = Date.now() - killedAt;
            return true;
          }
          standbySamples++;
          expect(writes, `mutating API requests by ${id} while the Lease is held by ${holder ?? 'nobody'}`).to.equal(0);
          expect(await metricSum(standby, 'mizzen_reconcile_total'), `reconciles by ${id} while it is standby`).to.equal(0);
          return false;
        },
        60_000,
        50,
      );
      takeovers.push(takeover);
      expect((await lease())?.spec?.leaseTransitions, 'one transition per takeover').to.equal(transitions + 1);
      await waitFor(`${id} to report leadership`, async () => (await metric(standby, 'mizzen_leader')) === 1, 30_000, 100);

      // The new leader does the work: a spec change becomes HEALTHY for its generation.
      const t0 = Date.now();
      generation = (await applyIop(round)).metadata?.generation ?? 0;
      await waitFor(`the IstioOperator HEALTHY for generation ${generation} under ${id}`, () => healthyAt(generation), 120_000, 200);
      reconciled.push(Date.now() - t0);

      leader = standby;
      standby = await startStandby(`lead-${round + 1}`);
    }
    // The last standby, after its whole life as standby: no writes, no reconciles.
    expect(await apiWrites(standby), 'writes by the last standby').to.equal(0);
    expect(await metricSum(standby, 'mizzen_reconcile_total'), 'reconciles by the last standby').to.equal(0);

    console.log(`      takeover after SIGKILL: p50 ${quantile(takeovers, 0.5)} ms, min ${Math.min(...takeovers)} ms, max ${Math.max(...takeovers)} ms (${takeovers.join(', ')})`);
    console.log(`      change → HEALTHY under each new leader: p50 ${quantile(reconciled, 0.5)} ms, max ${Math.max(...reconciled)} ms; ${standbySamples} samples of standby writes, all 0; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    // The figures are printed; the bound leaves room for a loaded machine (polling, a slow event loop).
    for (const t of takeovers) expect(t, 'takeover').to.be.at.most(LEASE_MS + RETRY_MS + 4000);
    // The chart's RBAC was enough for leaders and standbys (the killed ones' logs included).
    expect(await refusedTotal(leader), "the last leader's requests refused with the chart's RBAC").to.equal(0);
    expect(await refusedTotal(standby), "the last standby's requests refused with the chart's RBAC").to.equal(0);
    expect(procs.flatMap((p) => refusedInLogs(p.logs)), 'log lines of refused requests').to.deep.equal([]);
  });
});
