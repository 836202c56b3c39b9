// Fault suite: the API server is unreachable for a minute while the operator leads. It must stop leading (it can
// no longer renew), neither spin nor flood its log while the server is away (figures printed: log lines per
// second, CPU), stay up, and lead again once the server is back. Runs on the e2e cluster (test/e2e/hooks.ts).
import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import { KubeClient } from '../../operator/src/kube/client.js';
import { R } from '../../operator/src/kube/resources.js';
import { e2e } from '../e2e/lib/env.js';
import { clusterCmd, waitFor } from '../e2e/lib/cluster.js';
import { logTail, metric, startOperatorProcess, stopOperatorProcess, type OperatorProcess } from '../e2e/lib/operator.js';
import { chartIdentity, refusedInLogs, refusedTotal, type ChartIdentity } from '../e2e/lib/rbac.js';
import { scale } from './scale.js';

interface Lease extends KubernetesObject {
  spec?: { holderIdentity?: string | null };
}

const OUTAGE_MS = scale('MIZZEN_OUTAGE_MS', 60_000, 600_000);

describe('reliability: the API server unreachable for a minute while the operator leads', function () {
  this.timeout(OUTAGE_MS + 420_000);
  const namespace = 'mizzen-reliability';
  const leaseName = 'mizzen-reliability-leader';
  let client: KubeClient;
  let op: OperatorProcess | undefined;
  let identity: ChartIdentity | undefined;

  before(async () => {
    client = await KubeClient.create(KubeClient.loadConfig(e2e.kubeconfig));
    // Exactly the chart's RBAC, for a release in the Lease's namespace.
    identity = await chartIdentity(e2e.kubeconfig, namespace);
  });

  after(async () => {
    await stopOperatorProcess(op);
    await identity?.remove();
    await client.delete(R.namespace, namespace).catch(() => undefined);
    client.close();
  });

  afterEach(function () {
    if (this.currentTest?.state !== 'failed') return;
    // Whether the process is gone (and how) tells a crash from a hang when the log just stops.
    console.log(`      operator process: exit code ${String(op?.child.exitCode)}, signal ${String(op?.child.signalCode)}`);
    console.log(`      operator log:\n${logTail(op, 60)}`);
  });

  it('stops leading, neither spins nor floods its log, stays up, and leads again when the server is back', async () => {
    // The defaults of a Deployment: a 15 s lease, a 10 s renew deadline; every controller.
    op = await startOperatorProcess(identity!.kubeconfig, ['--namespace', namespace, '--lease-name', leaseName, '--identity', 'reliability-a']);
    await waitFor('the operator to lead', async () => (await metric(op!, 'mizzen_leader')) === 1, 120_000, 200);
    await waitFor('the operator to start its controllers', () => op!.logs.find((l) => l.message === 'Synced caches'), 120_000, 200);

    // A quiet minute's baseline first (10 s after start-up): what the outage adds shows against it.
    const cpuBase0 = (await metric(op, 'mizzen_process_cpu_seconds_total')) ?? 0;
    const tBase = Date.now();
    while (Date.now() - tBase < 10_000) await new Promise((r) => setTimeout(r, 1000));
    const cpu0 = (await metric(op, 'mizzen_process_cpu_seconds_total')) ?? 0;
    const baseline = (cpu0 - cpuBase0) / ((Date.now() - tBase) / 1000);
    const logs0 = op.logs.length;
    // Nothing refused before the outage (the API server answers 403 while it starts again, before it is ready).
    expect(await refusedTotal(op), "requests refused with the chart's RBAC before the outage").to.equal(0);
    expect(refusedInLogs(op.logs), 'log lines of refused requests before the outage').to.deep.equal([]);
    const t0 = Date.now();
    await clusterCmd('stop-apiserver', e2e.name);
    let stoppedLeadingMs: number;
    let outageMs: number;
    let cpu: number;
    let lines: Record<string, unknown>[];
    try {
      await waitFor('the operator to stop leading', async () => (await metric(op!, 'mizzen_leader')) === 0, 60_000, 100);
      stoppedLeadingMs = Date.now() - t0;
      // The rest of the outage: the probe server still answers; the process must idle, not spin.
      while (Date.now() - t0 < OUTAGE_MS) {
        expect(op.child.exitCode, 'the operator is still running').to.equal(null);
        expect((await fetch(`${op.probeUrl}/healthz`)).status, 'healthz during the outage').to.equal(200);
        await new Promise((r) => setTimeout(r, 1000));
      }
      // The figures of the outage itself, before the server comes back.
      outageMs = Date.now() - t0;
      cpu = ((await metric(op, 'mizzen_process_cpu_seconds_total')) ?? 0) - cpu0;
      lines = op.logs.slice(logs0);
    } finally {
      await clusterCmd('start-apiserver', e2e.name);
    }
    const byMessage = new Map<string, number>();
    for (const l of lines) byMessage.set(String(l.message), (byMessage.get(String(l.message)) ?? 0) + 1);
    const top = [...byMessage.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([m, n]) => `${n}× "${m}"`).join(', ');
    const back = Date.now();
    await waitFor('the operator to lead again', async () => (await metric(op!, 'mizzen_leader')) === 1, 120_000, 200);
    const leadAgainMs = Date.now() - back;
    console.log(`      outage ${outageMs} ms: stopped leading after ${stoppedLeadingMs} ms (renew deadline 10 000 ms)`);
    console.log(`      during the outage: ${lines.length} log lines (${((lines.length * 1000) / outageMs).toFixed(2)} per second: ${top}), CPU ${cpu.toFixed(2)} s (${((cpu * 100_000) / outageMs).toFixed(1)}% of a core; ${(baseline * 100).toFixed(1)}% before the outage)`);
    console.log(`      leading again ${leadAgainMs} ms after the API server was ready`);

    expect(op.child.exitCode, 'the operator did not exit').to.equal(null);
    expect(lines.some((l) => l.message === 'Lost leader lease; stopped leading and campaigning again')).to.equal(true);
    // Bounds well above what an idle operator shows (1.6 lines/s, 2% of a core, mostly informer retries with
    // backoff before the Lease is lost), well below a retry loop without backoff: campaigning every 10 ms instead of
    // every retry period used 16% of a core.
    expect(lines.length / (outageMs / 1000), 'log lines per second').to.be.below(5);
    expect(cpu / (outageMs / 1000), 'CPU seconds per second').to.be.below(0.08);
    await waitFor('the Lease held by the operator again', async () => (await client.get<Lease>(R.lease, leaseName, namespace))?.spec?.holderIdentity === 'reliability-a', 30_000, 200);
  });
});
