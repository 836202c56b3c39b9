import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { V1Secret } from '@kubernetes/client-node';
import { InvalidSpecError, render, toYaml, type IstioOperator, type KubernetesObject } from '../../src/render/index.js';
import {
  bearerTokenKubeconfig,
  checkClusterName,
  declaredClusters,
  defaultServiceAccount,
  kubeconfigServer,
  readable,
  remoteSecret,
  remoteSecretClash,
  remoteSecretName,
} from '../../src/render/remotesecret.js';
import { KubeconfigReachability, planMemberSecrets, requestedMembers, unlabelledNamesakes } from '../../src/controllers/istiooperator/remotesecrets.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';

function expectGolden(name: string, text: string): void {
  const file = path.join(here, 'testdata', name);
  if (process.env.UPDATE_GOLDEN === '1') fs.writeFileSync(file, text);
  expect(text).to.equal(fs.readFileSync(file, 'utf8'));
}

const kubeconfig = (cluster: string, server: string): string => bearerTokenKubeconfig({ cluster, server, caPem: CA, token: `token-of-${cluster}` });
const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('remote secrets: the Secret istiod reads', () => {
  it('a --type remote secret is istio-remote-secret-<cluster>, labelled, annotated, keyed by the cluster name (golden)', () => {
    const s = remoteSecret({ cluster: 'remote1', namespace: 'external-istiod', kubeconfig: kubeconfig('remote1', 'https://192.0.2.1:6443') });
    expectGolden('remote.golden.yaml', toYaml([readable(s)]));
    expect(s.metadata.labels).to.deep.equal({ 'istio/multiCluster': 'true' });
    expect(s.metadata.annotations).to.deep.equal({ 'networking.istio.io/cluster': 'remote1' });
    expect(Object.keys(s.data as object)).to.deep.equal(['remote1']);
  });

  it('a --type config secret is istio-kubeconfig with the key "config" and istiod as default account', () => {
    const s = remoteSecret({ cluster: 'remote1', namespace: 'external-istiod', kubeconfig: kubeconfig('remote1', 'https://192.0.2.1:6443'), type: 'config' });
    expect(s.metadata.name).to.equal('istio-kubeconfig');
    expect(Object.keys(s.data as object)).to.deep.equal(['config']);
    expect(declaredClusters(s)).to.deep.equal(['remote1']);
    expect(defaultServiceAccount('config')).to.equal('istiod');
    expect(defaultServiceAccount('remote')).to.equal('istio-reader-service-account');
  });

  it('the kubeconfig names cluster, user and context after the cluster and carries the CA and token', () => {
    const text = kubeconfig('c1', 'https://10.0.0.1:6443');
    expect(kubeconfigServer(text)).to.equal('https://10.0.0.1:6443');
    expect(text).to.include(`certificate-authority-data: ${b64(CA)}`).and.include('token: token-of-c1').and.include('current-context: c1');
  });

  it('cluster names must be DNS labels', () => {
    expect(checkClusterName('remote-1')).to.equal(undefined);
    expect(checkClusterName('Remote_1')).to.match(/not a DNS label/);
    expect(checkClusterName('')).to.match(/not a DNS label/);
  });

  describe('clashes with what the namespace holds', () => {
    const desired = remoteSecret({ cluster: 'c1', namespace: 'istio-system', kubeconfig: kubeconfig('c1', 'https://10.0.0.1:6443') });
    const cases: { name: string; existing: KubernetesObject[]; overwrite?: boolean; clash: RegExp | undefined }[] = [
      { name: 'an empty namespace is no clash', existing: [], clash: undefined },
      { name: 'the same cluster at the same server (a rotation) is no clash', existing: [remoteSecret({ cluster: 'c1', namespace: 'istio-system', kubeconfig: kubeconfig('c1', 'https://10.0.0.1:6443') })], clash: undefined },
      { name: 'the same name at another server is another cluster with that name', existing: [remoteSecret({ cluster: 'c1', namespace: 'istio-system', kubeconfig: kubeconfig('c1', 'https://10.9.9.9:6443') })], clash: /already reaches cluster "c1" at https:\/\/10\.9\.9\.9:6443/ },
      { name: '--overwrite replaces it', existing: [remoteSecret({ cluster: 'c1', namespace: 'istio-system', kubeconfig: kubeconfig('c1', 'https://10.9.9.9:6443') })], overwrite: true, clash: undefined },
      {
        name: 'another Secret declaring the cluster name',
        existing: [{ ...remoteSecret({ cluster: 'c1', namespace: 'istio-system', kubeconfig: kubeconfig('c1', 'https://10.9.9.9:6443') }), metadata: { name: 'hand-made', namespace: 'istio-system', labels: { 'istio/multiCluster': 'true' } } }],
        clash: /cluster name "c1" is already used by the remote secret istio-system\/hand-made/,
      },
      { name: 'a Secret of that name that is not a remote secret', existing: [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'istio-remote-secret-c1', namespace: 'istio-system' } }], clash: /is not a remote secret/ },
      {
        name: 'a Secret of that name declaring another cluster',
        existing: [{ ...remoteSecret({ cluster: 'c2', namespace: 'istio-system', kubeconfig: kubeconfig('c2', 'https://10.0.0.2:6443') }), metadata: { name: 'istio-remote-secret-c1', namespace: 'istio-system', labels: { 'istio/multiCluster': 'true' }, annotations: { 'networking.istio.io/cluster': 'c2' } } }],
        clash: /remote secret of cluster "c2", not "c1"/,
      },
      { name: "another cluster's remote secret is no clash", existing: [remoteSecret({ cluster: 'c2', namespace: 'istio-system', kubeconfig: kubeconfig('c2', 'https://10.0.0.2:6443') })], clash: undefined },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const got = remoteSecretClash(desired, c.existing, { overwrite: c.overwrite ?? false });
        if (c.clash === undefined) expect(got).to.equal(undefined);
        else expect(got).to.match(c.clash);
      });
    }
  });
});

