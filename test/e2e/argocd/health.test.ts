// The Argo CD health checks of config/argocd/health, evaluated (Lua 5.1) on real objects: what the API server
// returns at creation (no status yet), and the statuses the operator writes when an IstioOperator, RevisionTag or
// ServiceExport is healthy or broken. Also: the kustomize Component merges the three checks into argocd-cm.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ClusterProperty } from '../../../operator/src/api/index.js';
import { KubeClient } from '../../../operator/src/kube/client.js';
import { R } from '../../../operator/src/kube/resources.js';
import { e2e } from '../lib/env.js';
import { kubectl, repoRoot, waitFor } from '../lib/cluster.js';
import { logTail, startOperatorProcess, stopOperatorProcess, type OperatorProcess } from '../lib/operator.js';
import { health } from './lua.js';
import { setTag, TAG_CLI_FIELD_MANAGER } from '../../../operator/src/cli/tag.js';
import { UserError } from '../../../operator/src/cli/errors.js';

const dir = path.join(repoRoot, 'config/argocd/health');
const IOP = path.join(dir, 'install.istio.io_IstioOperator.lua');
const TAG = path.join(dir, 'install.istio.io_RevisionTag.lua');
const EXPORT = path.join(dir, 'multicluster.x-k8s.io_ServiceExport.lua');
const CP = 'argocd-e2e-system';
const NS = 'argocd-e2e';
const CLUSTER_PROPERTY = 'cluster.clusterset.k8s.io';

type Obj = KubernetesObject & { spec?: unknown; status?: Record<string, unknown> & { conditions?: { type: string; status: string; reason: string }[] } };

