// Fault suite: a peer cluster unreachable for two minutes. Two real clusters, c0 (the e2e cluster) and c1, each with
// its own operator running with exactly the Helm chart's RBAC (a token of the chart's ServiceAccount), each reading
// the other through a member Secret whose kubeconfig is the other's ServiceAccount token. c1's API server is stopped
// for OUTAGE_MS: in c0 no ServiceImport and no EndpointSlice may be deleted meanwhile (a watch counts DELETED events
// and the uids are compared), every import must say ClustersSynced=False ClusterUnreachable naming c1, c0's own
// endpoint changes must still propagate; once c1 is back an endpoint change in c1 must reach c0 again. No request of
// either operator may be refused, and a member Secret outside the operator's namespace must be ignored.
import os from 'node:os';
import { expect } from 'chai';
import { KubeConfig, Watch, type KubernetesObject, type V1EndpointSlice, type V1Lease, type V1Node, type V1Pod } from '@kubernetes/client-node';
import type { ClusterProperty } from '../../operator/src/api/index.js';
import { R } from '../../operator/src/kube/resources.js';
import { e2e } from '../e2e/lib/env.js';
import { clusterCmd, waitFor } from '../e2e/lib/cluster.js';
import { ensureSecondCluster, second, teardownSecondCluster } from '../e2e/lib/multicluster.js';
import { logTail, metricSum, startOperatorProcess, type OperatorProcess } from '../e2e/lib/operator.js';
import { chartIdentity, refusedInLogs, refusedRequests, refusedTotal, tokenInLogs, type ChartIdentity } from '../e2e/lib/rbac.js';
import { addresses, condition, deployment, isTrue, Member, memberSecret, service, serviceExport, stopOperator, type Import } from '../e2e/mcs/helpers.js';
import { LONG, scale } from './scale.js';

const NS = 'mz-peer-outage';
const SYSTEM = 'mizzen-system';
const CLUSTER_PROPERTY = 'cluster.clusterset.k8s.io';
const OUTAGE_MS = scale('MIZZEN_PEER_OUTAGE_MS', 120_000, 600_000);
/** The imported EndpointSlices (those mizzen writes carry the MCS service-name label). */
const SLICES = 'multicluster.kubernetes.io/service-name';
/** Services exported from both clusters. */
const SERVICES = LONG ? 10 : 3;

type Property = ClusterProperty & KubernetesObject;
const loadAverage = (): string =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

/** Counts DELETED events of a namespace's ServiceImports and EndpointSlices, re-watching from the last version. */
class DeletionWatch {
  readonly deleted: string[] = [];
  private aborts: AbortController[] = [];
  private stopped = false;

  constructor(
    private readonly kc: KubeConfig,
    private readonly paths: { path: string; labelSelector?: string }[],
  ) {}

  async start(versions: string[]): Promise<void> {
    await Promise.all(this.paths.map((p, i) => this.watch(p.path, p.labelSelector, versions[i]!)));
  }

  private async watch(path: string, labelSelector: string | undefined, resourceVersion: string): Promise<void> {
    let rv = resourceVersion;
    const ac = await new Watch(this.kc).watch(
      path,
      { resourceVersion: rv, allowWatchBookmarks: true, ...(labelSelector ? { labelSelector } : {}) },
      (type, obj: KubernetesObject) => {
        rv = obj.metadata?.resourceVersion ?? rv;
        if (type === 'DELETED') this.deleted.push(`${obj.kind ?? path} ${obj.metadata?.name ?? ''}`);
      },
      () => {
        // A watch the server ends is opened again where it left off (a 410 would show as a failed re-watch: the
        // uid comparison at the end covers that case).
        if (!this.stopped) setTimeout(() => void this.watch(path, labelSelector, rv).catch(() => undefined), 200);
      },
    );
    this.aborts.push(ac);
  }

  stop(): void {
    this.stopped = true;
    for (const a of this.aborts) a.abort();
  }
}

