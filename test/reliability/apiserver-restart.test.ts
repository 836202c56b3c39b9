// Fault suite: the API server restarted several times while the operator reconciles IstioOperators, RevisionTags and
// ServiceExports that were just changed. After each restart everything must converge again (a status for the
// current generation; each export imported once), nothing may be lost or duplicated; the time to converge after
// each restart is printed. The operator runs with exactly the Helm chart's RBAC (a token of its ServiceAccount) and
// must not be refused a single request. Runs on the e2e cluster (test/e2e/hooks.ts).
import os from 'node:os';
import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import { KubeClient } from '../../operator/src/kube/client.js';
import { R, type ResourceType } from '../../operator/src/kube/resources.js';
import { e2e } from '../e2e/lib/env.js';
import { clusterCmd, kubectl, waitFor } from '../e2e/lib/cluster.js';
import { logTail, metricSum, startOperatorProcess, stopOperatorProcess, type OperatorProcess } from '../e2e/lib/operator.js';
import { service, serviceExport } from '../e2e/mcs/helpers.js';
import { quantile } from '../e2e/lib/stats.js';
import { chartIdentity, refusedInLogs, refusedRequests, refusedTotal, tokenInLogs, type ChartIdentity } from '../e2e/lib/rbac.js';
import { scale } from './scale.js';

const RESTARTS = scale('MIZZEN_FAULT_RESTARTS', 10, 30);
/** Objects of each kind: IstioOperators, RevisionTags, ServiceExports (with their Services). */
const EACH = scale('MIZZEN_FAULT_OBJECTS', 50, 50);
const NS = 'mz-restart';

interface Cond {
  type: string;
  status: string;
  reason?: string;
  observedGeneration?: number;
}
type Obj = KubernetesObject & { status?: { status?: string; conditions?: Cond[] } };

