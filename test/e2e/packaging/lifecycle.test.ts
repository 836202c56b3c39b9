// The Helm chart's life cycle on a real cluster: values checked by values.schema.json before anything is created,
// CRDs upgraded with the release, and an uninstall that leaves no custom resource stuck on the operator's
// finalizer. The chart's pods cannot run on kwok nodes, so the operator and the uninstall hook's command run as
// local processes with the chart ServiceAccount's token, exactly as their pods would.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import type { KubernetesObject } from '@kubernetes/client-node';
import { KubeClient } from '../../../operator/src/kube/client.js';
import { R } from '../../../operator/src/kube/resources.js';
import { e2e } from '../lib/env.js';
import { installCrds, kubectl, repoRoot, waitFor } from '../lib/cluster.js';
import { helm } from '../lib/helm.js';
import { logTail, startOperatorProcess, stopOperatorProcess, type OperatorProcess } from '../lib/operator.js';

const chart = path.join(repoRoot, 'charts/mizzen');
const ns = 'mizzen-lifecycle';
const CP = 'lifecycle-e2e-system';
const FINALIZER = 'install.istio.io/mizzen-cleanup';

type Obj = KubernetesObject & { spec?: Record<string, unknown>; status?: { status?: string } };
type Crd = KubernetesObject & { spec: { versions: { name: string; schema: { openAPIV3Schema: { properties: Record<string, { properties?: Record<string, unknown> }> } } }[] } };

function docs(text: string): Obj[] {
  return YAML.parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((d): d is Obj => !!d);
}

/** Runs `helm`, expecting it to fail; resolves with its error output. */
async function helmFails(args: string[]): Promise<string> {
  try {
    await helm(args);
  } catch (err) {
    return String((err as { stderr?: string }).stderr ?? err);
  }
  throw new Error(`helm ${args.join(' ')} succeeded but was expected to fail`);
}

/** A kubeconfig that authenticates with a ServiceAccount's token, for processes that stand in for pods. */
async function serviceAccountKubeconfig(sa: string, namespace: string): Promise<string> {
  const token = (await kubectl(e2e.kubeconfig, ['create', 'token', sa, '-n', namespace, '--duration=1h'])).trim();
  const admin = YAML.parse(fs.readFileSync(e2e.kubeconfig, 'utf8')) as { clusters: { cluster: Record<string, string> }[] };
  const kc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: admin.clusters[0]!.cluster }],
    users: [{ name: 'sa', user: { token } }],
    contexts: [{ name: 'sa', context: { cluster: 'c', user: 'sa', namespace } }],
    'current-context': 'sa',
  };
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mizzen-sa-')), 'kubeconfig');
  fs.writeFileSync(file, YAML.stringify(kc));
  return file;
}

