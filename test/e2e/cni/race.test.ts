// The race Istio CNI's repair exists for: pods whose sandboxes were set up before the agent was ready (here: by the
// primary CNI alone, before mizzen-cni was in the chain) have no redirection. The agent finds them through libcni's
// cache and its pod cache and, per values.cni.repair, programs them in place, labels them or deletes them. It also
// restores rules that drift later, by itself. Each agent runs with exactly the RBAC the operator renders for its
// repair settings (a token of the istio-cni ServiceAccount): labelling needs patch on pods, deleting needs delete.
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { KubeClient } from '../../../operator/src/kube/client.js';
import { R } from '../../../operator/src/kube/resources.js';
import { e2e } from '../lib/env.js';
import { client as kubeClient, waitFor } from '../lib/cluster.js';
import { type AgentProcess, CniLab, agentTail, createNamespace, createPod, expectRenderedIdentity, eventFor, getPod, netnsUnavailable, podManifest, sh } from './lib.js';

type PodRef = { namespace: string; name: string; uid: string };

// values.cni.repair; the agent's ClusterRole follows (patch on pods to label them, delete to delete them).
const REPAIR_IN_PLACE = { enabled: true, repairPods: true, labelPods: false, deletePods: false };
const LABEL_ONLY = { enabled: true, repairPods: false, labelPods: true, deletePods: false };
const DELETE_ONLY = { enabled: true, repairPods: false, labelPods: false, deletePods: true };

