// The external control plane journey (Istio's "Install Istio with an external control plane") on two real local
// clusters, one mizzen operator each: the external cluster runs istiod behind an ingress gateway, the remote
// cluster's injection webhooks (and tag webhooks) call it at the gateway's address, and istiod reaches the remote
// API server through a remote secret, made by `mizzen remote-secret create` or kept by the operator from the
// cluster membership. An injector receiver on a loopback address plays istiod at that address; the test plays
// the cloud load balancer by writing the address into the gateway Service's status.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import YAML from 'yaml';
import { KubeConfig, type CoreV1Event, type KubernetesObject, type V1Secret, type V1Service } from '@kubernetes/client-node';
import { KubeClient } from '../../../operator/src/kube/client.js';
import { ApiError } from '../../../operator/src/kube/errors.js';
import { R } from '../../../operator/src/kube/resources.js';
import { bearerTokenKubeconfig } from '../../../operator/src/render/remotesecret.js';
import { kubectl, waitFor } from '../lib/cluster.js';
import { e2e } from '../lib/env.js';
import { ensureSecondCluster, second, teardownSecondCluster } from '../lib/multicluster.js';
import { logTail, startOperatorProcess, stopOperatorProcess, type OperatorProcess } from '../lib/operator.js';
import { chartIdentity, refusedInLogs, refusedTotal, tokenInLogs, type ChartIdentity } from '../lib/rbac.js';
import { mizzen, type Mwc, type Pod } from '../revisiontag/lab.js';
import { InjectorReceiver, makePki } from '../revisiontag/receiver.js';

type Iop = KubernetesObject & { spec?: Record<string, unknown>; status?: { status?: string; conditions?: { type: string; observedGeneration?: number }[] } };
type Secret = V1Secret & KubernetesObject;
type CoreEvent = CoreV1Event & KubernetesObject;

const NS = 'external-istiod';
const CLUSTER = 'remote1';
/** The external istiod's address: a loopback address of this machine no other suite uses, Istio's webhook port. */
const ADDR = '127.0.14.30';
const INJECTION_URL = `https://${ADDR}:15017/inject/cluster/${CLUSTER}/net/network1`;
const EXT_OPERATOR_NS = 'mizzen-external';
const REMOTE_OPERATOR_NS = 'mizzen-remote';

/** Step 1, in the external cluster: istiod (no local webhooks), exposed through an ingress gateway Service. */
const externalIop: Iop = {
  apiVersion: 'install.istio.io/v1alpha1',
  kind: 'IstioOperator',
  metadata: { name: 'external-istiod', namespace: NS },
  spec: {
    profile: 'empty',
    meshConfig: { rootNamespace: NS, defaultConfig: { discoveryAddress: `${ADDR}:15012` } },
    components: {
      pilot: {
        enabled: true,
        k8s: {
          env: [
            { name: 'INJECTION_WEBHOOK_CONFIG_NAME', value: '' },
            { name: 'VALIDATION_WEBHOOK_CONFIG_NAME', value: '' },
            { name: 'EXTERNAL_ISTIOD', value: 'true' },
            { name: 'CLUSTER_ID', value: CLUSTER },
            { name: 'SHARED_MESH_CONFIG', value: 'istio' },
          ],
        },
      },
      ingressGateways: [
        {
          name: 'istio-ingressgateway',
          enabled: true,
          k8s: {
            service: {
              ports: [
                { name: 'status-port', port: 15021, targetPort: 15021 },
                { name: 'tls-xds', port: 15012, targetPort: 15012 },
                { name: 'tls-webhook', port: 15017, targetPort: 15017 },
                { name: 'https', port: 443, targetPort: 8443 },
              ],
            },
          },
        },
      ],
    },
    values: { global: { caAddress: `${ADDR}:15012`, istioNamespace: NS, operatorManageWebhooks: true, externalIstiod: true, meshID: 'mesh1' } },
  },
};

/** Step 2, in the remote cluster: no istiod; webhooks call the external one; istiod's identity for the config cluster. */
function remoteIop(injectionURL: string): Iop {
  return {
    apiVersion: 'install.istio.io/v1alpha1',
    kind: 'IstioOperator',
    metadata: { name: 'remote-config', namespace: NS },
    spec: { profile: 'external', values: { global: { istioNamespace: NS, configCluster: true }, pilot: { configMap: true }, istiodRemote: { injectionURL } } },
  };
}

async function clientFromText(kubeconfig: string): Promise<KubeClient> {
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfig);
  return KubeClient.create(kc, 'external-e2e');
}

