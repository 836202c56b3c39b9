// Fault suite: the operator SIGKILLed again and again at random points while it installs, changes, prunes and
// deletes IstioOperators. After the last restart every IstioOperator must be HEALTHY for its current generation,
// every object carrying the owner labels must belong to an existing IstioOperator and be rendered by it (nothing
// orphaned, nothing a pruned component left behind), every deleted IstioOperator must be gone, and the operator must
// never have written an IstioOperator's spec. Runs on the e2e cluster (test/e2e/hooks.ts); figures printed.
import os from 'node:os';
import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import { KubeClient } from '../../operator/src/kube/client.js';
import { R } from '../../operator/src/kube/resources.js';
import { appliedByUs, identity } from '../../operator/src/kube/apply.js';
import { RENDERED_KINDS, render } from '../../operator/src/render/index.js';
import { OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL } from '../../operator/src/controllers/istiooperator/watches.js';
import { e2e } from '../e2e/lib/env.js';
import { kubectl, waitFor } from '../e2e/lib/cluster.js';
import { apiWrites, logTail, startOperatorProcess, stopOperatorProcess, type OperatorProcess } from '../e2e/lib/operator.js';
import { quantile } from '../e2e/lib/stats.js';
import { chartIdentity, refusedInLogs, refusedTotal, type ChartIdentity } from '../e2e/lib/rbac.js';
import { scale } from './scale.js';

const KILLS = scale('MIZZEN_FAULT_KILLS', 20, 100);
const SEED = Number(process.env.MIZZEN_FAULT_SEED ?? 20261201);
const NS = 'mz-kill';
const MAX_IOPS = 6;
const TEST_MANAGER = 'mizzen-fault-test';

interface Iop extends KubernetesObject {
  spec?: Record<string, unknown>;
  status?: { status?: string; conditions?: { type: string; status: string; observedGeneration?: number }[] };
}

