// Multi-Cluster Services on two real local clusters: c0 (the shared e2e cluster) and c1 (a second one), each with
// kwok nodes running real Deployments and StatefulSets, each with its own `mizzen operator` process that reads
// both clusters and writes only its own. Every rule of issue 6 is its own test.
import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ClusterProperty } from '../../../operator/src/api/index.js';
import { R } from '../../../operator/src/kube/resources.js';
import { e2e } from '../lib/env.js';
import { clusterCmd, waitFor } from '../lib/cluster.js';
import { ensureSecondCluster, second, teardownSecondCluster } from '../lib/multicluster.js';
import { logTail, metricSum, startOperatorProcess, waitForReconcile, type OperatorProcess } from '../lib/operator.js';
import {
  addresses,
  condition,
  deployment,
  isTrue,
  LABEL_MANAGED_BY,
  LABEL_SERVICE,
  LABEL_SOURCE,
  MANAGED_BY,
  Member,
  memberSecret,
  service,
  serviceExport,
  serviceExportV1beta1,
  serviceImportV1beta1,
  statefulSet,
  stopOperator,
  type Import,
  type ServiceSpec,
} from './helpers.js';

const NS = 'mcs-e2e';
/** Exists in c0 only. */
const NS_C0_ONLY = 'mcs-e2e-c0only';
/** The operators' namespace: member Secrets. */
const SYSTEM = 'mcs-e2e-system';
const CLUSTER_PROPERTY = 'cluster.clusterset.k8s.io';

type Property = ClusterProperty & KubernetesObject;

