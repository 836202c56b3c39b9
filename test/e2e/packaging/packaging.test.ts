import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import type { KubernetesObject } from '@kubernetes/client-node';
import { KubeClient } from '../../../operator/src/kube/client.js';
import { R } from '../../../operator/src/kube/resources.js';
import { e2e } from '../lib/env.js';
import { kubectl, repoRoot, waitFor } from '../lib/cluster.js';
import { helm } from '../lib/helm.js';
import { startOperatorProcess, stopOperatorProcess, type OperatorProcess } from '../lib/operator.js';

const chart = path.join(repoRoot, 'charts/mizzen');
const ns = 'mizzen-chart';

interface Role extends KubernetesObject {
  rules: unknown[];
}

function docs(text: string): KubernetesObject[] {
  return YAML.parseAllDocuments(text)
    .map((d) => d.toJS() as KubernetesObject | null)
    .filter((d): d is KubernetesObject => !!d);
}

describe('Helm chart and kustomize bases', function () {
  let client: KubeClient;
  let op: OperatorProcess | undefined;

  before(async () => {
    client = await KubeClient.create(KubeClient.loadConfig(e2e.kubeconfig));
  });

  after(async () => {
    await kubectl(e2e.kubeconfig, ['delete', 'istiooperators', '-n', 'istio-system', 'chart-rbac-check', '--ignore-not-found', '--timeout=60s']).catch(() => undefined);
    await stopOperatorProcess(op);
    await helm(['uninstall', 'mizzen', '-n', ns, '--kubeconfig', e2e.kubeconfig]).catch(() => undefined);
    await kubectl(e2e.kubeconfig, ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
    client.close();
  });

  it('passes helm lint', async function () {
    this.timeout(25 * 60_000); // the first call builds helm from its Go module
    const out = await helm(['lint', chart]);
    expect(out).to.match(/0 chart\(s\) failed/);
  });

  it('ships the same CRDs as crds/, and the same operator rules as config/rbac', async () => {
    for (const f of fs.readdirSync(path.join(repoRoot, 'crds')).filter((x) => x.endsWith('.yaml'))) {
      expect(fs.readFileSync(path.join(chart, 'files/crds', f), 'utf8'), `charts/mizzen/files/crds/${f}`).to.equal(fs.readFileSync(path.join(repoRoot, 'crds', f), 'utf8'));
    }
    const rendered = docs(await helm(['template', 'mizzen', chart, '-n', ns]));
    const chartRole = rendered.find((o) => o.kind === 'ClusterRole') as Role;
    const kustomizeRole = docs(await kubectl(e2e.kubeconfig, ['kustomize', path.join(repoRoot, 'config/default')])).find((o) => o.kind === 'ClusterRole') as Role;
    expect(chartRole.rules).to.deep.equal(kustomizeRole.rules);
  });

  it('applies config/default with a server-side dry run', async () => {
    // A dry run creates nothing, so the namespace its objects go to must exist already.
    await kubectl(e2e.kubeconfig, ['create', 'namespace', 'mizzen-system']).catch(() => undefined);
    const out = await kubectl(e2e.kubeconfig, ['apply', '--server-side', '--dry-run=server', '--force-conflicts', '-k', path.join(repoRoot, 'config/default')]);
    expect(out).to.match(/deployment\.apps\/mizzen-operator serverside-applied \(server dry run\)/);
  });

  it('installs with helm: the operator Deployment rolls out with two replicas', async () => {
    // The CRDs are templates of the chart; the e2e cluster has them already (applied from crds/), so the release
    // takes them over, as a user who installed them with kubectl first would.
    await helm(['install', 'mizzen', chart, '-n', ns, '--create-namespace', '--take-ownership', '--kubeconfig', e2e.kubeconfig, '--set', 'clusterId=e2e']);
    await waitFor('the operator Deployment', async () => ((await client.get<KubernetesObject & { status?: { availableReplicas?: number } }>(R.deployment, 'mizzen-operator', ns))?.status?.availableReplicas ?? 0) === 2, 60_000, 200);
  });

  it("grants the operator's service account enough to install the seed", async function () {
    const token = (await kubectl(e2e.kubeconfig, ['create', 'token', 'mizzen-operator', '-n', ns, '--duration=1h'])).trim();
    const admin = YAML.parse(fs.readFileSync(e2e.kubeconfig, 'utf8')) as { clusters: { cluster: Record<string, string> }[] };
    const cluster = admin.clusters[0]!.cluster;
    const kc = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster }],
      users: [{ name: 'sa', user: { token } }],
      contexts: [{ name: 'sa', context: { cluster: 'c', user: 'sa', namespace: ns } }],
      'current-context': 'sa',
    };
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mizzen-sa-')), 'kubeconfig');
    fs.writeFileSync(file, YAML.stringify(kc));
    // The chart's Deployment cannot run here (kwok fakes its pods), so run the operator as that ServiceAccount.
    op = await startOperatorProcess(file, ['--namespace', ns, '--lease-name', 'chart-rbac-check', '--controllers', 'istiooperator']);
    await kubectl(e2e.kubeconfig, ['create', 'namespace', 'istio-system']).catch(() => undefined);
    const seed = YAML.parse(fs.readFileSync(path.join(repoRoot, 'config/samples/install_v1alpha1_istiooperator_seed.yaml'), 'utf8')) as KubernetesObject;
    seed.metadata = { ...seed.metadata, name: 'chart-rbac-check' };
    await kubectl(e2e.kubeconfig, ['apply', '--server-side', '-f', '-'], YAML.stringify(seed));
    await waitFor('HEALTHY as the chart ServiceAccount', async () => {
      const o = await client.get<KubernetesObject & { status?: { status?: string } }>(R.istioOperator, 'chart-rbac-check', 'istio-system');
      return o?.status?.status === 'HEALTHY';
    }, 60_000, 200);
    const forbidden = op.logs.filter((l) => /forbidden/i.test(JSON.stringify(l)));
    expect(forbidden, 'no request was forbidden').to.deep.equal([]);
  });
});