/** A small deterministic PRNG (mulberry32), so that a failing sequence of kills can be replayed by its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('reliability: the operator SIGKILLed at random points while it applies IstioOperators', function () {
  this.timeout((5 + KILLS / 2) * 60_000);
  let client: KubeClient;
  /** Writes the IstioOperators under its own field manager, so that any other writer of their spec shows. */
  let writer: KubeClient;
  let op: OperatorProcess | undefined;
  let sa: ChartIdentity | undefined;
  /** Every operator process's log, the killed ones' included. */
  const logs: Record<string, unknown>[][] = [];
  const start = async (): Promise<OperatorProcess> => {
    const p = await startOperatorProcess(sa!.kubeconfig, args);
    logs.push(p.logs);
    return p;
  };
  const args = ['--no-leader-elect', '--controllers', 'istiooperator'];

  before(async () => {
    client = await KubeClient.create(KubeClient.loadConfig(e2e.kubeconfig));
    writer = await KubeClient.create(KubeClient.loadConfig(e2e.kubeconfig), TEST_MANAGER);
    // A namespace of an earlier run may still be terminating.
    await waitFor(`namespace ${NS} of an earlier run to be gone`, async () => !(await client.get<KubernetesObject & { status?: { phase?: string } }>(R.namespace, NS))?.status?.phase?.startsWith('Terminating'), 120_000, 500);
    await kubectl(e2e.kubeconfig, ['create', 'namespace', NS]).catch(() => undefined);
    sa = await chartIdentity(e2e.kubeconfig);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`      operator log:\n${logTail(op, 60)}`);
  });

  after(async function () {
    this.timeout(300_000);
    // Deleted while an operator runs: its finalizer removes the children.
    if (!op || op.child.exitCode !== null || op.child.signalCode !== null) op = await start().catch(() => undefined);
    await kubectl(e2e.kubeconfig, ['-n', NS, 'delete', 'istiooperators', '--all', '--timeout=180s']).catch(() => undefined);
    await stopOperatorProcess(op);
    await sa?.remove();
    await kubectl(e2e.kubeconfig, ['delete', 'namespace', NS, '--wait=false']).catch(() => undefined);
    client.close();
    writer.close();
  });

  it(`converges after ${KILLS} SIGKILLs: HEALTHY, no orphaned children, no spec writes`, async function () {
    const rnd = prng(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    console.log(`      seed ${SEED} (MIZZEN_FAULT_SEED replays it), ${KILLS} kills, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);

    /** The generation each IstioOperator had after our last write of it; a higher one would be a spec write by someone else. */
    const expected = new Map<string, number>();
    const deleted = new Set<string>();
    let created = 0;
    const apply = async (name: string, spec: Record<string, unknown>): Promise<void> => {
      const o = await writer.apply({ apiVersion: 'install.istio.io/v1alpha1', kind: 'IstioOperator', metadata: { name, namespace: NS }, spec } as KubernetesObject, { force: true });
      expected.set(name, o.metadata?.generation ?? 0);
    };
    const specOf = (i: number, variant: number): Record<string, unknown> => ({
      profile: 'minimal',
      revision: `k${i}`,
      // Variants: istiod on (with a changing env or replica count) or off (its objects are pruned).
      components: { pilot: { enabled: variant % 4 !== 3, k8s: { replicaCount: 1 + (variant % 2) } } },
      values: { pilot: { env: { FAULT_ROUND: String(variant) } } },
    });

    // Two IstioOperators before the first start, so the first kill already falls into an install.
    for (; created < 2; created++) await apply(`kill-${created}`, specOf(created, 0));
    op = await start();

    const actions: Record<string, number> = { create: 0, change: 0, delete: 0 };
    const killPoints: string[] = [];
    const writesAtKill: number[] = [];
    let lastKill = Date.now();
    for (let round = 0; round < KILLS; round++) {
      const live = [...expected.keys()].filter((n) => !deleted.has(n));
      const r = rnd();
      let action: string;
      if ((r < 0.35 || live.length < 2) && created < MAX_IOPS) {
        action = 'create';
        await apply(`kill-${created}`, specOf(created, round));
        created++;
      } else if (r < 0.85 || live.length < 3) {
        action = 'change';
        const name = pick(live);
        await apply(name, specOf(Number(name.split('-')[1]), round));
      } else {
        action = 'delete';
        const name = pick(live);
        await kubectl(e2e.kubeconfig, ['-n', NS, 'delete', 'istiooperator', name, '--wait=false']);
        deleted.add(name);
      }
      actions[action]!++;

      // A random point: after a random number of the operator's writes (mid-apply, mid-prune, mid-finalize), or a
      // random time after its start (while it syncs its caches or begins to reconcile).
      const cur = op;
      if (rnd() < 0.6) {
        const target = 1 + Math.floor(rnd() * 15);
        await waitFor(`${target} writes by the operator`, async () => (await apiWrites(cur).catch(() => 0)) >= target, 20_000, 25).catch(() => undefined);
        killPoints.push(`after ${target} writes`);
      } else {
        const ms = Math.floor(rnd() * 3000);
        await new Promise((res) => setTimeout(res, ms));
        killPoints.push(`${ms} ms`);
      }
      writesAtKill.push(await apiWrites(cur).catch(() => -1));
      cur.child.kill('SIGKILL');
      lastKill = Date.now();
      await cur.exited;
      op = await start();
    }

    // The last start: everything must converge (times counted from the last kill, the process start included).
    const t0 = lastKill;
    const converge: number[] = [];
    const names = [...expected.keys()];
    for (const name of names) {
      if (deleted.has(name)) {
        await waitFor(`IstioOperator ${name} to be deleted`, async () => !(await client.get(R.istioOperator, name, NS)), 180_000, 200);
      } else {
        await waitFor(
          `IstioOperator ${name} HEALTHY for its current generation`,
          async () => {
            const o = await client.get<Iop>(R.istioOperator, name, NS);
            const ready = o?.status?.conditions?.find((c) => c.type === 'Ready');
            return o?.status?.status === 'HEALTHY' && ready?.status === 'True' && ready.observedGeneration === o.metadata?.generation;
          },
          180_000,
          200,
        );
      }
      converge.push(Date.now() - t0);
    }
    const total = Date.now() - t0;

    // Orphans: every object with the owner labels of this namespace belongs to an existing IstioOperator and is one
    // that IstioOperator renders now.
    const iops = (await client.list<Iop>(R.istioOperator, { namespace: NS })).items;
    const rendered = new Map(iops.map((o) => [o.metadata?.name ?? '', new Set(render(o as Parameters<typeof render>[0]).objects.map(identity))]));
    const orphans: string[] = [];
    const present = new Set<string>();
    let children = 0;
    for (const t of [...RENDERED_KINDS, R.secret]) {
      // Objects the operator applied (an Endpoints object copies its Service's labels, but is not one).
      for (const o of (await client.list(t, { labelSelector: `${OWNER_NAMESPACE_LABEL}=${NS}` })).items.filter((o) => appliedByUs(o))) {
        children++;
        present.add(identity({ ...o, apiVersion: t.apiVersion, kind: t.kind }));
        const owner = o.metadata?.labels?.[OWNER_NAME_LABEL] ?? '';
        const desc = `${t.kind} ${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''} (owner ${owner})`;
        if (!rendered.get(owner)?.has(identity({ ...o, apiVersion: t.apiVersion, kind: t.kind }))) orphans.push(desc);
      }
    }
    const missing: string[] = [];
    for (const [owner, ids] of rendered) missing.push(...[...ids].filter((id) => !present.has(id)).map((id) => `${owner}: ${id}`));

    // Spec writes: the generation is the one our last apply left, and no field manager but ours owns a spec field.
    const specWriters: string[] = [];
    for (const o of iops) {
      const name = o.metadata?.name ?? '';
      if (o.metadata?.generation !== expected.get(name)) specWriters.push(`${name}: generation ${o.metadata?.generation} after our apply left ${expected.get(name)}`);
      for (const f of o.metadata?.managedFields ?? []) {
        if (f.manager !== TEST_MANAGER && !f.subresource && JSON.stringify(f.fieldsV1 ?? {}).includes('"f:spec"')) specWriters.push(`${name}: ${f.manager} (${f.operation}) owns spec fields`);
      }
    }

    console.log(`      actions: ${actions.create} created, ${actions.change} changed, ${actions.delete} deleted; kill points: ${killPoints.join(', ')}`);
    console.log(`      operator writes before each kill: ${writesAtKill.join(', ')}`);
    console.log(`      after the last kill: all ${names.length} IstioOperators converged (operator start included) in ${total} ms (p50 ${quantile(converge, 0.5)} ms, max ${Math.max(...converge)} ms); ${iops.length} remain with ${children} children, ${orphans.length} orphaned; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    expect(orphans, 'objects with owner labels that no IstioOperator renders').to.deep.equal([]);
    expect(missing, 'rendered objects that are not there').to.deep.equal([]);
    expect(specWriters, 'spec writes by anyone but the test').to.deep.equal([]);
    expect(op.child.exitCode, 'the last operator is still running').to.equal(null);
    // Every process ran with exactly the chart's RBAC (a token of its ServiceAccount): nothing refused.
    expect(await refusedTotal(op), "the last operator's requests refused with the chart's RBAC").to.equal(0);
    expect(logs.flatMap((l) => refusedInLogs(l)), 'log lines of refused requests').to.deep.equal([]);
  });
});
