import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { e2e } from '../lib/env.js';
import { kubectl, kubectlFails, repoRoot } from '../lib/cluster.js';

const seedPath = path.join(repoRoot, 'config/samples/install_v1alpha1_istiooperator_seed.yaml');

function iop(name: string, spec: Record<string, unknown>): string {
  return YAML.stringify({ apiVersion: 'install.istio.io/v1alpha1', kind: 'IstioOperator', metadata: { name, namespace: 'crd-e2e' }, spec });
}

describe('CRDs on a real API server', function () {
  before(async () => {
    await kubectl(e2e.kubeconfig, ['create', 'namespace', 'crd-e2e']).catch(() => undefined);
    await kubectl(e2e.kubeconfig, ['create', 'namespace', 'istio-system']).catch(() => undefined);
  });

  after(async () => {
    // Wait until gone: a later suite's operator would otherwise see these IstioOperators claim revision "default".
    await kubectl(e2e.kubeconfig, ['delete', 'istiooperators', '--all', '-n', 'crd-e2e', '--timeout=60s']);
    await kubectl(e2e.kubeconfig, ['delete', 'namespace', 'crd-e2e', '--timeout=120s']);
    await kubectl(e2e.kubeconfig, ['delete', '-f', seedPath, '--ignore-not-found', '--wait=false']);
  });

  it('serves every CRD in crds/ as Established', async () => {
    const names = (await kubectl(e2e.kubeconfig, ['get', 'crd', '-o', 'jsonpath={range .items[*]}{.metadata.name}{"\\n"}{end}'])).split('\n').filter(Boolean);
    expect(names).to.include.members([
      'istiooperators.install.istio.io',
      'revisiontags.install.istio.io',
      'serviceexports.multicluster.x-k8s.io',
      'serviceimports.multicluster.x-k8s.io',
      'clusterproperties.about.k8s.io',
    ]);
  });

  it('accepts the seed IstioOperator YAML verbatim and keeps every field', async () => {
    await kubectl(e2e.kubeconfig, ['apply', '--server-side', '-f', seedPath]);
    const live = JSON.parse(await kubectl(e2e.kubeconfig, ['get', '-f', seedPath, '-o', 'json'])) as { spec: unknown };
    const seed = YAML.parse(fs.readFileSync(seedPath, 'utf8')) as { spec: unknown };
    expect(live.spec).to.deep.equal(seed.spec);
  });

  it('rejects profile: 42 with a message naming spec.profile', async () => {
    const err = await kubectlFails(e2e.kubeconfig, ['create', '-f', '-'], iop('bad-profile', { profile: 42 }));
    expect(err).to.match(/spec\.profile/);
    expect(err).to.match(/must be of type string|Unsupported value/);
  });

  it('rejects an unknown profile and a revision that is not a DNS label', async () => {
    expect(await kubectlFails(e2e.kubeconfig, ['create', '-f', '-'], iop('bad-profile-name', { profile: 'blue' }))).to.match(/spec\.profile: Unsupported value: "blue"/);
    expect(await kubectlFails(e2e.kubeconfig, ['create', '-f', '-'], iop('bad-rev', { revision: 'Bad_Rev' }))).to.match(/spec\.revision/);
  });

  it('accepts values.cni.repair both as the seed boolean and as the later object form', async () => {
    await kubectl(e2e.kubeconfig, ['create', '-f', '-'], iop('repair-object', { values: { cni: { repair: { enabled: true, deletePods: true } } } }));
    await kubectl(e2e.kubeconfig, ['create', '-f', '-'], iop('repair-bool', { values: { cni: { repair: false } } }));
  });

  it('requires spec.revision on a RevisionTag', async () => {
    const tag = YAML.stringify({ apiVersion: 'install.istio.io/v1alpha1', kind: 'RevisionTag', metadata: { name: 'canary', namespace: 'crd-e2e' }, spec: {} });
    expect(await kubectlFails(e2e.kubeconfig, ['create', '-f', '-'], tag)).to.match(/spec\.revision: Required value/);
  });

  it('serves ServiceExport and ServiceImport at v1alpha1 and v1beta1', async () => {
    for (const version of ['v1alpha1', 'v1beta1']) {
      const name = `svc-${version}`;
      await kubectl(e2e.kubeconfig, ['create', '-f', '-'], YAML.stringify({ apiVersion: `multicluster.x-k8s.io/${version}`, kind: 'ServiceExport', metadata: { name, namespace: 'crd-e2e' } }));
      await kubectl(
        e2e.kubeconfig,
        ['create', '-f', '-'],
        YAML.stringify({ apiVersion: `multicluster.x-k8s.io/${version}`, kind: 'ServiceImport', metadata: { name, namespace: 'crd-e2e' }, spec: { type: 'ClusterSetIP', ports: [{ port: 80, protocol: 'TCP' }] } }),
      );
    }
    const bad = YAML.stringify({ apiVersion: 'multicluster.x-k8s.io/v1alpha1', kind: 'ServiceImport', metadata: { name: 'bad', namespace: 'crd-e2e' }, spec: { type: 'ClusterIP', ports: [] } });
    expect(await kubectlFails(e2e.kubeconfig, ['create', '-f', '-'], bad)).to.match(/spec\.type: Unsupported value: "ClusterIP"/);
  });
});