describe('reliability: the API server restarted during reconciles of IstioOperators, RevisionTags and ServiceExports', function () {
  this.timeout((10 + RESTARTS * 2) * 60_000);
  let client: KubeClient;
  let op: OperatorProcess | undefined;
  let identity: ChartIdentity | undefined;
  /** Whether the cluster had an id before; if not, the one the operator sets is removed afterwards for later suites. */
  let hadProperty = false;
  const names = Array.from({ length: EACH }, (_, i) => `rs-${i}`);

  before(async () => {
    client = await KubeClient.create(KubeClient.loadConfig(e2e.kubeconfig));
    await waitFor(`namespace ${NS} of an earlier run to be gone`, async () => !(await client.get(R.namespace, NS))?.metadata?.deletionTimestamp, 180_000, 500);
    await kubectl(e2e.kubeconfig, ['create', 'namespace', NS]).catch(() => undefined);
    // The cluster's id may already be set (ClusterProperty, by an earlier suite): a different --cluster-id would stop
    // the operator, so use it.
    const property = await client.get<KubernetesObject & { spec?: { value?: string } }>(R.clusterProperty, 'cluster.clusterset.k8s.io');
    hadProperty = property !== undefined;
    identity = await chartIdentity(e2e.kubeconfig);
    op = await startOperatorProcess(identity.kubeconfig, ['--no-leader-elect', '--controllers', 'istiooperator,revisiontag,serviceexport', '--cluster-id', property?.spec?.value ?? 'restart-c0']);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`      operator log:\n${logTail(op, 60)}`);
  });

  after(async function () {
    this.timeout(300_000);
    await kubectl(e2e.kubeconfig, ['-n', NS, 'delete', 'istiooperators,revisiontags,serviceexports', '--all', '--timeout=180s']).catch(() => undefined);
    await stopOperatorProcess(op);
    await identity?.remove();
    if (!hadProperty) await client.delete(R.clusterProperty, 'cluster.clusterset.k8s.io').catch(() => undefined);
    await kubectl(e2e.kubeconfig, ['delete', 'namespace', NS, '--wait=false']).catch(() => undefined);
    client.close();
  });

  /** Changes every object's spec (a new round number); returns the generation each one has now. */
  const applyAll = async (round: number): Promise<Map<string, number>> => {
    const gens = new Map<string, number>();
    const docs: KubernetesObject[] = [];
    for (const [i, name] of names.entries()) {
      docs.push({ apiVersion: 'install.istio.io/v1alpha1', kind: 'IstioOperator', metadata: { name, namespace: NS }, spec: { profile: 'empty', revision: `rs${i}`, values: { pilot: { env: { FAULT_ROUND: String(round) } } } } } as KubernetesObject);
      // A tag of another IstioOperator's revision each round: it moves while the API server goes away. The empty
      // profile installs no injector, so each tag must report Ready=False (RevisionNotFound) for its generation.
      docs.push({ apiVersion: 'install.istio.io/v1alpha1', kind: 'RevisionTag', metadata: { name: `tag-${i}`, namespace: NS }, spec: { revision: `rs${(i + round) % EACH}` } } as KubernetesObject);
      docs.push(service(NS, name, { ports: [{ name: 'http', port: 80 + round, targetPort: 8080 }] }));
      docs.push(serviceExport(NS, name));
    }
    await Promise.all(
      docs.map(async (d) => {
        const o = await client.apply(d, { force: true });
        gens.set(`${d.kind}/${d.metadata?.name ?? ''}`, o.metadata?.generation ?? 0);
      }),
    );
    return gens;
  };

  /** Every object has a status for its current generation; each export has exactly one import with its port. */
  const converged = async (round: number): Promise<string | true> => {
    const check = async (t: ResourceType, ok: (o: Obj) => boolean): Promise<string | undefined> => {
      const items = (await client.list<Obj>(t, { namespace: NS })).items;
      if (items.length !== EACH) return `${items.length} ${t.kind}s`;
      const bad = items.find((o) => !ok(o));
      return bad ? `${t.kind} ${bad.metadata?.name ?? ''}: ${JSON.stringify(bad.status?.conditions ?? bad.status ?? null)}` : undefined;
    };
    const atGeneration = (o: Obj, type: string): Cond | undefined => o.status?.conditions?.find((c) => c.type === type && c.observedGeneration === o.metadata?.generation);
    const problem =
      (await check(R.istioOperator, (o) => o.status?.status === 'HEALTHY' && atGeneration(o, 'Ready')?.status === 'True')) ??
      (await check(R.revisionTag, (o) => atGeneration(o, 'Ready')?.reason === 'RevisionNotFound')) ??
      (await check(R.serviceExport, (o) => (o.status?.conditions ?? []).length > 0 && (o.status?.conditions ?? []).every((c) => c.observedGeneration === undefined || c.observedGeneration === o.metadata?.generation)));
    if (problem) return problem;
    const imports = (await client.list<KubernetesObject & { spec?: { ports?: { port: number }[] } }>(R.serviceImport, { namespace: NS })).items;
    const byName = new Map<string, number>();
    for (const i of imports) byName.set(i.metadata?.name ?? '', (byName.get(i.metadata?.name ?? '') ?? 0) + 1);
    const wrong = names.find((n) => byName.get(n) !== 1 || imports.find((i) => i.metadata?.name === n)?.spec?.ports?.[0]?.port !== 80 + round);
    if (wrong) return `ServiceImport ${wrong}: ${byName.get(wrong) ?? 0} of them, ${JSON.stringify(imports.find((i) => i.metadata?.name === wrong)?.spec?.ports ?? [])}`;
    if (imports.length !== EACH) return `${imports.length} ServiceImports`;
    return true;
  };

  it(`converges after each of ${RESTARTS} API server restarts during reconciles of ${EACH} objects of each kind; nothing lost or duplicated; no request refused with the chart's RBAC`, async function () {
    console.log(`      ${EACH} IstioOperators, ${EACH} RevisionTags, ${EACH} ServiceExports; ${RESTARTS} restarts; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    const t0 = Date.now();
    await applyAll(0);
    await waitFor('everything to converge before the first restart', async () => (await converged(0)) === true, 180_000, 500);
    console.log(`      first convergence ${Date.now() - t0} ms`);

    // Refusals are counted apart for the windows in which an API server is starting: one that listens but has not
    // loaded its RBAC roles yet answers 403 ("clusterrole ... not found") until it is ready. Outside those windows
    // the chart's RBAC must let every request through.
    const steady = { refused: await refusedTotal(op!), logs: refusedInLogs(op!.logs) };
    let steadyFrom: { refused: number; logs: number };
    let restartRefused = 0;
    const restartTimes: number[] = [];
    const convergeTimes: number[] = [];
    // The last round has no restart: a steady round after the restarts.
    for (let round = 1; round <= RESTARTS + 1; round++) {
      const restart = round <= RESTARTS;
      const reconciles = await metricSum(op!, 'mizzen_reconcile_total');
      steadyFrom = { refused: await refusedTotal(op!), logs: op!.logs.length };
      const gens = await applyAll(round);
      // The restart starts while the operator works through the changes.
      await waitFor('the operator to start on the changes', async () => (await metricSum(op!, 'mizzen_reconcile_total')) > reconciles, 30_000, 20);
      const r0 = Date.now();
      const refusedBefore = await refusedTotal(op!);
      if (restart) {
        steady.refused += refusedBefore - steadyFrom.refused;
        steady.logs.push(...refusedInLogs(op!.logs.slice(steadyFrom.logs)));
      }
      if (restart) await clusterCmd('restart-apiserver', e2e.name);
      const back = Date.now();
      if (restart) restartTimes.push(back - r0);
      let last: string | true = '';
      await waitFor(
        `everything to converge after ${restart ? `restart ${round}` : 'the last change'}`,
        async () => {
          last = await converged(round);
          return last === true;
        },
        180_000,
        250,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}; last problem: ${String(last)}`);
      });
      if (restart) convergeTimes.push(Date.now() - back);
      if (restart) restartRefused += (await refusedTotal(op!)) - refusedBefore;
      else {
        steady.refused += (await refusedTotal(op!)) - steadyFrom.refused;
        steady.logs.push(...refusedInLogs(op!.logs.slice(steadyFrom.logs)));
      }
      // Nothing was written over by the operator: each spec still has the generation our apply left.
      for (const [t, kind] of [
        [R.istioOperator, 'IstioOperator'],
        [R.revisionTag, 'RevisionTag'],
        [R.serviceExport, 'ServiceExport'],
      ] as const) {
        for (const o of (await client.list(t, { namespace: NS })).items) expect(o.metadata?.generation, `${kind} ${o.metadata?.name ?? ''} generation`).to.equal(gens.get(`${kind}/${o.metadata?.name ?? ''}`));
      }
      expect(op!.child.exitCode, 'the operator is still running').to.equal(null);
      if (restart) console.log(`      restart ${round}: ${back - r0} ms, converged ${convergeTimes.at(-1)!} ms after /readyz`);
    }
    console.log(`      API server restarts took p50 ${quantile(restartTimes, 0.5)} ms, max ${Math.max(...restartTimes)} ms`);
    console.log(`      converged after each restart (from /readyz): p50 ${quantile(convergeTimes, 0.5)} ms, max ${Math.max(...convergeTimes)} ms; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    const tags = (await client.list<Obj>(R.revisionTag, { namespace: NS })).items.map((o) => o.status?.conditions?.find((c) => c.type === 'Ready')?.reason ?? '?');
    console.log(`      RevisionTag Ready reasons: ${[...new Set(tags)].map((r) => `${tags.filter((x) => x === r).length}× ${r}`).join(', ')}`);
    // The chart's RBAC was enough: no request refused outside the restarts, none logged.
    const total = await metricSum(op!, 'mizzen_api_requests_total');
    console.log(`      ${total} API requests with the chart's ServiceAccount token: ${steady.refused} refused outside the restarts, ${restartRefused} while an API server was starting (${JSON.stringify(await refusedRequests(op!))})`);
    expect(steady.refused, "requests refused with the chart's RBAC outside the restarts").to.equal(0);
    expect(steady.logs, 'log lines of refused requests outside the restarts').to.deep.equal([]);
    expect(tokenInLogs(op!.logs, identity!.token), 'log lines carrying the operator token').to.deep.equal([]);
  });
});