describe('remote secrets from the cluster membership', () => {
  const iop = (annotation: string | undefined, spec: Record<string, unknown> = { profile: 'empty', components: { pilot: { enabled: true } } }): IstioOperator =>
    ({ apiVersion: 'install.istio.io/v1alpha1', kind: 'IstioOperator', metadata: { name: 'external-istiod', namespace: 'external-istiod', ...(annotation === undefined ? {} : { annotations: { 'mizzen.io/remote-secrets': annotation } }) }, spec });
  const member = (name: string, id: string | undefined, kc: string | undefined): V1Secret => ({
    metadata: { name, namespace: 'mizzen-system', labels: { 'mizzen.io/cluster-member': 'true' } },
    data: { ...(id === undefined ? {} : { 'cluster-id': b64(id) }), ...(kc === undefined ? {} : { kubeconfig: b64(kc) }) },
  });
  const members = [member('m-remote1', 'remote1', kubeconfig('remote1', 'https://10.0.0.1:6443')), member('m-remote2', 'remote2', kubeconfig('remote2', 'https://10.0.0.2:6443'))];
  const plan = (i: IstioOperator, m: V1Secret[], others: KubernetesObject[] = []) => planMemberSecrets(i, render(i), m, others, 'external');

  it('an IstioOperator without the annotation asks for nothing', () => {
    expect(plan(iop(undefined), members)).to.equal(undefined);
  });

  it('"all" gives one remote secret per member, next to istiod, with owner labels and the member kubeconfig verbatim', () => {
    const p = plan(iop('all'), members);
    expect(p?.desired.map((s) => `${s.metadata.namespace}/${s.metadata.name}`)).to.deep.equal(['external-istiod/istio-remote-secret-remote1', 'external-istiod/istio-remote-secret-remote2']);
    const first = p?.desired[0];
    expect(first?.metadata.labels).to.include({ 'istio/multiCluster': 'true', 'install.operator.istio.io/owning-resource': 'external-istiod', 'app.kubernetes.io/managed-by': 'mizzen' });
    const text = (b: string | undefined): string => Buffer.from(b ?? '', 'base64').toString('utf8').trim();
    expect(text((first?.data as Record<string, string>).remote1)).to.equal(text(members[0]?.data?.kubeconfig));
    expect(p?.problems).to.deep.equal([]);
  });

  it('a list names the members wanted, and says which it does not find', () => {
    const p = plan(iop('remote2, remote9'), members);
    expect(p?.desired.map((s) => s.metadata.name)).to.deep.equal(['istio-remote-secret-remote2']);
    expect(p?.problems).to.deep.equal(['No member Secret declares cluster "remote9"']);
  });

  it('a member without kubeconfig keeps its remote secret as it is, it is not removed', () => {
    const p = plan(iop('all'), [member('m-remote1', 'remote1', undefined)]);
    expect(p?.desired).to.deep.equal([]);
    expect(p?.keep).to.deep.equal(['v1|Secret|external-istiod|istio-remote-secret-remote1']);
  });

  it('member Secrets without an id or naming this cluster are ignored with a reason', () => {
    const p = plan(iop('all'), [member('m-noid', undefined, 'x'), member('m-self', 'external', 'x')]);
    expect(p?.desired).to.deep.equal([]);
    expect(p?.problems.join('\n')).to.match(/m-noid has no "cluster-id"/).and.match(/names this cluster/);
  });

  it("another cluster's remote secret under the member's cluster name wins: no remote secret, a reason", () => {
    const theirs = { ...remoteSecret({ cluster: 'remote1', namespace: 'external-istiod', kubeconfig: kubeconfig('remote1', 'https://10.9.9.9:6443') }), metadata: { name: 'by-hand', namespace: 'external-istiod', labels: { 'istio/multiCluster': 'true' } } };
    const p = plan(iop('all'), members, [theirs]);
    expect(p?.desired.map((s) => s.metadata.name)).to.deep.equal(['istio-remote-secret-remote2']);
    expect(p?.problems[0]).to.match(/No remote secret for cluster "remote1": cluster name "remote1" is already used by the remote secret external-istiod\/by-hand/);
  });

  it('a remote secret written by the CLI for the same cluster is adopted', () => {
    const cli = remoteSecret({ cluster: 'remote1', namespace: 'external-istiod', kubeconfig: kubeconfig('remote1', 'https://10.0.0.1:6443') });
    expect(plan(iop('all'), members, [cli])?.desired).to.have.length(2);
  });

  it('a Secret of the remote secret’s name that is not a remote secret is looked up and left alone, with a reason', async () => {
    const plain: KubernetesObject = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'istio-remote-secret-remote1', namespace: 'external-istiod' }, data: { password: b64('x') } };
    const first = plan(iop('all'), members);
    const asked: string[] = [];
    const get = (name: string, ns: string): Promise<KubernetesObject | undefined> => {
      asked.push(`${ns}/${name}`);
      return Promise.resolve(name === plain.metadata.name ? plain : undefined);
    };
    // Ours in the cache (remote2): not asked again; remote1 is in no list: asked.
    const namesakes = await unlabelledNamesakes(first, [], (s) => s.metadata.name === 'istio-remote-secret-remote2', get);
    expect(asked).to.deep.equal(['external-istiod/istio-remote-secret-remote1']);
    expect(namesakes).to.deep.equal([plain]);
    const p = plan(iop('all'), members, namesakes as KubernetesObject[]);
    expect(p?.desired.map((s) => s.metadata.name)).to.deep.equal(['istio-remote-secret-remote2']);
    expect(p?.problems).to.deep.equal(['No remote secret for cluster "remote1": Secret external-istiod/istio-remote-secret-remote1 exists and is not a remote secret (no istio/multiCluster=true label); not overwriting it']);
  });

  it('a member kubeconfig that does not read its cluster is reported by cluster and server, and its remote secret is still written', async () => {
    let t = 0;
    const asked: string[] = [];
    const reach = new KubeconfigReachability((kc) => {
      const server = kc.includes('10.0.0.2') ? '10.0.0.2' : '10.0.0.1';
      asked.push(server);
      return Promise.resolve(server === '10.0.0.2' ? 'connect ECONNREFUSED 10.0.0.2:6443' : undefined);
    }, () => t);
    const p = plan(iop('all'), members);
    expect(p?.desired).to.have.length(2);
    expect(await reach.problems(p)).to.deep.equal([
      'The kubeconfig of cluster "remote2" does not read its cluster at https://10.0.0.2:6443: connect ECONNREFUSED 10.0.0.2:6443; its remote secret is written all the same, and istiod cannot read that cluster until the member Secret is fixed',
    ]);
    t = 59_000;
    await reach.problems(p);
    expect(asked, 'a working kubeconfig is asked once, a failing one not again within a minute').to.deep.equal(['10.0.0.1', '10.0.0.2']);
    t = 60_000;
    await reach.problems(p);
    expect(asked).to.deep.equal(['10.0.0.1', '10.0.0.2', '10.0.0.2']);
    expect(await reach.problems(undefined)).to.deep.equal([]);
  });

  const invalid: { name: string; annotation: string; spec?: Record<string, unknown>; message: RegExp }[] = [
    { name: 'an empty list', annotation: ' , ', message: /must be "all" or a comma-separated list/ },
    { name: 'a cluster id that is not a DNS label', annotation: 'Remote_1', message: /not a DNS label/ },
    { name: 'an IstioOperator without istiod', annotation: 'all', spec: { profile: 'external', values: { istiodRemote: { injectionURL: 'https://x.example.com/inject' } } }, message: /installs no istiod/ },
  ];
  for (const c of invalid) {
    it(`rejects ${c.name} as an invalid spec naming the annotation`, () => {
      const i = iop(c.annotation, c.spec);
      expect(() => plan(i, members)).to.throw(InvalidSpecError, c.message);
      try {
        plan(i, members);
      } catch (err) {
        expect((err as InvalidSpecError).field).to.equal('metadata.annotations[mizzen.io/remote-secrets]');
      }
    });
  }

  it('requestedMembers sorts and dedups', () => {
    expect(requestedMembers(iop('b,a,b'))).to.deep.equal(['a', 'b']);
    expect(remoteSecretName('a')).to.equal('istio-remote-secret-a');
  });
});