/** Runs bin/mizzen with args; resolves with its exit code and output. */
function mizzen(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(path.join(repoRoot, 'bin/mizzen'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('Helm chart life cycle: schema, CRD upgrade, uninstall', function () {
  this.timeout(120_000);
  let client: KubeClient;
  let op: OperatorProcess | undefined;
  const kube = (...args: string[]): string[] => [...args, '--kubeconfig', e2e.kubeconfig];

  before(async function () {
    this.timeout(25 * 60_000); // the first helm call may build helm
    client = await KubeClient.create(KubeClient.loadConfig(e2e.kubeconfig));
    await helm(['version']);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && op) console.log(`      operator log:\n${logTail(op, 40)}`);
  });

  after(async function () {
    this.timeout(180_000);
    await stopOperatorProcess(op);
    for (const t of ['revisiontags', 'istiooperators']) {
      for (const o of (await client.list(t === 'revisiontags' ? R.revisionTag : R.istioOperator, { namespace: CP }).catch(() => ({ items: [] }))).items) {
        await client.mergePatch(t === 'revisiontags' ? R.revisionTag : R.istioOperator, o.metadata?.name ?? '', CP, { metadata: { finalizers: null } }).catch(() => undefined);
      }
    }
    await helm(kube('uninstall', 'mizzen', '-n', ns, '--no-hooks')).catch(() => undefined);
    for (const n of [ns, CP]) await kubectl(e2e.kubeconfig, ['delete', 'namespace', n, '--wait=false']).catch(() => undefined);
    // Later suites expect the CRDs of crds/ (the upgrade test changed one and Helm annotated them).
    await installCrds(e2e.kubeconfig);
    client.close();
  });

  it('an invalid value fails at helm install with the schema message, and leaves no release and no namespace', async () => {
    const bad = await helmFails(kube('install', 'bad', chart, '-n', 'mizzen-bad', '--create-namespace', '--take-ownership', '--set-string', 'replicaCount=two'));
    expect(bad).to.match(/values don't meet the specifications of the schema/);
    expect(bad).to.match(/replicaCount/).and.to.match(/integer/);
    const typo = await helmFails(kube('install', 'bad', chart, '-n', 'mizzen-bad', '--create-namespace', '--take-ownership', '--set', 'replicaCont=3'));
    expect(typo).to.match(/additional propert(y|ies) 'replicaCont' not allowed/);
    const mode = await helmFails(kube('install', 'bad', chart, '-n', 'mizzen-bad', '--create-namespace', '--take-ownership', '--set', 'uninstall.mode=purge'));
    expect(mode).to.match(/uninstall\.mode|mode/).and.to.match(/orphan/);
    expect(await helm(kube('list', '-A', '-a', '-q'))).to.not.match(/^bad$/m);
    expect(await client.get(R.namespace, 'mizzen-bad')).to.equal(undefined);
  });

  it('without leader election the chart runs one replica whatever replicaCount says, and NOTES says so', async () => {
    const objs = docs(await helm(['template', 'm', chart, '-n', ns, '--set', 'leaderElection.enabled=false', '--set', 'replicaCount=3']));
    const dep = objs.find((o) => o.kind === 'Deployment');
    expect((dep?.spec as { replicas?: number }).replicas).to.equal(1);
    expect(objs.find((o) => o.kind === 'PodDisruptionBudget')).to.equal(undefined);
    const two = docs(await helm(['template', 'm', chart, '-n', ns]));
    expect(two.map((o) => o.kind)).to.include.members(['PodDisruptionBudget', 'Service', 'CustomResourceDefinition']);
    expect(two.find((o) => o.kind === 'ServiceMonitor')).to.equal(undefined);
    const notes = await helm(kube('install', 'notes', chart, '-n', ns, '--dry-run', '--take-ownership', '--set', 'leaderElection.enabled=false', '--set', 'replicaCount=3'));
    expect(notes).to.contain('replicaCount=3 was lowered to 1').and.to.contain('NO cluster id is set');
  });

  it('helm upgrade upgrades a CRD: a new field is served, existing resources stay; the CRDs are kept on uninstall', async () => {
    await helm(kube('install', 'mizzen', chart, '-n', ns, '--create-namespace', '--take-ownership', '--set', 'clusterId=lifecycle', '--set', 'uninstall.mode=orphan'));
    const crd = await client.get<Crd>(R.crd, 'revisiontags.install.istio.io');
    expect(crd?.metadata?.annotations).to.include({ 'helm.sh/resource-policy': 'keep', 'meta.helm.sh/release-name': 'mizzen' });
    await client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: CP } });
    await client.apply({ apiVersion: 'install.istio.io/v1alpha1', kind: 'RevisionTag', metadata: { name: 'before-upgrade', namespace: CP }, spec: { revision: 'default' } });
    // The next chart version adds an optional field to RevisionTag's schema.
    const next = fs.mkdtempSync(path.join(os.tmpdir(), 'mizzen-chart-'));
    fs.cpSync(chart, next, { recursive: true });
    const file = path.join(next, 'files/crds/install.istio.io_revisiontags.yaml');
    const doc = YAML.parseDocument(fs.readFileSync(file, 'utf8'));
    const spec = doc.getIn(['spec', 'versions', 0, 'schema', 'openAPIV3Schema', 'properties', 'spec', 'properties']) as YAML.YAMLMap;
    spec.set('owner', { type: 'string', description: 'Team that owns the tag (added in the next chart version).' });
    fs.writeFileSync(file, doc.toString());
    fs.writeFileSync(path.join(next, 'Chart.yaml'), fs.readFileSync(path.join(next, 'Chart.yaml'), 'utf8').replace(/^version: .*$/m, 'version: 0.1.1'));
    const unknown = await kubectl(e2e.kubeconfig, ['apply', '--server-side', '--dry-run=server', '-f', '-'], YAML.stringify({ apiVersion: 'install.istio.io/v1alpha1', kind: 'RevisionTag', metadata: { name: 'x', namespace: CP }, spec: { revision: 'default', owner: 'a' } })).catch((err: Error) => err.message);
    expect(unknown).to.match(/unknown field "spec.owner"|field not declared in schema/);

    await helm(kube('upgrade', 'mizzen', next, '-n', ns, '--reuse-values'));
    const upgraded = await client.get<Crd>(R.crd, 'revisiontags.install.istio.io');
    expect(Object.keys(upgraded!.spec.versions[0]!.schema.openAPIV3Schema.properties.spec!.properties ?? {})).to.include('owner');
    await waitFor('the new field to be served', async () => {
      const o = await client.apply<Obj>({ apiVersion: 'install.istio.io/v1alpha1', kind: 'RevisionTag', metadata: { name: 'after-upgrade', namespace: CP }, spec: { revision: 'default', owner: 'platform' } });
      return o.spec?.owner === 'platform';
    });
    expect(await client.get(R.revisionTag, 'before-upgrade', CP)).to.not.equal(undefined);
    expect(await helm(kube('history', 'mizzen', '-n', ns))).to.match(/0\.1\.1/);
    await client.delete(R.revisionTag, 'after-upgrade', CP);
    await helm(kube('upgrade', 'mizzen', chart, '-n', ns, '--reuse-values'));
    const back = await client.get<Crd>(R.crd, 'revisiontags.install.istio.io');
    expect(Object.keys(back!.spec.versions[0]!.schema.openAPIV3Schema.properties.spec!.properties ?? {})).to.not.include('owner');
    await client.delete(R.revisionTag, 'before-upgrade', CP);
  });

  it("helm uninstall: the hook's command stops the operator and releases its finalizers; then deleting every custom resource finishes", async function () {
    this.timeout(480_000);
    const saKubeconfig = await serviceAccountKubeconfig('mizzen-operator', ns);
    // The operator as the chart's Deployment runs it: its ServiceAccount, its Lease (ns/mizzen-operator).
    op = await startOperatorProcess(saKubeconfig, ['--namespace', ns, '--controllers', 'istiooperator,revisiontag', '--lease-duration', '5s']);
    await client.apply({ apiVersion: 'install.istio.io/v1alpha1', kind: 'IstioOperator', metadata: { name: 'lifecycle', namespace: CP }, spec: { profile: 'minimal', revision: 'lifecycle' } });
    await client.apply({ apiVersion: 'install.istio.io/v1alpha1', kind: 'RevisionTag', metadata: { name: 'lifecycle-tag', namespace: CP }, spec: { revision: 'lifecycle' } });
    await waitFor('the IstioOperator to be HEALTHY', async () => (await client.get<Obj>(R.istioOperator, 'lifecycle', CP))?.status?.status === 'HEALTHY', 90_000, 200);
    const roots = async (): Promise<Obj[]> => [...(await client.list<Obj>(R.istioOperator, { namespace: CP })).items, ...(await client.list<Obj>(R.revisionTag, { namespace: CP })).items];
    await waitFor('every custom resource to carry the finalizer', async () => (await roots()).every((o) => o.metadata?.finalizers?.includes(FINALIZER)), 30_000, 200);
    const istiod = await client.get<Obj>(R.deployment, 'istiod-lifecycle', CP);
    expect(istiod?.metadata?.ownerReferences?.[0]).to.include({ kind: 'IstioOperator', name: 'lifecycle', controller: true });

    // The pre-delete hook's Job as Helm renders it; its container's args are what this test runs.
    const hooks = docs(await helm(kube('get', 'hooks', 'mizzen', '-n', ns)));
    const job = hooks.find((o) => o.kind === 'Job' && o.metadata?.name === 'mizzen-uninstall') as Obj & { spec: { template: { spec: { serviceAccountName: string; containers: { args: string[] }[] } } } };
    expect(job.metadata?.annotations?.['helm.sh/hook']).to.equal('pre-delete');
    expect(job.spec.template.spec.serviceAccountName).to.equal('mizzen-operator');
    const args = job.spec.template.spec.containers[0]!.args;
    expect(args).to.include.members(['operator', 'uninstall', '--mode=orphan', `--deployment=${ns}/mizzen-operator`, `--lease=${ns}/mizzen-operator`]);
    const started = Date.now();
    const run = mizzen([...args, '--kubeconfig', saKubeconfig]);
    // Scaling the Deployment to 0 stops its pods; the local operator stands in for them.
    await waitFor('the hook to scale the operator to 0', async () => (await client.get<Obj>(R.deployment, 'mizzen-operator', ns))?.spec?.replicas === 0, 60_000, 100);
    await stopOperatorProcess(op);
    const result = await run;
    console.log(`      uninstall hook command: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(result.code, result.out).to.equal(0);
    expect(result.out).to.contain(`No operator holds Lease ${ns}/mizzen-operator`).and.to.contain('Released 2 object(s)');
    for (const o of await roots()) expect(o.metadata?.finalizers ?? [], `${o.kind} ${o.metadata?.name ?? ''}`).to.not.include(FINALIZER);
    expect(await client.get(R.deployment, 'istiod-lifecycle', CP), 'the mesh keeps running').to.not.equal(undefined);

    await helm(kube('uninstall', 'mizzen', '-n', ns, '--wait', '--timeout', '2m'));
    expect(await helm(kube('list', '-n', ns, '-a', '-q'))).to.not.match(/^mizzen$/m);
    expect(await client.get(R.crd, 'istiooperators.install.istio.io'), 'CRDs are kept').to.not.equal(undefined);
    await kubectl(e2e.kubeconfig, ['delete', 'revisiontags,istiooperators', '-n', CP, '--all', '--timeout=60s']);
    expect(await roots()).to.deep.equal([]);
    await waitFor('istiod to be garbage-collected with its owner', async () => !(await client.get(R.deployment, 'istiod-lifecycle', CP)), 60_000, 200);
  });

  it('with the operator already gone, `mizzen operator uninstall --mode delete` cleans up and unblocks a stuck deletion', async function () {
    this.timeout(240_000);
    // What an operator removed with --no-hooks (or kubectl delete -k) leaves: a resource with the finalizer and the
    // objects it installed, labelled app.kubernetes.io/managed-by=mizzen.
    await client.apply({ apiVersion: 'install.istio.io/v1alpha1', kind: 'IstioOperator', metadata: { name: 'left-behind', namespace: CP, finalizers: [FINALIZER] }, spec: { profile: 'minimal' } });
    await client.apply({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'lifecycle-left-behind', labels: { 'app.kubernetes.io/managed-by': 'mizzen' } }, rules: [] });
    await kubectl(e2e.kubeconfig, ['delete', 'istiooperator', 'left-behind', '-n', CP, '--wait=false']);
    const stuck = await kubectl(e2e.kubeconfig, ['delete', 'istiooperator', 'left-behind', '-n', CP, '--timeout=3s']).catch((err: Error) => err.message);
    expect(stuck).to.match(/timed out/);
    const result = await mizzen(['operator', 'uninstall', '--mode', 'delete', '--timeout', '5s', '--kubeconfig', e2e.kubeconfig]);
    expect(result.code, result.out).to.equal(0);
    expect(result.out).to.contain('Cleaning up without the operator').and.to.contain('Deleted ClusterRole lifecycle-left-behind');
    await kubectl(e2e.kubeconfig, ['delete', 'istiooperator', 'left-behind', '-n', CP, '--ignore-not-found', '--timeout=30s']);
    expect(await client.get(R.istioOperator, 'left-behind', CP)).to.equal(undefined);
  });
});