describe('reliability: a peer cluster unreachable for minutes', function () {
  this.timeout(OUTAGE_MS + 600_000);
  let c0: Member;
  let c1: Member;
  const ops = new Map<string, OperatorProcess>();
  const identities: ChartIdentity[] = [];
  const savedProperties = new Map<Member, Property | undefined>();
  const names = Array.from({ length: SERVICES }, (_, i) => `po-${i}`);

  before(async function () {
    this.timeout(600_000);
    const kubeconfig1 = await ensureSecondCluster();
    c0 = await Member.open('po-c0', e2e.kubeconfig);
    c1 = await Member.open('po-c1', kubeconfig1);
    const ids = new Map<Member, ChartIdentity>();
    for (const m of [c0, c1]) {
      const prop = await m.client.get<Property>(R.clusterProperty, CLUSTER_PROPERTY);
      savedProperties.set(m, prop);
      if (prop) await m.client.delete(R.clusterProperty, CLUSTER_PROPERTY);
      await m.ensureNamespace(NS);
      const id = await chartIdentity(m.kubeconfig, SYSTEM);
      identities.push(id);
      ids.set(m, id);
    }
    // Each reads the other with the other's ServiceAccount token: the chart's RBAC on both sides.
    await c0.apply(memberSecret(SYSTEM, { id: c1.id, kubeconfig: ids.get(c1)!.kubeconfig }));
    await c1.apply(memberSecret(SYSTEM, { id: c0.id, kubeconfig: ids.get(c0)!.kubeconfig }));
    // A member Secret outside the operator's namespace: never a peer.
    await c0.apply({ ...memberSecret(NS, { id: 'po-stray', kubeconfig: ids.get(c1)!.kubeconfig }), metadata: { name: 'member-po-stray', namespace: NS, labels: { 'mizzen.io/cluster-member': 'true' } } });
    for (const m of [c0, c1]) {
      for (const name of names) {
        await m.apply(deployment(NS, name, 2));
        await m.apply(service(NS, name));
        await m.apply(serviceExport(NS, name));
      }
    }
    await Promise.all(
      [c0, c1].map(async (m) => {
        const op = await startOperatorProcess(ids.get(m)!.kubeconfig, ['--no-leader-elect', '--controllers', 'serviceexport', '--namespace', SYSTEM, '--cluster-id', m.id]);
        ops.set(m.id, op);
        await waitFor(`${m.id}'s operator to sync its peer`, () => op.logs.find((l) => l.message === 'Synced peer cluster'), 120_000, 200);
      }),
    );
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') for (const [id, op] of ops) console.log(`      ${id} operator log:\n${logTail(op, 40)}`);
  });

  after(async function () {
    this.timeout(300_000);
    await clusterCmd('start-apiserver', second.name).catch(() => undefined);
    await Promise.all([...ops.values()].map((op) => stopOperator(op)));
    for (const m of [c0, c1]) {
      if (!m) continue;
      await m.client.delete(R.namespace, NS).catch(() => undefined);
      await m.client.delete(R.secret, `member-${m === c0 ? c1?.id : c0?.id}`, SYSTEM).catch(() => undefined);
      await m.client.delete(R.clusterProperty, CLUSTER_PROPERTY).catch(() => undefined);
      const saved = savedProperties.get(m);
      if (saved) await m.client.create({ apiVersion: saved.apiVersion, kind: saved.kind, metadata: { name: saved.metadata.name }, spec: saved.spec }).catch(() => undefined);
      m.close();
    }
    for (const id of identities) await id.remove();
    await teardownSecondCluster();
  });

  /** c0's slices of `name` from `source` carry the ready endpoints of `source`'s own Service (and there are some). */
  const mirrors = async (source: Member, name: string, count?: number): Promise<boolean> => {
    const want = addresses(await source.sourceSlices(NS, name));
    const got = addresses(await c0.importedSlices(NS, name, source.id));
    return want.length > 0 && (count === undefined || want.length === count) && JSON.stringify(want) === JSON.stringify(got);
  };

  /** What a failed recovery step needs to be understood: c1's nodes and pods, and the slices on both sides. */
  const recoveryState = async (name: string, readyBefore: string[]): Promise<string> => {
    const nodes = (await c1.client.list<V1Node & KubernetesObject>(R.node)).items.map((n) => {
      const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
      return `${n.metadata?.name ?? ''} Ready=${ready?.status ?? '?'} (${ready?.reason ?? ''}) taints=${JSON.stringify(n.spec?.taints ?? [])}`;
    });
    const leases = (await c1.client.list<V1Lease & KubernetesObject>(R.lease, { namespace: 'kube-node-lease' })).items.map((l) => `${l.metadata?.name ?? ''} renewed ${String(l.spec?.renewTime ?? '')}`);
    const pods = (await c1.client.list<V1Pod & KubernetesObject>(R.pod, { namespace: NS, labelSelector: `app=${name}` })).items.map(
      (p) => `${p.metadata?.name ?? ''} node=${p.spec?.nodeName ?? '-'} phase=${p.status?.phase ?? '?'} ready=${p.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? '?'} ip=${p.status?.podIP ?? '-'}`,
    );
    const want = addresses(await c1.sourceSlices(NS, name));
    const got = addresses(await c0.importedSlices(NS, name, c1.id));
    return [
      `      c1 nodes: ${nodes.join('; ')}`,
      `      c1 node leases: ${leases.join('; ')} (now ${new Date().toISOString()})`,
      `      c1 pods of ${name}: ${pods.join('; ')}`,
      `      ready before ${JSON.stringify(readyBefore)}; c1's slices ${JSON.stringify(want)}; c0's slices from c1 ${JSON.stringify(got)}`,
    ].join('\n');
  };

  const uids = async (): Promise<{ set: Set<string>; c1Slices: number; versions: string[] }> => {
    const imports = await c0.client.list<Import>(R.serviceImport, { namespace: NS });
    const slices = await c0.client.list<V1EndpointSlice & KubernetesObject>(R.endpointSlice, { namespace: NS, labelSelector: SLICES });
    const set = new Set([...imports.items, ...slices.items].map((o) => `${o.kind ?? ''} ${o.metadata?.name ?? ''} ${o.metadata?.uid ?? ''}`));
    const c1Slices = slices.items.filter((sl) => sl.metadata?.labels?.['multicluster.kubernetes.io/source-cluster'] === c1.id).length;
    return { set, c1Slices, versions: [imports.resourceVersion, slices.resourceVersion] };
  };

  it(`keeps every import and slice through a ${OUTAGE_MS / 1000} s outage of the peer, says so, and recovers`, async function () {
    const op0 = ops.get(c0.id)!;
    for (const name of names) await waitFor(`c0 to mirror c1's endpoints of ${name}`, () => mirrors(c1, name, 2), 120_000, 500);
    for (const name of names) await waitFor(`c0's import ${name} to be ClustersSynced`, async () => isTrue(await c0.getImport(NS, name), 'ClustersSynced'), 60_000, 500);
    const before = await uids();
    const kc = new KubeConfig();
    kc.loadFromFile(e2e.kubeconfig);
    const watch = new DeletionWatch(kc, [{ path: `/apis/multicluster.x-k8s.io/v1alpha1/namespaces/${NS}/serviceimports` }, { path: `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`, labelSelector: SLICES }]);
    await watch.start(before.versions);
    console.log(`      ${SERVICES} services exported from both clusters: ${before.set.size} ServiceImports and imported EndpointSlices in c0; load average ${loadAverage()}`);

    const reconciles0 = await metricSum(op0, 'mizzen_reconcile_total', { controller: 'serviceexport' });
    // Refusals: c0's API server never goes away, so none of its operator's requests may be refused. c1's API server
    // answers 403 while it starts (it listens before it has loaded its RBAC roles), so c1's operator and c0's reads
    // of c1 are held to none only before the outage and once c1 is ready and synced again.
    const op1 = ops.get(c1.id)!;
    const refusedBefore = { c1: await refusedTotal(op1), logs0: refusedInLogs(op0.logs), logs1: refusedInLogs(op1.logs) };
    const outageLogs = { c0: op0.logs.length, c1: op1.logs.length };
    const t0 = Date.now();
    await clusterCmd('stop-apiserver', second.name);
    let toCondition: number;
    let localMs: number;
    let stoppedMs: number;
    let atEnd: Awaited<ReturnType<typeof uids>>;
    let deletedInOutage: string[];
    let polls = 0;
    try {
      // Every import says which peer it cannot reach, and keeps listing it.
      await waitFor(
        'every import in c0 to say c1 is unreachable',
        async () => {
          for (const name of names) {
            const imp = await c0.getImport(NS, name);
            const c = condition(imp, 'ClustersSynced');
            if (c?.status !== 'False' || c.reason !== 'ClusterUnreachable' || !c.message.includes(`"${c1.id}"`)) return false;
          }
          return true;
        },
        60_000,
        250,
      );
      toCondition = Date.now() - t0;
      // c0's own endpoints still propagate while c1 is away.
      const l0 = Date.now();
      await c0.scale(NS, names[0]!, 3);
      await waitFor("c0's own scale-up to reach its import's slices", () => mirrors(c0, names[0]!, 3), 60_000, 250);
      localMs = Date.now() - l0;
      // The rest of the outage: everything stays, and each import keeps both clusters.
      while (Date.now() - t0 < OUTAGE_MS) {
        polls++;
        expect(op0.child.exitCode, "c0's operator is still running").to.equal(null);
        for (const name of names) {
          const imp = await c0.getImport(NS, name);
          expect(imp, `import ${name}`).to.not.equal(undefined);
          expect((imp!.status?.clusters ?? []).map((c) => c.cluster).sort(), `import ${name}'s clusters`).to.deep.equal([c0.id, c1.id].sort());
        }
        expect(watch.deleted, 'ServiceImports and EndpointSlices deleted in c0 during the outage').to.deep.equal([]);
        await new Promise((r) => setTimeout(r, 2000));
      }
      stoppedMs = Date.now() - t0;
      atEnd = await uids();
      deletedInOutage = [...watch.deleted];
    } finally {
      await clusterCmd('start-apiserver', second.name);
    }
    const back = Date.now();
    // Evidence the operator kept working through the outage, not that it was idle.
    const reconciles = (await metricSum(op0, 'mizzen_reconcile_total', { controller: 'serviceexport' })) - reconciles0;
    console.log(
      `      c1's API server stopped ${stoppedMs} ms (start took ${back - t0 - stoppedMs} ms): ClustersSynced=False ClusterUnreachable on every import after ${toCondition} ms; c0's own scale-up reached its slices in ${localMs} ms; ${polls} checks, ${reconciles} serviceexport reconciles in c0; DELETED events ${deletedInOutage.length}`,
    );
    expect(deletedInOutage, 'ServiceImports and EndpointSlices deleted in c0 during the outage').to.deep.equal([]);
    expect([...before.set].filter((k) => !atEnd.set.has(k)), 'objects of before the outage whose uid was gone at its end').to.deep.equal([]);
    expect(reconciles, 'serviceexport reconciles in c0 during the outage').to.be.above(0);
    expect(atEnd.c1Slices, "c1's slices in c0 at the end of the outage").to.equal(before.c1Slices);

    // Recovery: the condition clears in both clusters and an endpoint change in c1 reaches c0 again. (c1's nodes were
    // not heard from for the whole outage, so its node controller may mark its pods not ready until kwok reports them
    // ready again: c0 mirrors that too, dropping and then re-creating c1's slices, which is counted apart below.)
    for (const m of [c0, c1]) {
      for (const name of names) await waitFor(`${m.id}'s import ${name} to be ClustersSynced again`, async () => isTrue(await m.getImport(NS, name), 'ClustersSynced'), 120_000, 250);
    }
    const syncedMs = Date.now() - back;
    const steadyFrom = { c1: await refusedTotal(op1), c0: op0.logs.length, logs1: op1.logs.length };
    const moved = names[1] ?? names[0]!;
    const readyBefore = addresses(await c1.sourceSlices(NS, moved));
    const s0 = Date.now();
    await c1.scale(NS, moved, 4);
    // Every service of c1 mirrored in c0 with all of its endpoints ready again: the scaled one with four (two new
    // pods), the others with their two (slices c0 dropped while c1's pods were marked not ready come back).
    const mirrored = await waitFor(
      "c1's scale-up and its other services' endpoints to reach c0's slices",
      async () => {
        for (const name of names) if (!(await mirrors(c1, name, name === moved ? 4 : 2))) return undefined;
        return addresses(await c0.importedSlices(NS, moved, c1.id));
      },
      180_000,
      250,
    ).catch(async (err: unknown) => {
      console.log(await recoveryState(moved, readyBefore));
      throw err;
    });
    const propagateMs = Date.now() - s0;
    watch.stop();
    const deletedAfter = watch.deleted.slice(deletedInOutage.length);
    console.log(
      `      c1 back: every import ClustersSynced=True in both clusters ${syncedMs} ms after /readyz; a scale-up in c1 reached c0's slices in ${propagateMs} ms (${readyBefore.length} ready endpoints before, ${mirrored.length} after); deleted in c0 after c1 was back: ${deletedAfter.length} (${deletedAfter.join(', ') || 'none'}); load average ${loadAverage()}`,
    );

    // The chart's RBAC on both sides: no request refused outside c1's start, and the stray member Secret never read
    // as a peer.
    for (const [id, op] of ops) console.log(`      ${id}: ${await metricSum(op, 'mizzen_api_requests_total')} API requests with the chart's ServiceAccount token, refused: ${JSON.stringify(await refusedRequests(op))}`);
    console.log(`      log lines of refused requests while c1 was away or starting: c0 ${refusedInLogs(op0.logs.slice(outageLogs.c0, steadyFrom.c0)).length}, c1 ${refusedInLogs(op1.logs.slice(outageLogs.c1, steadyFrom.logs1)).length}`);
    expect(await refusedTotal(op0), "c0: requests refused with the chart's RBAC").to.equal(0);
    expect(refusedBefore.c1, "c1: requests refused with the chart's RBAC before the outage").to.equal(0);
    expect((await refusedTotal(op1)) - steadyFrom.c1, "c1: requests refused with the chart's RBAC after it was back").to.equal(0);
    expect([...refusedBefore.logs0, ...refusedBefore.logs1], 'log lines of refused requests before the outage').to.deep.equal([]);
    expect([...refusedInLogs(op0.logs.slice(steadyFrom.c0)), ...refusedInLogs(op1.logs.slice(steadyFrom.logs1))], 'log lines of refused requests after c1 was back').to.deep.equal([]);
    // Neither cluster's token (each operator's own, and the one it reads its peer with) is in a log line.
    for (const id of identities) for (const op of ops.values()) expect(tokenInLogs(op.logs, id.token), 'log lines carrying a token').to.deep.equal([]);
    // A member Secret read is logged ("Added peer cluster" naming its cluster id): c1's is, the stray one never.
    expect(op0.logs.some((l) => l.message === 'Added peer cluster' && l.cluster === c1.id), "c0's operator added c1 from mizzen-system").to.equal(true);
    expect(op0.logs.filter((l) => JSON.stringify(l).includes('po-stray')), 'log lines about the member Secret outside mizzen-system').to.deep.equal([]);
    expect(JSON.stringify((await c0.client.list<Import>(R.serviceImport, { namespace: NS })).items.map((i) => i.status)), 'imports naming the stray cluster').to.not.contain('po-stray');
  });
});