describe('CNI race repair: pods that started before the agent (real netns, cnitool)', function () {
  this.timeout(180_000);
  const unavailable = netnsUnavailable();
  const ns = `mz-cni-race-${randomBytes(3).toString('hex')}`;
  const id = `${process.pid % 100000}`;
  const netnsOf = (pod: string): string => `mz-race-${pod}-${id}`;
  let lab: CniLab;
  let c: KubeClient;
  let agent: AgentProcess | undefined;
  const pods = new Map<string, PodRef>();

  /** A pod scheduled to the node and its sandbox set up by the primary CNI only: no redirection. */
  async function earlyPod(name: string, sidecar = true): Promise<PodRef> {
    const ref = await createPod(c, podManifest(ns, name, { sidecar }));
    pods.set(name, ref);
    await lab.addNetns(netnsOf(name));
    await lab.cnitool('add', netnsOf(name), ref);
    expect(await lab.ourChains(netnsOf(name))).to.deep.equal([]);
    return ref;
  }

  /** An agent with the configuration and exactly the RBAC the operator renders for this values.cni.repair. */
  async function startAgent(repair: Record<string, boolean>): Promise<void> {
    const kubeconfig = await lab.configureAgent(e2e.kubeconfig, { excludeNamespaces: ['kube-system'], repair });
    agent = await lab.startAgent(kubeconfig, ['--drift-interval', '1s']);
    await waitFor('the agent to be ready', () => agent?.logs.find((l) => l.message === 'Became ready'), 60_000);
  }

  before(async function () {
    if (unavailable) this.skip();
    lab = new CniLab({ octet: 42 });
    await lab.init();
    lab.writePrimary();
    c = await kubeClient(e2e.kubeconfig);
    await createNamespace(c, ns);
  });

  after(async function () {
    if (unavailable) return;
    this.timeout(60_000);
    await lab?.stopAgent(agent);
    for (const [name, ref] of pods) await lab?.cnitool('del', netnsOf(name), ref).catch(() => undefined);
    await lab?.cleanup();
    if (c) {
      await c.delete(R.namespace, ns).catch(() => undefined);
      c.close();
    }
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`agent log tail:\n${agentTail(agent)}`);
  });

  it('repairs in place (repairPods) every pod that started before the agent, and only those that qualify', async () => {
    for (const p of ['r1', 'r2', 'r3']) await earlyPod(p);
    await earlyPod('q', false);
    await lab.listen(netnsOf('r1'), 'R1', [15001, 15006]);
    await lab.listen(netnsOf('q'), 'Q', [9090]);
    const ipQ = await lab.ipOf(netnsOf('q'));
    const ipR1 = await lab.ipOf(netnsOf('r1'));
    expect(await lab.dial(netnsOf('r1'), ipQ, 9090)).to.equal('Q:9090'); // no redirection yet

    await startAgent(REPAIR_IN_PLACE);
    for (const p of ['r1', 'r2', 'r3']) {
      await waitFor(`${p} to be redirected`, async () => (await lab.ourChains(netnsOf(p))).includes('ISTIO_OUTPUT'), 30_000, 200);
      const event = await waitFor(`a repair Event on ${p}`, () => eventFor(c, ns, p, 'TrafficRedirectRepaired'));
      expect(event.type).to.equal('Normal');
    }
    expect(await lab.dial(netnsOf('r1'), ipQ, 9090)).to.equal('R1:15001');
    expect(await lab.dial(netnsOf('q'), ipR1, 8080, 0)).to.equal('R1:15006');
    expect(await lab.dial(netnsOf('r1'), ipQ, 9090, 1337)).to.equal('Q:9090');
    expect(await lab.ourChains(netnsOf('q'))).to.deep.equal([]);
    for (const p of ['r1', 'r2', 'r3', 'q']) expect((await getPod(c, ns, p))?.metadata?.deletionTimestamp).to.equal(undefined);
  });

  it('restores rules that drift later, by itself (periodic check), with an Event', async () => {
    const before = await lab.iptablesSave(netnsOf('r2'));
    await sh('ip', ['netns', 'exec', netnsOf('r2'), 'iptables', '-t', 'nat', '-F', 'ISTIO_REDIRECT']);
    await sh('ip', ['netns', 'exec', netnsOf('r2'), 'iptables', '-t', 'nat', '-D', 'OUTPUT', '-j', 'ISTIO_OUTPUT']);
    await waitFor('r2 restored', async () => (await lab.iptablesSave(netnsOf('r2'))) === before, 30_000, 200);
    await waitFor('a TrafficRedirectRestored Event on r2', () => eventFor(c, ns, 'r2', 'TrafficRedirectRestored'));
    await lab.stopAgent(agent);
    expect(lab.readConf()).to.deep.equal(lab.primaryConfig());
  });

  it('labels such a pod cni.istio.io/uninitialized=true (labelPods) and leaves healthy pods alone', async () => {
    await earlyPod('l1');
    await startAgent(LABEL_ONLY);
    const labelled = await waitFor('l1 labelled', async () => ((await getPod(c, ns, 'l1'))?.metadata?.labels?.['cni.istio.io/uninitialized'] === 'true' ? true : undefined), 30_000, 200);
    expect(labelled).to.equal(true);
    expect((await waitFor('a label Event', () => eventFor(c, ns, 'l1', 'UninitializedPodLabelled'))).type).to.equal('Warning');
    expect(await lab.ourChains(netnsOf('l1'))).to.deep.equal([]);
    for (const p of ['r1', 'r2', 'r3']) expect((await getPod(c, ns, p))?.metadata?.labels?.['cni.istio.io/uninitialized']).to.equal(undefined);
    await lab.stopAgent(agent);
  });

  it('deletes such pods (deletePods), so that their owners recreate them through the plugin', async () => {
    const d1 = await earlyPod('d1');
    const l1 = pods.get('l1');
    await startAgent(DELETE_ONLY);
    for (const ref of [d1, l1]) {
      await waitFor(`${ref?.name ?? ''} deleted`, async () => {
        const p = await getPod(c, ns, ref?.name ?? '');
        return p === undefined || p.metadata?.uid !== ref?.uid || p.metadata?.deletionTimestamp !== undefined;
      }, 30_000, 200);
      await waitFor('a delete Event', () => eventFor(c, ns, ref?.name ?? '', 'UninitializedPodDeleted'));
    }
    for (const p of ['r1', 'r2', 'r3', 'q']) expect((await getPod(c, ns, p))?.metadata?.deletionTimestamp).to.equal(undefined);
    await lab.stopAgent(agent);
  });

  it('each agent ran with exactly the RBAC rendered for its repair settings: no request refused, the token in no log line', async () => {
    const f = await expectRenderedIdentity(lab);
    expect(f.agents, 'agents started').to.equal(3);
  });
});