async function statusOf(client: KubeClient, t: typeof R.pod, namespace?: string): Promise<number> {
  try {
    await client.list(t, namespace ? { namespace } : {});
    return 200;
  } catch (err) {
    if (err instanceof ApiError) return err.statusCode;
    throw err;
  }
}

/** The name of the token Secret `remote-secret create` says it created (istioctl's name and a generated suffix). */
function createdTokenSecret(stderr: string): string {
  const m = /Created token Secret external-istiod\/(istio-reader-service-account-istio-remote-secret-token-[a-z0-9]{5}) for ServiceAccount istio-reader-service-account/.exec(stderr);
  if (!m?.[1]) throw new Error(`no token Secret created, stderr:\n${stderr}`);
  return m[1];
}

/** The kubeconfig inside a printed remote secret. */
function kubeconfigOf(printed: string, key: string): string {
  const doc = YAML.parse(printed) as { stringData?: Record<string, string> };
  const text = doc.stringData?.[key];
  if (!text) throw new Error(`no stringData.${key} in:\n${printed}`);
  return text;
}

describe('external control plane (two clusters, one operator each)', function () {
  this.timeout(180_000);
  let ext: KubeClient;
  let remote: KubeClient;
  let remoteKubeconfig: string;
  let extOp: OperatorProcess | undefined;
  /** The external operator's identity: exactly the Helm chart's RBAC (it writes, rotates and prunes remote secrets). */
  let extIdentity: ChartIdentity | undefined;
  let remoteOp: OperatorProcess | undefined;
  let receiver: InjectorReceiver;
  let readerKubeconfig = '';
  let readerTokenSecret = '';
  /** The receiver's CA: what istiod would patch into the webhooks it serves. */
  let receiverCa = '';
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mizzen-external-'));
  let suiteStart = 0;

  const healthy = (client: KubeClient, name: string) => async (): Promise<Iop | false> => {
    const o = await client.get<Iop>(R.istioOperator, name, NS);
    const ready = o?.status?.conditions?.find((c) => c.type === 'Ready');
    return o?.status?.status === 'HEALTHY' && ready?.observedGeneration === o.metadata?.generation ? o : false;
  };

  async function ensureNamespace(client: KubeClient, name: string, labels: Record<string, string> = {}): Promise<void> {
    await waitFor(`namespace ${name} to finish terminating`, async () => (await client.get(R.namespace, name))?.metadata?.deletionTimestamp === undefined, 120_000, 250);
    await client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
  }

  before(async function () {
    this.timeout(45 * 60_000);
    suiteStart = Date.now();
    remoteKubeconfig = await ensureSecondCluster();
    console.log(`      second cluster ${second.name} ready after ${((Date.now() - suiteStart) / 1000).toFixed(1)} s`);
    ext = await KubeClient.create(KubeClient.loadConfig(e2e.kubeconfig), 'external-e2e');
    remote = await KubeClient.create(KubeClient.loadConfig(remoteKubeconfig), 'external-e2e');
    for (const c of [ext, remote]) await ensureNamespace(c, NS);
    const pki = await makePki('external-istiod', ADDR);
    receiverCa = pki.caBundle;
    receiver = new InjectorReceiver('default', pki, ADDR, 15017);
    await receiver.start();
    extIdentity = await chartIdentity(e2e.kubeconfig, EXT_OPERATOR_NS);
    extOp = await startOperatorProcess(extIdentity.kubeconfig, ['--namespace', EXT_OPERATOR_NS, '--lease-name', 'mizzen-external', '--controllers', 'istiooperator', '--cluster-id', 'external']);
    remoteOp = await startOperatorProcess(remoteKubeconfig, ['--namespace', REMOTE_OPERATOR_NS, '--lease-name', 'mizzen-external', '--controllers', 'istiooperator,revisiontag']);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`      external operator log:\n${logTail(extOp)}\n      remote operator log:\n${logTail(remoteOp)}`);
  });

  after(async function () {
    this.timeout(240_000);
    // Delete while the operators still run: their finalizers remove the children, then let go.
    await kubectl(e2e.kubeconfig, ['delete', 'istiooperators', '--all', '-n', NS, '--timeout=60s']).catch(() => undefined);
    await kubectl(remoteKubeconfig, ['delete', 'revisiontags,istiooperators', '--all', '-n', NS, '--timeout=60s']).catch(() => undefined);
    await stopOperatorProcess(extOp);
    await stopOperatorProcess(remoteOp);
    await extIdentity?.remove();
    for (const [kc, nss] of [[e2e.kubeconfig, [NS, EXT_OPERATOR_NS, 'ext-inject']], [remoteKubeconfig, [NS, REMOTE_OPERATOR_NS, 'app', 'app-tagged']]] as const) {
      await kubectl(kc, ['delete', 'namespace', ...nss, '--ignore-not-found', '--wait=false']).catch(() => undefined);
    }
    await receiver?.stop();
    ext?.close();
    remote?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
    await teardownSecondCluster();
    console.log(`      external control plane suite: ${((Date.now() - suiteStart) / 1000).toFixed(1)} s, second cluster included (load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`);
  });

  it('step 1: the external cluster runs istiod behind an ingress gateway and is HEALTHY', async function () {
    const t0 = Date.now();
    await ext.apply(externalIop);
    await waitFor('the gateway Service', () => ext.get<V1Service & KubernetesObject>(R.service, 'istio-ingressgateway', NS), 60_000, 200);
    // The cloud load balancer's part: publish the gateway's address.
    await ext.mergePatch(R.service, 'istio-ingressgateway', NS, { status: { loadBalancer: { ingress: [{ ip: ADDR }] } } }, 'status');
    const iop = await waitFor('the external IstioOperator to become HEALTHY', healthy(ext, 'external-istiod'), 120_000, 200);
    console.log(`      apply→HEALTHY ${Date.now() - t0} ms`);
    expect(Object.keys(iop.status?.status ? ((iop.status as { componentStatus?: object }).componentStatus ?? {}) : {}).sort()).to.deep.equal(['IngressGateways', 'Pilot']);
    const gw = await ext.get<V1Service & KubernetesObject>(R.service, 'istio-ingressgateway', NS);
    expect(gw?.spec?.ports?.map((p) => p.port)).to.include.members([15012, 15017]);
    const istiod = await ext.get<KubernetesObject & { spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } } }>(R.deployment, 'istiod', NS);
    const env = Object.fromEntries((istiod?.spec.template.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    expect(env).to.include({ EXTERNAL_ISTIOD: 'true', CLUSTER_ID: CLUSTER });
  });

  it('step 2: the remote cluster’s injection webhook calls the address the gateway publishes', async function () {
    const gw = await ext.get<V1Service & KubernetesObject>(R.service, 'istio-ingressgateway', NS);
    const address = gw?.status?.loadBalancer?.ingress?.[0]?.ip;
    expect(address).to.equal(ADDR);
    const url = `https://${address ?? ''}:15017/inject/cluster/${CLUSTER}/net/network1`;
    await remote.apply(remoteIop(url));
    await waitFor('the remote IstioOperator to become HEALTHY', healthy(remote, 'remote-config'), 90_000, 200);
    const mwc = await remote.get<Mwc>(R.mutatingWebhook, `istio-sidecar-injector-${NS}`);
    expect(mwc, 'the injector webhook').to.not.equal(undefined);
    expect([...new Set((mwc?.webhooks ?? []).map((w) => w.clientConfig.url))]).to.deep.equal([url]);
    // Identities the external istiod uses here: the reader (no Secrets) and istiod's own (config cluster).
    expect(await remote.get(R.serviceAccount, 'istio-reader-service-account', NS)).to.not.equal(undefined);
    expect(await remote.get(R.serviceAccount, 'istiod', NS)).to.not.equal(undefined);
    // istiod patches its webhook's caBundle; here the receiver's CA, as istiod would with its own.
    await remote.apply({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: mwc?.metadata?.name }, webhooks: (mwc?.webhooks ?? []).map((w) => ({ name: w.name, clientConfig: { caBundle: receiverCa } })) } as Mwc);
  });

  it('step 3: mizzen remote-secret create gives istiod the remote cluster through the reader, created where missing', async function () {
    const t0 = Date.now();
    const r = await mizzen(remoteKubeconfig, ['remote-secret', 'create', '--kubeconfig', remoteKubeconfig, '--name', CLUSTER, '--namespace', NS, '--apply-to', e2e.kubeconfig]);
    console.log(`      remote-secret create ${Date.now() - t0} ms`);
    expect(r.code, r.stderr).to.equal(0);
    readerTokenSecret = createdTokenSecret(r.stderr);
    const token = await remote.get<Secret>(R.secret, readerTokenSecret, NS);
    expect(token?.type).to.equal('kubernetes.io/service-account-token');
    const live = await ext.get<Secret>(R.secret, `istio-remote-secret-${CLUSTER}`, NS);
    expect(live?.metadata?.labels).to.include({ 'istio/multiCluster': 'true' });
    expect(live?.metadata?.annotations).to.include({ 'networking.istio.io/cluster': CLUSTER });
    expect(Object.keys(live?.data ?? {})).to.deep.equal([CLUSTER]);
    readerKubeconfig = kubeconfigOf(r.stdout, CLUSTER);
    expect(Buffer.from(live?.data?.[CLUSTER] ?? '', 'base64').toString('utf8')).to.equal(readerKubeconfig);
    // Run again: the token Secret is reused, nothing new is created.
    const again = await mizzen(remoteKubeconfig, ['remote-secret', 'create', '--kubeconfig', remoteKubeconfig, '--name', CLUSTER, '--namespace', NS]);
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stderr).to.not.match(/Created token Secret/);
  });

  it('the remote secret authenticates to the remote cluster: pods, services, endpointslices, and a 403 on Secrets', async function () {
    const reader = await clientFromText(readerKubeconfig);
    try {
      const got = { pods: await statusOf(reader, R.pod), services: await statusOf(reader, R.service), endpointslices: await statusOf(reader, R.endpointSlice), secrets: await statusOf(reader, R.secret), secretsInNs: await statusOf(reader, R.secret, NS) };
      console.log(`      reader: ${JSON.stringify(got)}`);
      expect(got).to.deep.equal({ pods: 200, services: 200, endpointslices: 200, secrets: 403, secretsInNs: 403 });
    } finally {
      reader.close();
    }
    // --type config: istiod's identity, as the config cluster's secret istio-kubeconfig.
    const r = await mizzen(remoteKubeconfig, ['remote-secret', 'create', '--kubeconfig', remoteKubeconfig, '--name', CLUSTER, '--namespace', NS, '--type', 'config']);
    expect(r.code, r.stderr).to.equal(0);
    const doc = YAML.parse(r.stdout) as { metadata: { name: string } };
    expect(doc.metadata.name).to.equal('istio-kubeconfig');
    const istiod = await clientFromText(kubeconfigOf(r.stdout, 'config'));
    try {
      expect(await statusOf(istiod, R.pod)).to.equal(200);
      expect(await statusOf(istiod, R.secret)).to.equal(200);
    } finally {
      istiod.close();
    }
  });

  it('a namespace labelled for injection in the remote cluster has its pods admitted by the external istiod', async function () {
    await ensureNamespace(remote, 'app', { 'istio-injection': 'enabled' });
    const before = receiver.calls.length;
    const pod = await remote.create<Pod>({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'app' }, spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] } });
    expect(pod.spec?.containers.map((c) => c.name)).to.deep.equal(['app', 'istio-proxy']);
    const calls = receiver.calls.slice(before).filter((c) => c.namespace === 'app' && c.name === 'web');
    expect(calls.map((c) => c.path)).to.deep.equal([`/inject/cluster/${CLUSTER}/net/network1`]);
  });

  it('a RevisionTag naming that revision gets a tag webhook calling the same address', async function () {
    await remote.apply({ apiVersion: 'install.istio.io/v1alpha1', kind: 'RevisionTag', metadata: { name: 'prod', namespace: NS }, spec: { revision: 'default' } } as KubernetesObject);
    const tag = await waitFor('the tag webhook', () => remote.get<Mwc>(R.mutatingWebhook, 'istio-revision-tag-prod'), 60_000, 200);
    expect([...new Set((tag.webhooks ?? []).map((w) => w.clientConfig.url))]).to.deep.equal([INJECTION_URL]);
    await ensureNamespace(remote, 'app-tagged', { 'istio.io/rev': 'prod' });
    const before = receiver.calls.length;
    const pod = await waitFor('a pod admitted through the tag webhook', async () => {
      const p = await remote.request<Pod>('POST', '/api/v1/namespaces/app-tagged/pods', { body: { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'tagged-', namespace: 'app-tagged' }, spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] } }, query: { dryRun: 'All' } });
      return p.spec?.containers.some((c) => c.name === 'istio-proxy') ? p : false;
    }, 30_000, 250);
    expect(pod.metadata?.labels?.['istio.io/rev']).to.equal('default');
    expect(receiver.calls.slice(before).some((c) => c.namespace === 'app-tagged' && c.path === `/inject/cluster/${CLUSTER}/net/network1`)).to.equal(true);
  });

  it('rotating the token: with its token Secret deleted, remote-secret create makes a new one and rewrites the remote secret; the old token is refused', async function () {
    const old = readerKubeconfig;
    await remote.delete(R.secret, readerTokenSecret, NS);
    await waitFor('the old token Secret to be gone', async () => (await remote.get(R.secret, readerTokenSecret, NS)) === undefined, 30_000, 100);
    const t0 = Date.now();
    const r = await mizzen(remoteKubeconfig, ['remote-secret', 'create', '--kubeconfig', remoteKubeconfig, '--name', CLUSTER, '--namespace', NS, '--apply-to', e2e.kubeconfig]);
    console.log(`      remote-secret create (rotation) ${Date.now() - t0} ms`);
    expect(r.code, r.stderr).to.equal(0);
    const rotated = createdTokenSecret(r.stderr);
    expect(rotated, 'a token Secret of another name: the same name would carry the same token').to.not.equal(readerTokenSecret);
    readerTokenSecret = rotated;
    readerKubeconfig = kubeconfigOf(r.stdout, CLUSTER);
    expect(readerKubeconfig).to.not.equal(old);
    const live = await ext.get<Secret>(R.secret, `istio-remote-secret-${CLUSTER}`, NS);
    expect(Buffer.from(live?.data?.[CLUSTER] ?? '', 'base64').toString('utf8')).to.equal(readerKubeconfig);
    const fresh = await clientFromText(readerKubeconfig);
    const stale = await clientFromText(old);
    try {
      expect(await statusOf(fresh, R.pod)).to.equal(200);
      // The API server may cache a token's success for a few seconds: wait for the refusal, and print how long.
      const t1 = Date.now();
      await waitFor('the old token to be refused', async () => (await statusOf(stale, R.pod)) === 401, 30_000, 250);
      console.log(`      old token refused ${Date.now() - t1} ms after the rotation`);
    } finally {
      fresh.close();
      stale.close();
    }
  });

  describe('bad input: a clear error, nothing half-written', function () {
    const multiClusterSecrets = async (): Promise<string[]> => (await ext.list<Secret>(R.secret, { namespace: NS, labelSelector: 'istio/multiCluster=true' })).items.map((s) => `${s.metadata?.name ?? ''}@${s.metadata?.resourceVersion ?? ''}`).sort();
    const tokenSecrets = async (c: KubeClient): Promise<string[]> => (await c.list<Secret>(R.secret, { namespace: NS, fieldSelector: 'type=kubernetes.io/service-account-token' })).items.map((s) => s.metadata?.name ?? '').sort();

    it('a remote kubeconfig that does not reach its cluster', async function () {
      const kc = YAML.parse(fs.readFileSync(remoteKubeconfig, 'utf8')) as { clusters: { cluster: { server: string } }[] };
      for (const c of kc.clusters) c.cluster.server = 'https://127.0.0.1:1';
      const file = path.join(tmp, 'unreachable.yaml');
      fs.writeFileSync(file, YAML.stringify(kc));
      const before = await multiClusterSecrets();
      const r = await mizzen(remoteKubeconfig, ['remote-secret', 'create', '--kubeconfig', file, '--name', 'remote9', '--namespace', NS, '--apply-to', e2e.kubeconfig]);
      console.log(`      ${r.stderr.trim()}`);
      expect(r.code).to.equal(1);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
      expect(r.stderr).to.match(/^Error: cannot reach the remote cluster at https:\/\/127\.0\.0\.1:1 /);
      expect(await multiClusterSecrets()).to.deep.equal(before);
    });

    it('a missing ServiceAccount', async function () {
      const before = await tokenSecrets(remote);
      const r = await mizzen(remoteKubeconfig, ['remote-secret', 'create', '--kubeconfig', remoteKubeconfig, '--name', 'remote9', '--namespace', NS, '--service-account', 'nobody', '--apply-to', e2e.kubeconfig]);
      console.log(`      ${r.stderr.trim()}`);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/^Error: ServiceAccount external-istiod\/nobody not found in the remote cluster/);
      expect(await tokenSecrets(remote)).to.deep.equal(before);
      expect(await ext.get(R.secret, 'istio-remote-secret-remote9', NS)).to.equal(undefined);
    });

    it("a name clash with another cluster's remote secret", async function () {
      // The external cluster presents itself under the name remote1, which the remote cluster already has.
      const before = { ext: await multiClusterSecrets(), tokens: await tokenSecrets(ext) };
      const r = await mizzen(e2e.kubeconfig, ['remote-secret', 'create', '--kubeconfig', e2e.kubeconfig, '--name', CLUSTER, '--namespace', NS, '--service-account', 'istiod', '--apply-to', e2e.kubeconfig]);
      console.log(`      ${r.stderr.trim()}`);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/^Error: Secret external-istiod\/istio-remote-secret-remote1 already reaches cluster "remote1" at https:\/\/127\.0\.0\.1:\d+, not https:\/\/127\.0\.0\.1:\d+: another cluster has that name/);
      expect({ ext: await multiClusterSecrets(), tokens: await tokenSecrets(ext) }).to.deep.equal(before);
    });
  });

  describe('declaratively, from the cluster membership', function () {
    const member = (kubeconfig: string): Secret => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `member-${CLUSTER}`, namespace: EXT_OPERATOR_NS, labels: { 'mizzen.io/cluster-member': 'true' } },
      stringData: { 'cluster-id': CLUSTER, kubeconfig },
    });
    const versionOf = async (name: string): Promise<string> => {
      const s = await ext.get<Secret>(R.secret, name, NS);
      return s ? `${s.metadata?.uid ?? ''}@${s.metadata?.resourceVersion ?? ''}` : 'missing';
    };
    /** The message of a Warning Event of the external IstioOperator with that reason and message, seen at or after t0. */
    const waitForWarning = (reason: string, message: RegExp, t0: number): Promise<string> =>
      waitFor(`a Warning Event ${reason} matching ${String(message)}`, async () => {
        const events = (await ext.list<CoreEvent>(R.event, { namespace: NS, fieldSelector: `involvedObject.name=external-istiod,type=Warning,reason=${reason}` })).items;
        const seen = events.find((e) => message.test(e.message ?? '') && Date.parse(String(e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp ?? 0)) >= Math.floor(t0 / 1000) * 1000);
        return seen?.message ?? false;
      }, 30_000, 200);
    const remoteSecretText = async (): Promise<string | undefined> => {
      const s = await ext.get<Secret>(R.secret, `istio-remote-secret-${CLUSTER}`, NS);
      const b64 = s?.data?.[CLUSTER];
      return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8').trim();
    };

    it('an IstioOperator annotated mizzen.io/remote-secrets adopts the remote secret of a member cluster', async function () {
      await ensureNamespace(ext, EXT_OPERATOR_NS);
      await ext.apply(member(readerKubeconfig));
      await ext.mergePatch(R.istioOperator, 'external-istiod', NS, { metadata: { annotations: { 'mizzen.io/remote-secrets': 'all' } } });
      const owned = await waitFor('the remote secret to be owned by the IstioOperator', async () => {
        const s = await ext.get<Secret>(R.secret, `istio-remote-secret-${CLUSTER}`, NS);
        return s?.metadata?.labels?.['install.operator.istio.io/owning-resource'] === 'external-istiod' ? s : false;
      }, 60_000, 200);
      expect(owned.metadata?.labels).to.include({ 'istio/multiCluster': 'true' });
      expect(await remoteSecretText()).to.equal(readerKubeconfig.trim());
    });

    it("rotating the member's credentials rewrites the remote secret, and the new token works", async function () {
      await remote.create<Secret>({ apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/service-account-token', metadata: { name: 'reader-rotated', namespace: NS, annotations: { 'kubernetes.io/service-account.name': 'istio-reader-service-account' } } });
      const filled = await waitFor('the rotated token', async () => {
        const s = await remote.get<Secret>(R.secret, 'reader-rotated', NS);
        return s?.data?.token && s.data['ca.crt'] ? s : false;
      }, 30_000, 200);
      const server = (YAML.parse(readerKubeconfig) as { clusters: { cluster: { server: string } }[] }).clusters[0]?.cluster.server ?? '';
      const rotated = bearerTokenKubeconfig({ cluster: CLUSTER, server, caPem: Buffer.from(filled.data?.['ca.crt'] ?? '', 'base64').toString('utf8'), token: Buffer.from(filled.data?.token ?? '', 'base64').toString('utf8') });
      const t0 = Date.now();
      await ext.apply(member(rotated));
      await waitFor('the remote secret to carry the rotated kubeconfig', async () => (await remoteSecretText()) === rotated.trim(), 30_000, 100);
      console.log(`      member rotated→remote secret rewritten ${Date.now() - t0} ms`);
      const c = await clientFromText((await remoteSecretText()) ?? '');
      try {
        expect(await statusOf(c, R.endpointSlice)).to.equal(200);
      } finally {
        c.close();
      }
    });

    it('removing the member removes its remote secret', async function () {
      const t0 = Date.now();
      await ext.delete(R.secret, `member-${CLUSTER}`, EXT_OPERATOR_NS);
      await waitFor('the remote secret to be gone', async () => (await ext.get(R.secret, `istio-remote-secret-${CLUSTER}`, NS)) === undefined, 30_000, 100);
      console.log(`      member removed→remote secret gone ${Date.now() - t0} ms`);
      await ext.apply(member(readerKubeconfig));
      await waitFor('the remote secret to be back', async () => (await remoteSecretText()) === readerKubeconfig.trim(), 30_000, 100);
    });

    it('a member Secret that lost its kubeconfig keeps the remote secret as it is, with a Warning Event naming the member', async function () {
      const before = await versionOf(`istio-remote-secret-${CLUSTER}`);
      const t0 = Date.now();
      // A JSON merge patch with null removes the key: the member stays, but cannot be read.
      await ext.mergePatch(R.secret, `member-${CLUSTER}`, EXT_OPERATOR_NS, { data: { kubeconfig: null } });
      const msg = await waitForWarning('RemoteSecrets', new RegExp(`Secret ${EXT_OPERATOR_NS}/member-${CLUSTER} of cluster "${CLUSTER}" has no kubeconfig; its remote secret is left as it is`), t0);
      console.log(`      ${msg}`);
      expect(await versionOf(`istio-remote-secret-${CLUSTER}`)).to.equal(before);
      await ext.apply(member(readerKubeconfig));
      await waitFor('the IstioOperator to take the member back', async () => (await versionOf(`istio-remote-secret-${CLUSTER}`)) === before && (await remoteSecretText()) === readerKubeconfig.trim(), 30_000, 100);
    });

    it("a Secret of the member's remote-secret name that is not a remote secret is left alone, with a Warning Event naming it", async function () {
      const name = 'istio-remote-secret-remote2';
      await ext.create<Secret>({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: NS }, stringData: { password: 'not a kubeconfig' } });
      const before = await versionOf(name);
      const t0 = Date.now();
      await ext.apply({ ...member(readerKubeconfig), metadata: { name: 'member-remote2', namespace: EXT_OPERATOR_NS, labels: { 'mizzen.io/cluster-member': 'true' } }, stringData: { 'cluster-id': 'remote2', kubeconfig: readerKubeconfig } });
      const msg = await waitForWarning('RemoteSecrets', new RegExp(`No remote secret for cluster "remote2": Secret ${NS}/${name} exists and is not a remote secret`), t0);
      console.log(`      ${msg}`);
      expect(await versionOf(name)).to.equal(before);
      const live = await ext.get<Secret>(R.secret, name, NS);
      expect(live?.metadata?.labels ?? {}).to.not.have.property('istio/multiCluster');
      expect(Object.keys(live?.data ?? {})).to.deep.equal(['password']);
      await ext.delete(R.secret, 'member-remote2', EXT_OPERATOR_NS);
      await ext.delete(R.secret, name, NS);
    });

    it('a member kubeconfig that does not reach its cluster: the remote secret is written, and a Warning Event names the cluster and server', async function () {
      const kc = YAML.parse(readerKubeconfig) as { clusters: { cluster: { server: string } }[] };
      for (const c of kc.clusters) c.cluster.server = 'https://127.0.0.1:1';
      const unreachable = YAML.stringify(kc);
      const t0 = Date.now();
      await ext.apply({ ...member(unreachable), metadata: { name: 'member-remote3', namespace: EXT_OPERATOR_NS, labels: { 'mizzen.io/cluster-member': 'true' } }, stringData: { 'cluster-id': 'remote3', kubeconfig: unreachable } });
      const msg = await waitForWarning('RemoteSecrets', /The kubeconfig of cluster "remote3" does not read its cluster at https:\/\/127\.0\.0\.1:1: /, t0);
      console.log(`      ${msg}`);
      // The Event comes from the plan; the write follows it.
      const written = await waitFor('the remote secret of remote3', () => ext.get<Secret>(R.secret, 'istio-remote-secret-remote3', NS), 30_000, 100);
      expect(Buffer.from(written.data?.remote3 ?? '', 'base64').toString('utf8').trim()).to.equal(unreachable.trim());
      expect(await remoteSecretText(), 'the other member is untouched').to.equal(readerKubeconfig.trim());
      await ext.delete(R.secret, 'member-remote3', EXT_OPERATOR_NS);
      await waitFor('its remote secret to be gone with the member', async () => (await ext.get(R.secret, 'istio-remote-secret-remote3', NS)) === undefined, 30_000, 100);
    });

    it('an invalid mizzen.io/remote-secrets is an ERROR naming the annotation; istiod and the remote secrets stay', async function () {
      const snapshot = async (): Promise<string[]> => [
        `istiod ${(await ext.get(R.deployment, 'istiod', NS))?.metadata?.uid ?? 'missing'}`,
        `gateway ${(await ext.get(R.service, 'istio-ingressgateway', NS))?.metadata?.uid ?? 'missing'}`,
        `remote secret ${await versionOf(`istio-remote-secret-${CLUSTER}`)}`,
      ];
      const before = await snapshot();
      const t0 = Date.now();
      await ext.mergePatch(R.istioOperator, 'external-istiod', NS, { metadata: { annotations: { 'mizzen.io/remote-secrets': 'Remote_1' } } });
      const failed = await waitFor('the external IstioOperator to report ERROR', async () => {
        const o = await ext.get<Iop>(R.istioOperator, 'external-istiod', NS);
        return o?.status?.status === 'ERROR' ? o : false;
      }, 30_000, 100);
      const message = (failed.status as { message?: string } | undefined)?.message ?? '';
      console.log(`      ${message}`);
      expect(message).to.match(/^metadata\.annotations\[mizzen\.io\/remote-secrets\]: cluster name "Remote_1" is not a DNS label/);
      await waitForWarning('InvalidSpec', /mizzen\.io\/remote-secrets/, t0);
      expect(await snapshot()).to.deep.equal(before);
      await ext.mergePatch(R.istioOperator, 'external-istiod', NS, { metadata: { annotations: { 'mizzen.io/remote-secrets': 'all' } } });
      await waitFor('the external IstioOperator to be HEALTHY again', healthy(ext, 'external-istiod'), 30_000, 100);
      expect(await snapshot()).to.deep.equal(before);
    });
  });

  // A suite of its own: mocha runs a suite's tests before its nested suites, and this one comes last.
  describe('uninstall', function () {
    it("deleting the external IstioOperator removes its objects there and leaves the remote cluster's alone", async function () {
      const snapshot = async (): Promise<string[]> => {
        const out: string[] = [];
        const add = (o: KubernetesObject | undefined, what: string): void => {
          out.push(o ? `${what} ${o.metadata?.uid ?? ''}@${o.metadata?.resourceVersion ?? ''}` : `${what} missing`);
        };
        add(await remote.get(R.istioOperator, 'remote-config', NS), 'IstioOperator');
        add(await remote.get(R.mutatingWebhook, `istio-sidecar-injector-${NS}`), 'injector');
        add(await remote.get(R.mutatingWebhook, 'istio-revision-tag-prod'), 'tag');
        add(await remote.get(R.serviceAccount, 'istio-reader-service-account', NS), 'reader');
        for (const s of (await remote.list<Secret>(R.secret, { namespace: NS, fieldSelector: 'type=kubernetes.io/service-account-token' })).items) add(s, `token ${s.metadata?.name ?? ''}`);
        return out.sort();
      };
      const before = await snapshot();
      expect(before.join('\n')).to.not.match(/missing/);
      await ext.delete(R.istioOperator, 'external-istiod', NS);
      await waitFor('the external IstioOperator to be gone', async () => (await ext.get(R.istioOperator, 'external-istiod', NS)) === undefined, 60_000, 200);
      expect(await ext.get(R.deployment, 'istiod', NS)).to.equal(undefined);
      expect(await ext.get(R.secret, `istio-remote-secret-${CLUSTER}`, NS)).to.equal(undefined);
      expect(await snapshot()).to.deep.equal(before);
    });
  });

  // Last: after every remote secret was written, rewritten, pruned and the IstioOperator deleted.
  describe('RBAC', function () {
    it("the external operator did all of it with exactly the chart's RBAC: no request refused, its token in no log line", async function () {
      const refused = await refusedTotal(extOp!);
      console.log(`      external operator: ${refused} requests refused; ${extOp!.logs.length} log lines searched for its token`);
      expect(refused, 'requests refused').to.equal(0);
      expect(refusedInLogs(extOp!.logs), 'log lines about a refused request').to.deep.equal([]);
      expect(tokenInLogs(extOp!.logs, extIdentity!.token), 'log lines with its token').to.deep.equal([]);
    });
  });
});
