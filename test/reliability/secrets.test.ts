// No credential in a log or an Event: member kubeconfigs carrying a known token (one whose server cannot be
// reached, one the API server refuses) go through every path that reads them (the Multi-Cluster Services peer
// set and the remote secrets an IstioOperator asks for) with the operator logging at debug level; then the whole
// log and every Event of the cluster are searched for the token, in clear and in base64, and for the operator's own
// token: it runs with exactly the Helm chart's RBAC (a TokenRequest token of the chart's ServiceAccount).
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import YAML from 'yaml';
import type { CoreV1Event, KubernetesObject, V1Secret } from '@kubernetes/client-node';
import { KubeClient } from '../../operator/src/kube/client.js';
import { R } from '../../operator/src/kube/resources.js';
import { e2e } from '../e2e/lib/env.js';
import { kubectl, waitFor } from '../e2e/lib/cluster.js';
import { logTail, startOperatorProcess, stopOperatorProcess, type OperatorProcess } from '../e2e/lib/operator.js';
import { chartIdentity, refusedTotal, type ChartIdentity } from '../e2e/lib/rbac.js';

const OPERATOR_NS = 'mizzen-system';
const NS = 'mz-leak';

function kubeconfig(server: string, token: string): string {
  return YAML.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'u', user: { token } }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
  });
}

describe('reliability: no credential in the operator log or an Event', function () {
  this.timeout(300_000);
  const token = `mzcanary-${randomBytes(12).toString('hex')}`;
  const needles = [token, Buffer.from(token).toString('base64')];
  const members = ['leak-unreachable', 'leak-refused'];
  let client: KubeClient;
  let op: OperatorProcess | undefined;
  let identity: ChartIdentity | undefined;
  let server = '';

  before(async () => {
    client = await KubeClient.create(KubeClient.loadConfig(e2e.kubeconfig));
    server = (YAML.parse(await kubectl(e2e.kubeconfig, ['config', 'view', '--raw', '-o', 'yaml'])) as { clusters: { cluster: { server: string } }[] }).clusters[0]!.cluster.server;
    await kubectl(e2e.kubeconfig, ['create', 'namespace', OPERATOR_NS]).catch(() => undefined);
    await kubectl(e2e.kubeconfig, ['create', 'namespace', NS]).catch(() => undefined);
    identity = await chartIdentity(e2e.kubeconfig, OPERATOR_NS);
  });

  after(async () => {
    await kubectl(e2e.kubeconfig, ['-n', NS, 'delete', 'istiooperators', '--all', '--timeout=120s']).catch(() => undefined);
    await stopOperatorProcess(op);
    await identity?.remove();
    for (const m of members) await client.delete(R.secret, m, OPERATOR_NS).catch(() => undefined);
    await kubectl(e2e.kubeconfig, ['delete', 'namespace', NS, '--wait=false']).catch(() => undefined);
    client.close();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`      operator log:\n${logTail(op, 60)}`);
  });

  it('reads member kubeconfigs for the peer set and the remote secrets, and never logs or reports their token', async () => {
    // A server that does not answer, and this cluster's own API server, which refuses the token.
    const servers = { 'leak-unreachable': 'https://127.0.0.1:1', 'leak-refused': server };
    for (const m of members) {
      await client.create<V1Secret & KubernetesObject>({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: m, namespace: OPERATOR_NS, labels: { 'mizzen.io/cluster-member': 'true' } },
        stringData: { 'cluster-id': m, kubeconfig: kubeconfig(servers[m as keyof typeof servers], token) },
      });
    }
    // The cluster's id may already be set (ClusterProperty, by an earlier suite): a different --cluster-id would stop
    // the operator, so use it.
    const property = await client.get<KubernetesObject & { spec?: { value?: string } }>(R.clusterProperty, 'cluster.clusterset.k8s.io');
    op = await startOperatorProcess(identity!.kubeconfig, ['--no-leader-elect', '--controllers', 'istiooperator,serviceexport', '--cluster-id', property?.spec?.value ?? 'leak-c0', '--log-level', 'debug']);
    await client.apply({
      apiVersion: 'install.istio.io/v1alpha1',
      kind: 'IstioOperator',
      metadata: { name: 'leak', namespace: NS, annotations: { 'mizzen.io/remote-secrets': 'all' } },
      spec: { profile: 'empty', revision: 'leak', components: { pilot: { enabled: true, namespace: NS } } },
    });
    // Evidence that every path ran: both remote secrets written, the kubeconfig check's Warning for each member,
    // and both peers known to the serviceexport controller.
    const remoteSecrets = await waitFor(
      'the remote secrets of both members',
      async () => {
        const list = (await client.list<V1Secret & KubernetesObject>(R.secret, { namespace: NS, labelSelector: 'istio/multiCluster=true' })).items;
        return members.every((m) => list.some((s) => s.metadata?.name === `istio-remote-secret-${m}`)) ? list : undefined;
      },
      120_000,
      500,
    );
    const events = async (): Promise<CoreV1Event[]> => (await client.list<CoreV1Event & KubernetesObject>(R.event, {})).items;
    await waitFor(
      'a Warning Event naming each member whose kubeconfig does not read its cluster',
      async () => {
        const text = (await events()).filter((e) => e.reason === 'RemoteSecrets').map((e) => e.message ?? '').join('\n');
        return members.every((m) => text.includes(m));
      },
      120_000,
      500,
    );
    await waitFor('both peers added to the serviceexport controller', () => members.every((m) => op!.logs.some((l) => l.message === 'Added peer cluster' && JSON.stringify(l).includes(m))), 60_000, 200);
    // The remote secrets carry the token (that is what they are for), so the search below can fail.
    const decoded = remoteSecrets.flatMap((s) => Object.values(s.data ?? {}).map((v) => Buffer.from(v, 'base64').toString()));
    expect(decoded.some((d) => d.includes(token)), 'the remote secrets carry the member token').to.equal(true);

    const logText = op.logs.map((l) => JSON.stringify(l)).join('\n');
    const eventText = JSON.stringify(await events());
    const own = [identity!.token, Buffer.from(identity!.token).toString('base64')];
    const found = [...needles, ...own].filter((n) => logText.includes(n) || eventText.includes(n));
    console.log(`      searched ${op.logs.length} log lines (debug) and ${(await events()).length} Events for the member token and the operator's own: ${found.length === 0 ? 'not found' : 'FOUND'}`);
    expect(found, 'the member token or the operator token in a log line or an Event').to.deep.equal([]);
    expect(await refusedTotal(op), "the operator's requests refused with the chart's RBAC").to.equal(0);
  });
});
