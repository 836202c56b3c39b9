// The chained CNI plugin on real network namespaces: every pod is a Pod object on kwok-node-0 (which the agent
// under test serves) and a netns set up by a real CNI runtime (cnitool) through a conflist that install-cni
// produced, with Debian's bridge + host-local as the primary CNI. Assertions use real TCP. The agent runs with
// exactly the RBAC the operator renders for it (a token of the istio-cni ServiceAccount), as in a cluster.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { V1Node } from '@kubernetes/client-node';
import type { KubeClient } from '../../../operator/src/kube/client.js';
import { R } from '../../../operator/src/kube/resources.js';
import { SpawnRunner, SystemExecutor } from '../../../operator/src/iptables/index.js';
import { e2e } from '../lib/env.js';
import { client as kubeClient, repoRoot, waitFor } from '../lib/cluster.js';
import { type AgentProcess, CniLab, NODE, agentTail, createNamespace, createPod, expectRenderedIdentity, eventFor, metricSum, netnsUnavailable, podManifest, ready, sh } from './lib.js';

const TAINT = 'cni.istio.io/not-ready';

async function taints(c: KubeClient): Promise<string[]> {
  return ((await c.get<V1Node>(R.node, NODE))?.spec?.taints ?? []).map((t) => t.key);
}

async function setTaint(c: KubeClient, present: boolean): Promise<void> {
  const node = await c.get<V1Node>(R.node, NODE);
  const rest = (node?.spec?.taints ?? []).filter((t) => t.key !== TAINT);
  const next = present ? [...rest, { key: TAINT, effect: 'NoSchedule' }] : rest;
  await c.mergePatch(R.node, NODE, undefined, { spec: { taints: next.length ? next : null } });
}