describe('multi-cluster services (two clusters, one operator each)', function () {
  this.timeout(60_000);
  let c0: Member;
  let c1: Member;
  const ops: OperatorProcess[] = [];
  /** The running operator of each member, by cluster id. */
  const opOf = new Map<string, OperatorProcess>();
  /** ClusterProperties that existed before the suite, restored after it. */
  const savedProperties = new Map<Member, Property | undefined>();
  const figures: string[] = [];

  async function startOperator(m: Member): Promise<OperatorProcess> {
    const op = await startOperatorProcess(m.kubeconfig, ['--no-leader-elect', '--controllers', 'serviceexport', '--namespace', SYSTEM, '--cluster-id', m.id], {
      MIZZEN_PEER_PROBE_INTERVAL: '500ms',
    });
    ops.push(op);
    opOf.set(m.id, op);
    return op;
  }

  /** The serviceexport controller's reconcile counts of these members' operators, now. */
  async function reconcileCounts(...members: Member[]): Promise<number[]> {
    return Promise.all(members.map((m) => metricSum(opOf.get(m.id)!, 'mizzen_reconcile_total', { controller: 'serviceexport' })));
  }

  /** Evidence that the operators looked: each reconciled since `since` and has drained its queue. */
  async function looked(members: Member[], since: number[]): Promise<void> {
    await Promise.all(members.map((m, i) => waitForReconcile(opOf.get(m.id)!, 'serviceexport', since[i]!)));
  }

  before(async function () {
    this.timeout(240_000);
    const kubeconfig1 = await ensureSecondCluster();
    c0 = await Member.open('c0', e2e.kubeconfig);
    c1 = await Member.open('c1', kubeconfig1);
    for (const m of [c0, c1]) {
      const prop = await m.client.get<Property>(R.clusterProperty, CLUSTER_PROPERTY);
      savedProperties.set(m, prop);
      if (prop) await m.client.delete(R.clusterProperty, CLUSTER_PROPERTY);
      for (const ns of [NS, SYSTEM]) await m.ensureNamespace(ns);
    }
    await c0.ensureNamespace(NS_C0_ONLY);
    await c0.apply(memberSecret(SYSTEM, c1));
    await c1.apply(memberSecret(SYSTEM, c0));
    const [op0, op1] = await Promise.all([startOperator(c0), startOperator(c1)]);
    for (const op of [op0, op1]) await waitFor('the peer cluster to sync', () => op?.logs.find((l) => l.message === 'Synced peer cluster'), 60_000);
  });

  after(async function () {
    this.timeout(120_000);
    await Promise.all(ops.map((op) => stopOperator(op)));
    if (this.currentTest?.state === 'failed' || ops.some((o) => o.logs.some((l) => l.level === 'error'))) {
      for (const op of ops) console.log(logTail(op, 40));
    }
    for (const m of [c0, c1]) {
      if (!m) continue;
      // Namespace deletion takes the test's objects and everything mizzen made for them.
      for (const ns of [NS, SYSTEM, NS_C0_ONLY]) await m.client.delete(R.namespace, ns).catch(() => undefined);
      await m.client.delete(R.clusterProperty, CLUSTER_PROPERTY).catch(() => undefined);
      const saved = savedProperties.get(m);
      if (saved) await m.client.create({ apiVersion: saved.apiVersion, kind: saved.kind, metadata: { name: saved.metadata.name }, spec: saved.spec });
      m.close();
    }
    if (figures.length) console.log(`      MCS figures: ${figures.join('; ')}`);
    await teardownSecondCluster();
  });

  /** Waits until `m` has a ServiceImport for `name` that satisfies `ok`, and returns it. */
  function importIn(m: Member, name: string, ok: (i: Import) => boolean = (i) => isTrue(i, 'Ready'), ns = NS, timeoutMs = 30_000): Promise<Import> {
    return waitFor(`ServiceImport ${ns}/${name} in ${m.id}`, async () => {
      const i = await m.getImport(ns, name);
      return i && ok(i) ? i : undefined;
    }, timeoutMs);
  }

  async function exportWithDeployment(m: Member, name: string, replicas = 2, spec: Partial<ServiceSpec> = {}): Promise<void> {
    await m.apply(deployment(NS, name, replicas));
    await m.apply(service(NS, name, spec));
    await m.apply(serviceExport(NS, name));
  }

  /**
   * `m`'s slices of `name` from `source` mirror the ready endpoints of `source`'s own Service: `count` of them, or
   * any number (`count` undefined), or also none (`anyCount`).
   */
  async function slicesMirror(m: Member, source: Member, name: string, count?: number, anyCount = false): Promise<string[]> {
    return waitFor(`${m.id}'s slices of ${name} from ${source.id} to mirror ${count ?? 'its'} endpoints`, async () => {
      const want = addresses(await source.sourceSlices(NS, name));
      const got = addresses(await m.importedSlices(NS, name, source.id));
      const ok = (anyCount || want.length > 0) && (count === undefined || want.length === count) && JSON.stringify(want) === JSON.stringify(got);
      if (!ok) throw new Error(`${source.id} has ready endpoints [${want.join(', ')}], ${m.id} mirrors [${got.join(', ')}]`);
      return got;
    });
  }

  it('an export on c0 gives a ClusterSetIP import in c0 and c1, and the export is Valid and Ready', async function () {
    await c0.apply(deployment(NS, 'web', 2));
    await c0.apply(service(NS, 'web'));
    const t0 = Date.now();
    await c0.apply(serviceExport(NS, 'web'));
    const imp1 = await importIn(c1, 'web');
    figures.push(`export→import in the peer ${Date.now() - t0} ms`);
    const imp0 = await importIn(c0, 'web');
    for (const imp of [imp0, imp1]) {
      expect(imp.spec?.type).to.equal('ClusterSetIP');
      expect(imp.spec?.ports).to.deep.equal([{ name: 'http', protocol: 'TCP', port: 80 }]);
      expect(imp.status?.clusters).to.deep.equal([{ cluster: 'c0' }]);
      expect(condition(imp, 'ClustersSynced')).to.include({ status: 'True' });
    }
    const ex = await waitFor('the export to be Ready', async () => {
      const e = await c0.getExport(NS, 'web');
      return isTrue(e, 'Ready') ? e : undefined;
    });
    expect(condition(ex, 'Valid')).to.include({ status: 'True', reason: 'Valid', observedGeneration: 1 });
    expect(condition(ex, 'Conflict')).to.include({ status: 'False', reason: 'NoConflicts' });
  });

  it('each cluster gets the import its own clusterset IP, one per IP family, from a derived Service it owns', async function () {
    const ips: string[] = [];
    for (const m of [c0, c1]) {
      const imp = await importIn(m, 'web', (i) => (i.spec?.ips ?? []).length > 0);
      const [derived, ...more] = await m.derivedServices(NS, 'web');
      expect(more).to.have.length(0);
      expect(derived?.spec?.type).to.equal('ClusterIP');
      expect(derived?.spec?.selector).to.equal(undefined);
      expect(derived?.metadata?.ownerReferences).to.equal(undefined);
      expect(imp.metadata?.annotations?.['multicluster.kubernetes.io/derived-service']).to.equal(derived?.metadata?.name);
      expect(imp.spec?.ipFamilies).to.deep.equal(['IPv4']);
      expect(imp.spec?.ips).to.deep.equal(derived?.spec?.clusterIPs);
      expect(imp.spec?.ips).to.have.length(1);
      expect(imp.spec?.ips?.[0]).to.match(/^\d+\.\d+\.\d+\.\d+$/);
      ips.push(imp.spec?.ips?.[0] ?? '');
    }
    expect(ips[0]).to.not.equal(ips[1]);
    // A Service that prefers dual stack, in these single-stack clusters: still one family and one IP.
    await exportWithDeployment(c0, 'dual', 1, { ipFamilyPolicy: 'PreferDualStack' });
    for (const m of [c0, c1]) {
      const imp = await importIn(m, 'dual');
      expect(imp.spec?.ipFamilies).to.deep.equal(['IPv4']);
      expect(imp.spec?.ips).to.have.length(1);
    }
  });

  it('both clusters hold slices of the export with the three MCS labels, mirroring its ready endpoints', async function () {
    for (const m of [c0, c1]) {
      await slicesMirror(m, c0, 'web', 2);
      const slices = await m.importedSlices(NS, 'web');
      expect(slices.length).to.be.greaterThan(0);
      for (const s of slices) {
        expect(s.metadata?.labels).to.include({ [LABEL_SERVICE]: 'web', [LABEL_SOURCE]: 'c0', [LABEL_MANAGED_BY]: MANAGED_BY });
        expect(s.ports).to.deep.equal([{ name: 'http', port: 8080, protocol: 'TCP' }]);
        expect(s.metadata?.ownerReferences?.[0]).to.include({ kind: 'ServiceImport', name: 'web' });
        for (const ep of s.endpoints) expect(ep.targetRef).to.equal(undefined);
      }
    }
    // Node names mean something only in the cluster of the node.
    const remote = (await c1.importedSlices(NS, 'web')).flatMap((s) => s.endpoints);
    expect(remote.every((e) => e.nodeName === undefined)).to.equal(true);
  });

  it('scaling the Deployment changes the slices in both clusters', async function () {
    await c0.scale(NS, 'web', 4);
    const t0 = Date.now();
    await slicesMirror(c1, c0, 'web', 4);
    figures.push(`scale 2→4 visible in the peer ${Date.now() - t0} ms`);
    await slicesMirror(c0, c0, 'web', 4);
    await c0.scale(NS, 'web', 1);
    await slicesMirror(c1, c0, 'web', 1);
    await slicesMirror(c0, c0, 'web', 1);
    // No ready endpoint left: the peer drops the source's slices; ready endpoints again: it mirrors them again.
    await c0.scale(NS, 'web', 0);
    await slicesMirror(c1, c0, 'web', 0, true);
    await c0.scale(NS, 'web', 2);
    await slicesMirror(c1, c0, 'web', 2);
    await slicesMirror(c0, c0, 'web', 2);
  });

  it('a headless Service is imported as Headless: no IPs, no derived Service, slices keep the hostnames', async function () {
    await c0.apply(statefulSet(NS, 'db', 2));
    await c0.apply(service(NS, 'db', { clusterIP: 'None', ports: [{ name: 'sql', port: 5432, targetPort: 5432 }] }));
    await c0.apply(serviceExport(NS, 'db'));
    for (const m of [c0, c1]) {
      const imp = await importIn(m, 'db');
      expect(imp.spec?.type).to.equal('Headless');
      expect(imp.spec?.ips).to.equal(undefined);
      expect(imp.metadata?.annotations?.['multicluster.kubernetes.io/derived-service']).to.equal(undefined);
      expect(await m.derivedServices(NS, 'db')).to.deep.equal([]);
      await slicesMirror(m, c0, 'db', 2);
      const slices = await m.importedSlices(NS, 'db');
      expect(slices.flatMap((s) => s.endpoints.map((e) => e.hostname)).sort()).to.deep.equal(['db-0', 'db-1']);
      for (const s of slices) expect(s.metadata?.labels?.['kubernetes.io/service-name']).to.equal(undefined);
    }
  });

  it('an ExternalName Service is not exported: Valid=False InvalidServiceType, and no import anywhere', async function () {
    const since = await reconcileCounts(c0, c1);
    await c0.apply(service(NS, 'ext', { type: 'ExternalName', externalName: 'example.com', selector: undefined, ports: [] }));
    await c0.apply(serviceExport(NS, 'ext'));
    const ex = await waitFor('the ExternalName export to be judged', async () => {
      const e = await c0.getExport(NS, 'ext');
      return condition(e, 'Valid') ? e : undefined;
    });
    expect(condition(ex, 'Valid')).to.include({ status: 'False', reason: 'InvalidServiceType' });
    expect(condition(ex, 'Ready')).to.include({ status: 'False', reason: 'Failed' });
    expect(condition(ex, 'Conflict')).to.equal(undefined);
    // Both operators reconciled after the export was made (c1 through its watch of c0) and have nothing queued.
    await looked([c0, c1], since);
    expect(await c0.getImport(NS, 'ext')).to.equal(undefined);
    expect(await c1.getImport(NS, 'ext')).to.equal(undefined);
  });

  it('a ServiceExport without a Service is Valid=False NoService', async function () {
    await c0.apply(serviceExport(NS, 'ghost'));
    const ex = await waitFor('the export without Service to be judged', async () => {
      const e = await c0.getExport(NS, 'ghost');
      return condition(e, 'Valid') ? e : undefined;
    });
    expect(condition(ex, 'Valid')).to.include({ status: 'False', reason: 'NoService' });
    expect(await c1.getImport(NS, 'ghost')).to.equal(undefined);
  });

  /** Waits until `m`'s export of `name` has Conflict=True and returns that condition. */
  async function conflictOn(m: Member, name: string): Promise<ReturnType<typeof condition>> {
    const ex = await waitFor(`${m.id}'s export of ${name} to be in conflict`, async () => {
      const e = await m.getExport(NS, name);
      return isTrue(e, 'Conflict') ? e : undefined;
    });
    return condition(ex, 'Conflict');
  }

  it('a port one cluster lacks is a PortConflict on both exports naming that cluster, and the import has the union', async function () {
    await exportWithDeployment(c0, 'api', 1, { ports: [{ name: 'http', port: 80, targetPort: 8080 }] });
    await importIn(c0, 'api');
    await exportWithDeployment(c1, 'api', 1, { ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'grpc', port: 9090, targetPort: 9090 }] });
    const want = [{ name: 'grpc', protocol: 'TCP', port: 9090 }, { name: 'http', protocol: 'TCP', port: 80 }];
    for (const m of [c0, c1]) {
      const imp = await importIn(m, 'api', (i) => (i.spec?.ports ?? []).length === 2 && (i.status?.clusters ?? []).length === 2);
      expect(imp.spec?.ports).to.deep.equal(want);
      expect(imp.status?.clusters).to.deep.equal([{ cluster: 'c0' }, { cluster: 'c1' }]);
      const conflict = await conflictOn(m, 'api');
      expect(conflict).to.include({ reason: 'PortConflict' });
      expect(conflict?.message).to.contain('1/2 clusters differ from the oldest export, in cluster "c0"').and.contain('"c1" has "grpc" TCP/9090');
      // The union stays: the derived Service serves both ports.
      const [derived] = await m.derivedServices(NS, 'api');
      expect(derived?.spec?.ports?.map((p) => `${p.name}/${p.port}`).sort()).to.deep.equal(['grpc/9090', 'http/80']);
    }
  });

  it('an unnamed port in one cluster and a named one in the other: a PortConflict on both exports, and a valid derived Service with both ports named', async function () {
    await exportWithDeployment(c0, 'mixed', 1, { ports: [{ port: 80, targetPort: 8080 }] });
    await importIn(c0, 'mixed');
    await exportWithDeployment(c1, 'mixed', 1, { ports: [{ name: 'metrics', port: 9090, targetPort: 9090 }] });
    const want = [{ name: 'metrics', protocol: 'TCP', port: 9090 }, { name: 'tcp-80', protocol: 'TCP', port: 80 }];
    for (const m of [c0, c1]) {
      const conflict = await conflictOn(m, 'mixed');
      expect(conflict).to.include({ reason: 'PortConflict' });
      expect(conflict?.message).to.contain('The unnamed port is named "tcp-80"');
      const imp = await importIn(m, 'mixed', (i) => isTrue(i, 'Ready') && (i.status?.clusters ?? []).length === 2 && (i.spec?.ports ?? []).length === 2);
      expect(imp.spec?.ports).to.deep.equal(want);
      const derived = await waitFor(`${m.id}'s derived Service of mixed to have both ports`, async () => {
        const [d] = await m.derivedServices(NS, 'mixed');
        return (d?.spec?.ports ?? []).length === 2 ? d : undefined;
      });
      expect(derived.spec?.ports?.map((p) => ({ name: p.name, protocol: p.protocol, port: p.port }))).to.deep.equal(want);
      expect(imp.spec?.ips).to.deep.equal(derived.spec?.clusterIPs);
      // c0's endpoints serve its unnamed port: their mirrored slice port takes the name kube-proxy matches. The
      // slices are written together with the statuses (ADR 0006 "Staged apply"), so the import's status does not
      // say they are: wait for them to be renamed.
      const fromC0 = await waitFor(`${m.id}'s slices of mixed from c0 to name the unnamed port`, async () => {
        const slices = await m.importedSlices(NS, 'mixed', 'c0');
        return slices.length > 0 && slices.every((sl) => (sl.ports ?? []).every((p) => (p.name ?? '') !== '')) ? slices : undefined;
      });
      for (const sl of fromC0) expect(sl.ports?.map((p) => p.name)).to.deep.equal(['tcp-80']);
      const ex = await m.getExport(NS, 'mixed');
      expect(condition(ex, 'Valid')).to.include({ status: 'True' });
      expect(condition(ex, 'Ready')).to.include({ status: 'True' });
    }
  });

  it('a port that differs across clusters is a PortConflict on both exports, and the oldest export wins', async function () {
    await exportWithDeployment(c0, 'pc', 1, { ports: [{ name: 'http', port: 80, targetPort: 8080 }] });
    await importIn(c0, 'pc');
    await exportWithDeployment(c1, 'pc', 1, { ports: [{ name: 'http', port: 8080, targetPort: 8080 }] });
    for (const m of [c0, c1]) {
      const ex = await waitFor(`${m.id}'s export of pc to be in conflict`, async () => {
        const e = await m.getExport(NS, 'pc');
        return isTrue(e, 'Conflict') ? e : undefined;
      });
      expect(condition(ex, 'Conflict')?.reason).to.equal('PortConflict');
      expect(condition(ex, 'Conflict')?.message).to.contain('1/2 clusters differ');
      const imp = await importIn(m, 'pc', (i) => (i.status?.clusters ?? []).length === 2);
      expect(imp.spec?.ports).to.deep.equal([{ name: 'http', protocol: 'TCP', port: 80 }]);
    }
  });

  it('session affinity and its timeout reach the import and the derived Service; a disagreeing cluster is a SessionAffinityConflict', async function () {
    await exportWithDeployment(c0, 'sticky', 1, { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } } });
    for (const m of [c0, c1]) {
      const imp = await importIn(m, 'sticky');
      expect(imp.spec?.sessionAffinity).to.equal('ClientIP');
      expect(imp.spec?.sessionAffinityConfig).to.deep.equal({ clientIP: { timeoutSeconds: 300 } });
      const [derived] = await m.derivedServices(NS, 'sticky');
      expect(derived?.spec?.sessionAffinity).to.equal('ClientIP');
      expect(derived?.spec?.sessionAffinityConfig?.clientIP?.timeoutSeconds).to.equal(300);
    }
    await exportWithDeployment(c1, 'sticky', 1);
    for (const m of [c0, c1]) {
      const ex = await waitFor(`${m.id}'s export of sticky to be in conflict`, async () => {
        const e = await m.getExport(NS, 'sticky');
        return isTrue(e, 'Conflict') ? e : undefined;
      });
      expect(condition(ex, 'Conflict')?.reason).to.equal('SessionAffinityConflict,SessionAffinityConfigConflict');
      expect((await m.getImport(NS, 'sticky'))?.spec?.sessionAffinity).to.equal('ClientIP');
    }
  });

  it("only the export's exportedLabels and exportedAnnotations are copied onto the import", async function () {
    await c0.apply(deployment(NS, 'lbl', 1));
    await c0.apply(service(NS, 'lbl', {}, { app: 'lbl', team: 'payments' }));
    await c0.apply(serviceExport(NS, 'lbl', { exportedLabels: { tier: 'frontend' }, exportedAnnotations: { 'example.com/owner': 'team-a' } }));
    for (const m of [c0, c1]) {
      const imp = await importIn(m, 'lbl');
      expect(imp.metadata?.labels).to.include({ tier: 'frontend' });
      expect(imp.metadata?.labels).to.not.have.any.keys('app', 'team');
      expect(imp.metadata?.annotations).to.include({ 'example.com/owner': 'team-a' });
    }
  });

  it('an export written at v1beta1 is served and imported, and the import reads the same at v1alpha1 and v1beta1', async function () {
    await c0.apply(deployment(NS, 'beta', 1));
    await c0.apply(service(NS, 'beta'));
    await c0.apply(serviceExport(NS, 'beta', undefined, 'v1beta1'));
    const alpha = await importIn(c1, 'beta');
    const beta = await c1.getImport(NS, 'beta', serviceImportV1beta1);
    expect(beta?.apiVersion).to.equal('multicluster.x-k8s.io/v1beta1');
    expect(beta?.spec).to.deep.equal(alpha.spec);
    const ex = await waitFor('the v1beta1 export to be Ready', async () => {
      const e = await c0.getExport(NS, 'beta', serviceExportV1beta1);
      return isTrue(e, 'Ready') ? e : undefined;
    });
    expect(ex.apiVersion).to.equal('multicluster.x-k8s.io/v1beta1');
  });

  it('a namespace that does not exist in a cluster gets no import there', async function () {
    const since = await reconcileCounts(c1);
    await c0.apply(deployment(NS_C0_ONLY, 'solo', 1));
    await c0.apply(service(NS_C0_ONLY, 'solo'));
    await c0.apply(serviceExport(NS_C0_ONLY, 'solo'));
    await importIn(c0, 'solo', undefined, NS_C0_ONLY);
    // c1 saw c0's export (its reconcile count moved) and has nothing left queued.
    await looked([c1], since);
    expect(await c1.getImport(NS_C0_ONLY, 'solo')).to.equal(undefined);
    // Once the namespace appears, the import follows.
    await c1.ensureNamespace(NS_C0_ONLY);
    await importIn(c1, 'solo', undefined, NS_C0_ONLY);
  });

  it('unexporting removes the import, the derived Service and every slice in both clusters within seconds', async function () {
    await importIn(c1, 'web');
    const t0 = Date.now();
    await c0.client.delete(R.serviceExport, 'web', NS);
    for (const m of [c0, c1]) {
      await waitFor(`${m.id} to drop everything of web`, async () => {
        const [imp, derived, slices] = await Promise.all([m.getImport(NS, 'web'), m.derivedServices(NS, 'web'), m.importedSlices(NS, 'web')]);
        return !imp && derived.length === 0 && slices.length === 0;
      }, 10_000);
    }
    const ms = Date.now() - t0;
    figures.push(`unexport→gone in both ${ms} ms`);
    expect(ms).to.be.lessThan(5000);
  });

  describe('membership', function () {
    before(async function () {
      await exportWithDeployment(c0, 'multi', 2);
      await exportWithDeployment(c1, 'multi', 2);
      for (const m of [c0, c1]) {
        await importIn(m, 'multi', (i) => (i.status?.clusters ?? []).length === 2);
        await slicesMirror(m, c0, 'multi', 2);
        await slicesMirror(m, c1, 'multi', 2);
      }
    });

    it('a service exported from both clusters has one slice set per source cluster in each', async function () {
      for (const m of [c0, c1]) {
        const sources = (await m.importedSlices(NS, 'multi')).map((s) => s.metadata?.labels?.[LABEL_SOURCE]);
        expect([...new Set(sources)].sort()).to.deep.equal(['c0', 'c1']);
      }
    });

    it("deleting a peer's member Secret removes that peer's slices; adding it back brings them back", async function () {
      await c0.client.delete(R.secret, 'member-c1', SYSTEM);
      await waitFor("c0 to drop c1's slices", async () => (await c0.importedSlices(NS, 'multi', 'c1')).length === 0, 10_000);
      const imp = await importIn(c0, 'multi', (i) => (i.status?.clusters ?? []).length === 1);
      expect(imp.status?.clusters).to.deep.equal([{ cluster: 'c0' }]);
      expect(await c0.importedSlices(NS, 'multi', 'c0')).to.not.have.length(0);
      // c1 is unaffected: it still reads c0.
      expect(await c1.importedSlices(NS, 'multi', 'c0')).to.not.have.length(0);
      await c0.apply(memberSecret(SYSTEM, c1));
      await slicesMirror(c0, c1, 'multi', 2);
      await importIn(c0, 'multi', (i) => (i.status?.clusters ?? []).length === 2);
    });

    it('a peer whose API server stops keeps everything, is reported unreachable, and converges when it is back', async function () {
      this.timeout(120_000);
      const before = (await c0.importedSlices(NS, 'multi', 'c1')).map((s) => s.metadata?.name).sort();
      expect(before).to.not.have.length(0);
      await clusterCmd('stop-apiserver', second.name);
      try {
        const imp = await importIn(c0, 'multi', (i) => condition(i, 'ClustersSynced')?.status === 'False', NS, 20_000);
        expect(condition(imp, 'ClustersSynced')).to.include({ reason: 'ClusterUnreachable' });
        expect(condition(imp, 'ClustersSynced')?.message).to.contain('"c1"');
        expect(imp.status?.clusters).to.deep.equal([{ cluster: 'c0' }, { cluster: 'c1' }]);
        // c0's own endpoints still propagate in c0 while c1 is away.
        const since = await reconcileCounts(c0);
        await c0.scale(NS, 'multi', 3);
        await slicesMirror(c0, c0, 'multi', 3);
        // c0 reconciled after the scale and has nothing left queued: it has acted on c1 being away.
        await looked([c0], since);
        expect((await c0.importedSlices(NS, 'multi', 'c1')).map((s) => s.metadata?.name).sort()).to.deep.equal(before);
        expect(isTrue(await c0.getImport(NS, 'multi'), 'Ready')).to.equal(true);
      } finally {
        await clusterCmd('start-apiserver', second.name);
      }
      const t0 = Date.now();
      await importIn(c0, 'multi', (i) => isTrue(i, 'ClustersSynced'), NS, 30_000);
      // c1's operator lost its own API server too; back, it catches up with what changed in c0 meanwhile.
      await slicesMirror(c1, c0, 'multi', 3);
      figures.push(`peer API server back→converged ${Date.now() - t0} ms`);
      expect((await c0.importedSlices(NS, 'multi', 'c1')).map((s) => s.metadata?.name).sort()).to.deep.equal(before);
    });

    it('an operator that starts while a peer is down has never read it: it keeps its objects and says so', async function () {
      this.timeout(150_000);
      // c1 as before the last outage: both endpoints ready and mirrored in c0 (after an outage c1's node controller
      // may mark its pods not ready for a moment, until kwok reports them ready again, and c0 mirrors that).
      await slicesMirror(c0, c1, 'multi', 2);
      const before = (await c0.importedSlices(NS, 'multi', 'c1')).map((s) => s.metadata?.name).sort();
      expect(before).to.not.have.length(0);
      await clusterCmd('stop-apiserver', second.name);
      try {
        const old = ops.shift();
        await stopOperator(old);
        const op = await startOperator(c0);
        await waitFor('the restarted operator', () => op.logs.find((l) => l.message === 'Started operator'), 60_000);
        // (The old operator may have said "used as last seen" before it stopped: wait for the new one's word.)
        const imp = await importIn(c0, 'multi', (i) => condition(i, 'ClustersSynced')?.message.includes('has not been seen yet') ?? false, NS, 40_000);
        expect(condition(imp, 'ClustersSynced')).to.include({ status: 'False', reason: 'ClusterUnreachable' });
        expect(imp.status?.clusters).to.deep.equal([{ cluster: 'c0' }, { cluster: 'c1' }]);
        expect((await c0.importedSlices(NS, 'multi', 'c1')).map((s) => s.metadata?.name).sort()).to.deep.equal(before);
        expect(await c0.derivedServices(NS, 'multi')).to.have.length(1);
      } finally {
        await clusterCmd('start-apiserver', second.name);
      }
      await importIn(c0, 'multi', (i) => isTrue(i, 'ClustersSynced'), NS, 60_000);
      // c0 mirrors c1's endpoints again (ready again, if c1's node controller marked them not ready meanwhile).
      await slicesMirror(c0, c1, 'multi', 2);
    });
  });
});