describe('Argo CD health checks (Lua) on real objects', function () {
  this.timeout(90_000);
  let client: KubeClient;
  let op: OperatorProcess | undefined;
  let savedProperty: (ClusterProperty & KubernetesObject) | undefined;

  const get = (t: typeof R.istioOperator, name: string, ns: string): Promise<Obj | undefined> => client.get<Obj>(t, name, ns);
  const until = (what: string, t: typeof R.istioOperator, name: string, ns: string, ok: (o: Obj) => boolean): Promise<Obj> =>
    waitFor(what, async () => {
      const o = await get(t, name, ns);
      return o && ok(o) ? o : undefined;
    }, 60_000, 200);
  const cond = (o: Obj, type: string): { type: string; status: string; reason: string } | undefined => o.status?.conditions?.find((c) => c.type === type);
  const iop = (name: string, revision?: string): Obj => ({
    apiVersion: 'install.istio.io/v1alpha1',
    kind: 'IstioOperator',
    metadata: { name, namespace: CP },
    spec: { profile: 'minimal', ...(revision ? { revision } : {}) },
  });

  before(async function () {
    this.timeout(300_000);
    client = await KubeClient.create(KubeClient.loadConfig(e2e.kubeconfig), 'argocd-e2e');
    savedProperty = await client.get(R.clusterProperty, CLUSTER_PROPERTY);
    if (savedProperty) await client.delete(R.clusterProperty, CLUSTER_PROPERTY);
    for (const ns of [CP, NS]) {
      await waitFor(`namespace ${ns} to finish terminating`, async () => !(await client.get(R.namespace, ns))?.metadata?.deletionTimestamp, 120_000, 500);
      await client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    }
    op = await startOperatorProcess(e2e.kubeconfig, ['--no-leader-elect', '--namespace', CP, '--cluster-id', 'argocd-e2e']);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && op) console.log(`      operator log:\n${logTail(op, 40)}`);
  });

  after(async function () {
    this.timeout(180_000);
    // Finalizers: delete the custom resources while the operator still runs.
    await kubectl(e2e.kubeconfig, ['delete', 'revisiontags,istiooperators', '-n', CP, '--all', '--timeout=90s']).catch(() => undefined);
    await stopOperatorProcess(op);
    for (const ns of [NS, CP]) await client.delete(R.namespace, ns).catch(() => undefined);
    await client.delete(R.clusterProperty, CLUSTER_PROPERTY).catch(() => undefined);
    if (savedProperty) await client.create({ apiVersion: savedProperty.apiVersion, kind: savedProperty.kind, metadata: { name: savedProperty.metadata.name }, spec: savedProperty.spec }).catch(() => undefined);
    client.close();
  });

  it('IstioOperator: Progressing when just created, Healthy when HEALTHY, Progressing after a spec change, Degraded on ERROR', async () => {
    const created = await client.create<Obj>(iop('argocd-health'));
    expect(await health(IOP, created)).to.deep.include({ status: 'Progressing' });
    const healthy = await until('HEALTHY', R.istioOperator, 'argocd-health', CP, (o) => o.status?.status === 'HEALTHY');
    const h = await health(IOP, healthy);
    expect(h.status).to.equal('Healthy');
    expect(h.message).to.match(/ready/);
    // The answer to a spec change still carries the status of the generation before: not this spec's health.
    const changed = await client.mergePatch<Obj>(R.istioOperator, 'argocd-health', CP, { spec: { values: { global: { logging: { level: 'default:debug' } } } } });
    expect(changed.metadata?.generation).to.equal(2);
    expect(await health(IOP, changed)).to.deep.equal({ status: 'Progressing', message: 'Waiting for mizzen to reconcile generation 2' });
    // A second IstioOperator claiming the same (default) revision is rejected: ERROR.
    await client.create(iop('argocd-clash'));
    const failed = await until('ERROR', R.istioOperator, 'argocd-clash', CP, (o) => o.status?.status === 'ERROR');
    const d = await health(IOP, failed);
    expect(d.status).to.equal('Degraded');
    expect(d.message).to.contain('already installed by IstioOperator');
  });

  it('RevisionTag: Progressing when just created, Healthy when serving, Degraded when its revision does not exist', async () => {
    const tag = (name: string, revision: string): Obj => ({ apiVersion: 'install.istio.io/v1alpha1', kind: 'RevisionTag', metadata: { name, namespace: CP }, spec: { revision } });
    const created = await client.create<Obj>(tag('argocd-stable', 'default'));
    expect((await health(TAG, created)).status).to.equal('Progressing');
    const serving = await until('Ready=True', R.revisionTag, 'argocd-stable', CP, (o) => cond(o, 'Ready')?.status === 'True');
    const h = await health(TAG, serving);
    expect(h.status).to.equal('Healthy');
    expect(h.message).to.match(/^Serving: /);
    await client.create(tag('argocd-nowhere', 'no-such-revision'));
    const broken = await until('Ready=False', R.revisionTag, 'argocd-nowhere', CP, (o) => cond(o, 'Ready')?.status === 'False');
    const d = await health(TAG, broken);
    expect(d.status).to.equal('Degraded');
    expect(d.message).to.contain(cond(broken, 'Ready')?.reason ?? '?');
  });

  it('ServiceExport: Progressing when just created, Healthy when exported, Degraded without its Service', async () => {
    const exp = (name: string): Obj => ({ apiVersion: 'multicluster.x-k8s.io/v1alpha1', kind: 'ServiceExport', metadata: { name, namespace: NS } });
    await client.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: NS }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } });
    const created = await client.create<Obj>(exp('web'));
    expect(await health(EXPORT, created)).to.deep.equal({ status: 'Progressing', message: 'Waiting for the Multi-Cluster Services controller' });
    const ready = await until('Ready=True', R.serviceExport, 'web', NS, (o) => cond(o, 'Ready')?.status === 'True');
    expect((await health(EXPORT, ready)).status).to.equal('Healthy');
    await client.create(exp('nothing'));
    const invalid = await until('Valid=False', R.serviceExport, 'nothing', NS, (o) => cond(o, 'Valid')?.status === 'False');
    const d = await health(EXPORT, invalid);
    expect(d.status).to.equal('Degraded');
    expect(d.message).to.match(/^NoService: /);
  });

  it('`mizzen tag set` refuses a tag whose spec Argo CD manages, and with --force-conflicts warns and writes it', async () => {
    // Argo CD syncs with server-side apply under the field manager argocd-controller.
    const declared = YAML.stringify({ apiVersion: 'install.istio.io/v1alpha1', kind: 'RevisionTag', metadata: { name: 'argocd-owned', namespace: CP }, spec: { revision: 'no-such-revision' } });
    await kubectl(e2e.kubeconfig, ['apply', '--server-side', '--field-manager', 'argocd-controller', '-f', '-'], declared);
    const cli = await KubeClient.create(KubeClient.loadConfig(e2e.kubeconfig), TAG_CLI_FIELD_MANAGER);
    const said: string[] = [];
    const io = { out: (t: string): number => said.push(t), err: (t: string): number => said.push(t), confirm: (): Promise<boolean> => Promise.resolve(true) };
    try {
      const opts = { tag: 'argocd-owned', revision: 'default', namespace: CP, overwrite: true, yes: true, waitMs: 0 };
      let refused: unknown;
      await setTag(cli, opts, io).catch((err: unknown) => (refused = err));
      expect(refused).to.be.instanceOf(UserError);
      expect(String((refused as Error).message)).to.contain('managed by argocd-controller (Apply)').and.to.contain('--force-conflicts');
      expect((await get(R.revisionTag, 'argocd-owned', CP))?.spec).to.deep.equal({ revision: 'no-such-revision' });
      await setTag(cli, { ...opts, forceConflicts: true }, io);
      expect(said.join('')).to.contain('Warning: the spec of RevisionTag');
      expect((await get(R.revisionTag, 'argocd-owned', CP))?.spec).to.deep.equal({ revision: 'default' });
    } finally {
      cli.close();
    }
  });

  it('the kustomize Component merges the three checks into argocd-cm', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mizzen-argocd-'));
    fs.writeFileSync(path.join(tmp, 'cm.yaml'), YAML.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'argocd-cm' }, data: { 'url': 'https://argocd.example' } }));
    fs.writeFileSync(path.join(tmp, 'kustomization.yaml'), YAML.stringify({ namespace: 'argocd', resources: ['cm.yaml'], components: [path.relative(tmp, dir)] }));
    const cm = YAML.parse(await kubectl(e2e.kubeconfig, ['kustomize', '--load-restrictor', 'LoadRestrictionsNone', tmp])) as { metadata: { name: string }; data: Record<string, string> };
    expect(cm.metadata.name).to.equal('argocd-cm');
    expect(Object.keys(cm.data).sort()).to.deep.equal([
      'resource.customizations.health.install.istio.io_IstioOperator',
      'resource.customizations.health.install.istio.io_RevisionTag',
      'resource.customizations.health.multicluster.x-k8s.io_ServiceExport',
      'url',
    ]);
    expect(cm.data['resource.customizations.health.install.istio.io_RevisionTag']).to.equal(fs.readFileSync(TAG, 'utf8'));
  });
});