describe('CNI plugin on real network namespaces (bridge + host-local, cnitool, mizzen-cni chained)', function () {
  this.timeout(120_000);
  const unavailable = netnsUnavailable();
  const ns = `mz-cni-e2e-${randomBytes(3).toString('hex')}`;
  const id = `${process.pid % 100000}`;
  const A = `mz-cni-a-${id}`; // the app pod (sidecar, annotations)
  const B = `mz-cni-b-${id}`; // a peer pod without a sidecar
  const BAD = `mz-cni-bad-${id}`; // a pod with an invalid annotation
  let lab: CniLab;
  let c: KubeClient;
  let agent: AgentProcess | undefined;
  let taintedBefore = false;
  let app: { namespace: string; name: string; uid: string };
  let peer: { namespace: string; name: string; uid: string };
  let ipA = '';
  let ipB = '';
  let ipB2 = '';
  let chained = '';
  let agentKubeconfig = '';
  let addResult: { cniVersion: string; ips: { address: string }[]; interfaces: { name: string }[] } = { cniVersion: '', ips: [], interfaces: [] };

  before(async function () {
    if (unavailable) this.skip();
    lab = new CniLab({ octet: 41 });
    await lab.init();
    c = await kubeClient(e2e.kubeconfig);
    await createNamespace(c, ns);
    taintedBefore = (await taints(c)).includes(TAINT);
    await setTaint(c, true);
    ipB2 = `10.250.${lab.opts.octet}.251`;
    app = await createPod(
      c,
      podManifest(ns, 'app', {
        annotations: {
          'traffic.sidecar.istio.io/excludeOutboundPorts': '9091',
          'traffic.sidecar.istio.io/excludeOutboundIPRanges': `${ipB2}/32`,
          'traffic.sidecar.istio.io/excludeInboundPorts': '8081',
        },
      }),
    );
    peer = await createPod(c, podManifest(ns, 'peer', { sidecar: false }));
    // The agent's configuration and identity as the operator renders them for values.cni.
    agentKubeconfig = await lab.configureAgent(e2e.kubeconfig, { excludeNamespaces: ['kube-system'], repair: { enabled: true, repairPods: true, labelPods: false, deletePods: false } });
  });

  after(async function () {
    if (unavailable) return;
    this.timeout(60_000);
    await lab?.stopAgent(agent);
    await lab?.cleanup();
    if (c) {
      await setTaint(c, taintedBefore).catch(() => undefined);
      await c.delete(R.namespace, ns).catch(() => undefined);
      c.close();
    }
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`agent log tail:\n${agentTail(agent)}`);
  });

  it('reports ready only after install-cni chained the plugin, then lifts the node taint', async () => {
    // No periodic drift check here (the race suite covers it), so CHECK alone must restore what is flushed.
    agent = await lab.startAgent(agentKubeconfig, ['--drift-interval', '60m']);
    // No primary CNI configuration yet: install-cni waits, the agent is not ready, the node stays tainted.
    await waitFor('the agent waiting for the CNI configuration', () => agent?.logs.find((l) => l.message === 'Found no primary CNI configuration yet; waiting'), 60_000);
    expect(await ready(agent)).to.deep.equal({ status: 503, body: 'install-cni not complete' });
    expect(await taints(c)).to.include(TAINT);
    lab.writePrimary();
    await waitFor('/readyz', async () => (await ready(agent as AgentProcess)).status === 200, 30_000);
    expect(lab.readConf().plugins.map((p) => p.type)).to.deep.equal(['bridge', 'mizzen-cni']);
    expect(lab.readConf().plugins[1]).to.deep.equal({ type: 'mizzen-cni', agentSocket: path.join(lab.socketDir, 'cni.sock') });
    expect(fs.readFileSync(path.join(lab.binDir, 'mizzen-cni')).equals(fs.readFileSync(path.join(repoRoot, 'dist/mizzen-cni')))).to.equal(true);
    await waitFor('the taint to be lifted', async () => !(await taints(c)).includes(TAINT), 30_000);
    chained = fs.readFileSync(path.join(lab.confDir, '10-mz-e2e.conflist'), 'utf8');
  });

  it('re-inserts the plugin at once when the primary CNI rewrites its file (time printed)', async () => {
    const started = Date.now();
    lab.writePrimary();
    await waitFor('the entry back', () => lab.readConf().plugins.at(-1)?.type === 'mizzen-cni', 10_000, 10);
    const took = Date.now() - started;
    console.log(`      entry back ${took} ms after the rewrite`);
    // The file watch should see it at once; the bound only catches waiting for the periodic check to miss it twice.
    expect(took).to.be.below(5000);
  });

  it('ADD through the chain: prevResult passed through, the sidecar pod redirected (by an nf_tables batch, no process, on an iptables-nft node), the peer without a sidecar untouched', async () => {
    const spawns = await metricSum(agent as AgentProcess, 'mizzen_cni_spawns_total', { cause: 'add' });
    await lab.addNetns(A);
    await lab.addNetns(B);
    addResult = JSON.parse(await lab.cnitool('add', A, app)) as typeof addResult;
    const outA = addResult;
    await lab.cnitool('add', B, peer);
    ipA = await lab.ipOf(A);
    ipB = await lab.ipOf(B);
    // What the bridge plugin returned reaches the runtime unchanged (mizzen-cni adds and allocates nothing).
    expect(outA.cniVersion).to.equal('1.0.0');
    expect(outA.ips.map((i) => i.address)).to.deep.equal([`${ipA}/24`]);
    expect(outA.interfaces.map((i) => i.name)).to.include('eth0');
    expect(await lab.ourChains(A)).to.have.members(['ISTIO_INBOUND', 'ISTIO_IN_REDIRECT', 'ISTIO_OUTPUT', 'ISTIO_REDIRECT']);
    expect(await lab.ourChains(B)).to.deep.equal([]);
    // The pod's rules went in without iptables-restore where the node's iptables is iptables-nft (ADR 0005).
    const nft = (await new SystemExecutor({ runner: new SpawnRunner() }).detectBackend()) === 'nft';
    expect((await metricSum(agent as AgentProcess, 'mizzen_cni_spawns_total', { cause: 'add' })) - spawns).to.equal(nft ? 0 : 1);
    expect(await metricSum(agent as AgentProcess, 'mizzen_cni_netlink_fallbacks_total')).to.equal(0);
    await sh('ip', ['-n', B, 'addr', 'add', `${ipB2}/24`, 'dev', 'eth0']);
    await lab.listen(A, 'A', [15001, 15006, 8081]);
    await lab.listen(B, 'B', [9090, 9091]);
  });

  it('redirects the app’s outbound TCP to 15001 and inbound TCP to 15006', async () => {
    expect(await lab.dial(A, ipB, 9090, 1000)).to.equal('A:15001');
    expect(await lab.dial(A, ipB, 9090, 0)).to.equal('A:15001');
    expect(await lab.dial(B, ipA, 8080, 0)).to.equal('A:15006');
    expect(await lab.dial(B, ipA, 9999, 1000)).to.equal('A:15006');
  });

  it('lets traffic of the proxy’s UID 1337 bypass the redirection', async () => {
    expect(await lab.dial(A, ipB, 9090, 1337)).to.equal('B:9090');
  });

  it('lets excluded outbound ports, outbound CIDRs and inbound ports (annotations) bypass it', async () => {
    expect(await lab.dial(A, ipB, 9091, 1000)).to.equal('B:9091');
    expect(await lab.dial(A, ipB2, 9090, 1000)).to.equal('B:9090');
    expect(await lab.dial(B, ipA, 8081, 0)).to.equal('A:8081');
  });

  it('a second ADD is idempotent: the agent reads the rules once and writes nothing', async () => {
    const before = await lab.iptablesSave(A);
    const spawns = await metricSum(agent as AgentProcess, 'mizzen_cni_spawns_total', { cause: 'add' });
    const again = await lab.execPlugin('ADD', A, app, addResult);
    expect(again.code, again.stdout).to.equal(0);
    expect(JSON.parse(again.stdout)).to.deep.equal(addResult);
    expect(await lab.iptablesSave(A)).to.equal(before);
    expect((await metricSum(agent as AgentProcess, 'mizzen_cni_spawns_total', { cause: 'add' })) - spawns).to.equal(1);
    expect(await lab.dial(A, ipB, 9090, 1000)).to.equal('A:15001');
  });

  it('CHECK finds rules someone flushed and restores them', async () => {
    const before = await lab.iptablesSave(A);
    await sh('ip', ['netns', 'exec', A, 'iptables', '-t', 'nat', '-F', 'ISTIO_OUTPUT']);
    expect(await lab.dial(A, ipB, 9090, 1000)).to.equal('B:9090');
    await lab.cnitool('check', A, app);
    expect(await lab.iptablesSave(A)).to.equal(before);
    expect(await lab.dial(A, ipB, 9090, 1000)).to.equal('A:15001');
  });

  it('fails the ADD of a pod with an invalid annotation, naming it, with a Warning Event, and programs nothing', async () => {
    const bad = await createPod(c, podManifest(ns, 'bad', { annotations: { 'traffic.sidecar.istio.io/includeInboundPorts': '80,eighty' } }));
    await lab.addNetns(BAD);
    const err = await lab.cnitool('add', BAD, bad).then(
      () => undefined,
      (e: Error & { stderr?: string }) => e.stderr ?? e.message,
    );
    expect(err).to.match(/traffic\.sidecar\.istio\.io\/includeInboundPorts.*"eighty" is not a port/);
    expect(await lab.ourChains(BAD)).to.deep.equal([]);
    const event = await waitFor('an InvalidTrafficAnnotation event', () => eventFor(c, ns, 'bad', 'InvalidTrafficAnnotation'));
    expect(event.type).to.equal('Warning');
    expect(event.message).to.match(/annotation traffic\.sidecar\.istio\.io\/includeInboundPorts: "eighty" is not a port/);
    // The runtime tears the failed sandbox down.
    await lab.cnitool('del', BAD, bad);
    await lab.delNetns(BAD);
  });

  for (const version of ['0.3.1', '0.4.0']) {
    it(`works through a cniVersion ${version} chain too (libcni's result conversion, the bridge plugin's ${version} result)`, async () => {
      const dir = path.join(lab.dir, `v${version}.d`);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, '10-mz-e2e.conflist'), JSON.stringify({ ...JSON.parse(chained), cniVersion: version }));
      const name = `v${version.replace(/\./g, '')}`;
      const ref = await createPod(c, podManifest(ns, name));
      const netns = `mz-cni-${name}-${id}`;
      await lab.addNetns(netns);
      const out = JSON.parse(await lab.cnitool('add', netns, ref, dir)) as { cniVersion: string; ips: { version?: string; address: string }[] };
      expect(out.cniVersion).to.equal(version);
      expect(out.ips[0]?.address).to.match(/^10\.250\.41\.\d+\/24$/);
      expect(await lab.ourChains(netns)).to.include('ISTIO_OUTPUT');
      if (version !== '0.3.1') await lab.cnitool('check', netns, ref, dir);
      await lab.cnitool('del', netns, ref, dir);
      expect(await lab.ourChains(netns)).to.deep.equal([]);
      await lab.delNetns(netns);
    });
  }

  it('DEL leaves nothing behind: no rules, no interfaces, no address, no cache entry', async () => {
    await lab.cnitool('del', A, app);
    await lab.cnitool('del', B, peer);
    expect(await lab.ourChains(A)).to.deep.equal([]);
    expect((await lab.iptablesSave(A)).split('\n').filter((l) => l.startsWith('-A '))).to.deep.equal([]);
    expect((await sh('ip', ['-n', A, '-o', 'link'])).trim().split('\n').map((l) => l.split(':')[1]?.trim())).to.deep.equal(['lo']);
    expect((await sh('ip', ['-o', 'link', 'show', 'master', lab.bridge])).trim()).to.equal('');
    expect(fs.readdirSync(path.join(lab.dir, 'ipam', lab.network)).filter((f) => /^\d/.test(f))).to.deep.equal([]);
    expect(fs.readdirSync('/var/lib/cni/results').filter((f) => f.startsWith(`${lab.network}-`))).to.deep.equal([]);
    // A DEL of what is already gone succeeds (runtimes repeat DELs).
    await lab.cnitool('del', A, app);
  });

  it('on SIGTERM removes exactly its own entry and the plugin; then an ADD through a chain that still names it fails clearly', async () => {
    await lab.stopAgent(agent);
    expect(lab.readConf()).to.deep.equal(lab.primaryConfig());
    expect(fs.existsSync(path.join(lab.binDir, 'mizzen-cni'))).to.equal(false);
    expect(fs.existsSync(path.join(lab.socketDir, 'cni.sock'))).to.equal(false);
    // A runtime that still has the chained configuration (and the binary): the pod must not start without rules.
    const stale = path.join(lab.dir, 'stale.d');
    fs.mkdirSync(stale);
    fs.writeFileSync(path.join(stale, '10-mz-e2e.conflist'), chained);
    fs.copyFileSync(path.join(repoRoot, 'dist/mizzen-cni'), path.join(lab.binDir, 'mizzen-cni'));
    await lab.addNetns(A + 'x');
    const err = await lab.cnitool('add', A + 'x', app, stale).then(
      () => undefined,
      (e: Error & { stderr?: string }) => e.stderr ?? e.message,
    );
    expect(err).to.match(/mizzen-cni cannot program pod traffic redirection: the mizzen node agent is unreachable at .*cni\.sock \(connect ENOENT\)/);
    await lab.cnitool('del', A + 'x', app, stale);
    await lab.delNetns(A + 'x');
    fs.rmSync(path.join(lab.binDir, 'mizzen-cni'));
  });

  it('ran with exactly its rendered RBAC (a ServiceAccount token): no request refused, the token in no log line', async () => {
    await expectRenderedIdentity(lab);
  });
});
