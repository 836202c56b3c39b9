import { expect } from 'chai';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { clusterDown, kubectl, repoRoot, waitFor } from '../lib/cluster.js';
import { helm } from '../lib/helm.js';
import { apply, cannotRunRealNode, cluster, getPod, isReady, loadavg, mizzenImage, nodeCluster, nodeExec, percentile, podRssMiB, TEST_IMAGE, testPod, waitPodReady, type Pod } from './lib.js';

const exec = promisify(execFile);
const ns = 'node-e2e';

interface NodeObj {
  spec: { podCIDR?: string; taints?: { key: string }[] };
  status: { nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string }; addresses: { type: string; address: string }[]; conditions: { type: string; status: string }[] };
}

// Host paths a real node must never create or change (its own are bind-mounted inside its mount namespace).
const hostPaths = ['/etc/cni', '/opt/cni', '/var/lib/cni', '/home/kubernetes', '/var/log/pods', '/var/lib/kubelet', '/var/lib/containerd', '/run/containerd'];

/** A pod with the sidecar's shape: an app container (echo on 8080) and the stand-in istio-proxy as uid 1337. */
function sidecarPod(name: string, annotations?: Record<string, string>): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, annotations },
    spec: {
      nodeSelector: { type: 'real' },
      terminationGracePeriodSeconds: 1,
      enableServiceLinks: false,
      containers: [
        { name: 'app', image: TEST_IMAGE, imagePullPolicy: 'Never', args: ['echo', '8080'], ports: [{ containerPort: 8080 }] },
        { name: 'istio-proxy', image: TEST_IMAGE, imagePullPolicy: 'Never', args: ['proxy'], securityContext: { runAsUser: 1337, runAsGroup: 1337 } },
      ],
    },
  };
}

/** A Deployment of one sidecar-shaped pod (app + stand-in istio-proxy) that tolerates the CNI not-ready taint. */
function raceDeployment(name: string): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          nodeSelector: { type: 'real' },
          tolerations: [{ key: 'cni.istio.io/not-ready', operator: 'Exists', effect: 'NoSchedule' }],
          terminationGracePeriodSeconds: 1,
          enableServiceLinks: false,
          containers: [
            { name: 'app', image: TEST_IMAGE, imagePullPolicy: 'Never', args: ['echo', '8080'] },
            { name: 'istio-proxy', image: TEST_IMAGE, imagePullPolicy: 'Never', args: ['proxy'], securityContext: { runAsUser: 1337, runAsGroup: 1337 } },
          ],
        },
      },
    },
  };
}

/** The messages of the pod's events with this reason (any type), joined. */
async function eventsOf(kc: string, pod: string, reason: string): Promise<string> {
  return kubectl(kc, ['get', 'events', '-n', ns, '--field-selector', `involvedObject.name=${pod},reason=${reason}`, '-o', 'jsonpath={.items[*].message}']);
}

/** The istio-cni-node pods on real-node-0 (terminating ones included). */
async function agentPods(kc: string): Promise<(Pod & { metadata: { deletionTimestamp?: string } })[]> {
  const list = JSON.parse(await kubectl(kc, ['get', 'pods', '-n', 'kube-system', '-l', 'k8s-app=istio-cni-node', '-o', 'json'])) as { items: (Pod & { metadata: { deletionTimestamp?: string } })[] };
  return list.items.filter((p) => p.spec.nodeName === 'real-node-0');
}

/** Creates n pods in batches of 10 and returns each one's time from create to Running as seen by the API, sorted. */
async function podStartFigures(prefix: string, n: number): Promise<number[]> {
  const kc = nodeCluster.kubeconfig;
  const times: number[] = [];
  const batch = 10;
  for (let b = 0; b < n; b += batch) {
    const names = Array.from({ length: Math.min(batch, n - b) }, (_, k) => `${prefix}-${b + k}`);
    const t0 = Date.now();
    await apply(kc, names.map((m) => testPod(m, ns, ['sleep'], { labels: { figures: prefix } })));
    const pending = new Set(names);
    await waitFor(`pods ${names[0]}..${names[names.length - 1]} Running`, async () => {
      const list = JSON.parse(await kubectl(kc, ['get', 'pods', '-n', ns, '-l', `figures=${prefix}`, '-o', 'json'])) as { items: Pod[] };
      for (const p of list.items) {
        if (pending.has(p.metadata.name) && p.status?.phase === 'Running') {
          times.push(Date.now() - t0);
          pending.delete(p.metadata.name);
        }
      }
      return pending.size === 0;
    }, 300_000, 100);
    await kubectl(kc, ['delete', 'pod', '-n', ns, ...names, '--wait=false']);
  }
  expect(times).to.have.length(n);
  return times.sort((x, y) => x - y);
}

describe('real node: kubelet + containerd + runc in its own namespaces', function () {
  this.timeout(5 * 60_000);
  const kc = (): string => nodeCluster.kubeconfig;
  const hostBefore = new Map<string, boolean>();
  let index = 0;
  let primaryConflist = '';

  before(async function () {
    const why = cannotRunRealNode();
    if (why) {
      console.log(`    skipped: ${why}`);
      this.skip();
    }
    this.timeout(45 * 60_000); // a first run builds containerd, crictl and the test images
    for (const p of hostPaths) hostBefore.set(p, fs.existsSync(p));
    await clusterDown(nodeCluster.name);
    const t0 = Date.now();
    const { stdout } = await cluster(['up', nodeCluster.name, '--real-nodes', '1'], { KWOK_NODES: '1' });
    nodeCluster.kubeconfig = stdout;
    console.log(`    cluster ${nodeCluster.name} with one real node up in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    const env = fs.readFileSync(stdout.replace(/kubeconfig$/, 'cluster.env'), 'utf8');
    index = Number(/^INDEX=(\d+)$/m.exec(env)![1]);
    await kubectl(kc(), ['create', 'namespace', ns]);
    await waitFor('the default ServiceAccount in the test namespace', () => kubectl(kc(), ['get', 'sa', '-n', ns, 'default']), 30_000, 200);
  });

  after(async function () {
    this.timeout(120_000);
    if (process.env.MIZZEN_E2E_KEEP !== '1') await clusterDown(nodeCluster.name).catch(() => undefined);
  });

  it('registers the node Ready, with the kubelet and containerd versions we build', async () => {
    const node = JSON.parse(await kubectl(kc(), ['get', 'node', 'real-node-0', '-o', 'json'])) as NodeObj;
    expect(node.status.conditions.find((c) => c.type === 'Ready')?.status).to.equal('True');
    expect(node.status.nodeInfo.kubeletVersion).to.equal('v1.36.3');
    expect(node.status.nodeInfo.containerRuntimeVersion).to.match(/^containerd:\/\/v?2\.4\./);
    expect(node.status.addresses).to.deep.include({ type: 'InternalIP', address: `172.30.${index}.250` });
    expect(node.spec.podCIDR).to.equal(`10.${128 + index}.200.0/24`);
    // The node's own view: the primary conflist and plugins are where a distribution keeps them.
    expect(await nodeExec(['ls', '/etc/cni/net.d'])).to.contain('10-bridge.conflist');
    expect(await nodeExec(['ls', '/home/kubernetes/bin'])).to.match(/bridge[\s\S]*host-local/);
  });

  it('runs a real pod that another pod reaches by its IP', async () => {
    await apply(kc(), [testPod('echo', ns, ['echo', '8080'], { ports: [8080] }), testPod('client', ns, ['sleep'])]);
    const echo = await waitPodReady(kc(), ns, 'echo');
    await waitPodReady(kc(), ns, 'client');
    expect(echo.status?.podIP).to.match(new RegExp(`^10\\.${128 + index}\\.200\\.\\d+$`));
    const out = await kubectl(kc(), ['exec', '-n', ns, 'client', '--', '/mztest', 'connect', `${echo.status!.podIP}:8080`, 'hi-from-client']);
    expect(out.trim()).to.equal('echo echo 8080: hi-from-client');
    // crictl sees the same pods through the node's containerd.
    const sandboxes = await nodeExec(['crictl', 'pods', '--namespace', ns, '-q']);
    expect(sandboxes.trim().split('\n')).to.have.length(2);
  });

  it('routes the kubernetes Service to the API server from inside a pod', async () => {
    const out = await kubectl(kc(), ['exec', '-n', ns, 'client', '--', '/mztest', 'dial', `10.${96 + index}.0.1:443`]);
    expect(out).to.match(new RegExp(`^connected to 10\\.${96 + index}\\.0\\.1:443 from 10\\.${128 + index}\\.200\\.\\d+:\\d+`));
  });

  it('starts pods through the kubelet and containerd (figures: create to Running, primary CNI only)', async function () {
    this.timeout(20 * 60_000);
    const times = await podStartFigures('fig', Number(process.env.MIZZEN_E2E_NODE_PODS ?? 30));
    console.log(`    pod create -> Running (primary CNI only, ${times.length} pods): p50 ${percentile(times, 50)} ms, p99 ${percentile(times, 99)} ms (load ${loadavg()})`);
  });

  describe('the journey with the mizzen image (operator and CNI agent run for real)', function () {
    const chart = path.join(repoRoot, 'charts/mizzen');
    const seedFile = path.join(repoRoot, 'config/samples/install_v1alpha1_istiooperator_seed.yaml');
    let installedAt = 0;
    let journeyStart = 0;

    after(function () {
      if (journeyStart) console.log(`    the journey (image, helm install ... uninstall) took ${((Date.now() - journeyStart) / 1000).toFixed(0)}s (load ${loadavg()})`);
    });

    before(async function () {
      this.timeout(30 * 60_000);
      if (process.env.MIZZEN_E2E_NODE_JOURNEY === '0') {
        console.log('    skipped: MIZZEN_E2E_NODE_JOURNEY=0');
        this.skip();
      }
      const t0 = Date.now();
      journeyStart = t0;
      const archive = await mizzenImage();
      if (!archive) {
        console.log('    skipped: no mizzen image (scripts/image is missing or built nothing under dist/images)');
        this.skip();
      }
      await cluster(['node-import', nodeCluster.name, archive]);
      console.log(`    mizzen image built (or cached) and imported in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    });

    it('helm install: two operator replicas Running and Ready on the real node, one leader', async function () {
      this.timeout(10 * 60_000);
      installedAt = Date.now();
      await helm(['install', 'mizzen', chart, '-n', 'mizzen-system', '--create-namespace', '--kubeconfig', kc(), '--set', 'clusterId=node-e2e', '--set', 'nodeSelector.type=real']);
      const pods = await waitFor('two operator pods Running and Ready', async () => {
        const list = JSON.parse(await kubectl(kc(), ['get', 'pods', '-n', 'mizzen-system', '-o', 'json'])) as { items: Pod[] };
        const ready = list.items.filter((p) => p.status?.phase === 'Running' && isReady(p));
        return ready.length === 2 && list.items;
      }, 5 * 60_000, 500);
      for (const p of pods) expect(p.spec.nodeName).to.equal('real-node-0');
      const lease = JSON.parse(await kubectl(kc(), ['get', 'lease', '-n', 'mizzen-system', 'mizzen-operator', '-o', 'json'])) as { spec: { holderIdentity?: string } };
      const holder = lease.spec.holderIdentity ?? '';
      expect(pods.filter((p) => holder.startsWith(p.metadata.name)), `leader ${holder}`).to.have.length(1);
      console.log(`    helm install -> operator pods Ready in ${((Date.now() - installedAt) / 1000).toFixed(1)}s (load ${loadavg()})`);
    });

    it('the seed IstioOperator verbatim: istio-cni-node runs on the real node, chains mizzen-cni last, lifts the taint', async function () {
      this.timeout(10 * 60_000);
      const before = await nodeExec(['cat', '/etc/cni/net.d/10-bridge.conflist']);
      primaryConflist = before;
      await kubectl(kc(), ['taint', 'node', 'real-node-0', 'cni.istio.io/not-ready=true:NoSchedule', '--overwrite']);
      // The race: a sidecar-shaped pod that tolerates the taint starts before the agent, without rules.
      await apply(kc(), [raceDeployment('race')]);
      const early = await waitFor('the race pod Running before the agent', async () => {
        const list = JSON.parse(await kubectl(kc(), ['get', 'pods', '-n', ns, '-l', 'app=race', '-o', 'json'])) as { items: Pod[] };
        return list.items.find((p) => p.status?.phase === 'Running' && isReady(p));
      }, 120_000, 250);
      const echoIP = (await getPod(kc(), ns, 'echo')).status!.podIP!;
      expect((await kubectl(kc(), ['exec', '-n', ns, early.metadata.name, '-c', 'app', '--', '/mztest', 'connect', `${echoIP}:8080`, 'early'])).trim()).to.equal('echo echo 8080: early');
      await kubectl(kc(), ['create', 'namespace', 'istio-system']).catch(() => undefined);
      await kubectl(kc(), ['apply', '-f', seedFile]);
      const agent = await waitFor('the istio-cni-node pod on real-node-0 Running and Ready', async () => {
        const list = JSON.parse(await kubectl(kc(), ['get', 'pods', '-n', 'kube-system', '-l', 'k8s-app=istio-cni-node', '-o', 'json'])) as { items: Pod[] };
        return list.items.find((p) => p.spec.nodeName === 'real-node-0' && p.status?.phase === 'Running' && isReady(p));
      }, 5 * 60_000, 500);
      expect(agent.status?.containerStatuses?.[0]?.ready).to.equal(true);
      const conf = JSON.parse(await nodeExec(['cat', '/etc/cni/net.d/10-bridge.conflist'])) as { plugins: { type: string }[] };
      expect(conf.plugins.map((p) => p.type)).to.deep.equal(['bridge', 'portmap', 'mizzen-cni']);
      expect(await nodeExec(['ls', '/home/kubernetes/bin'])).to.match(/^mizzen-cni$/m);
      await waitFor('the cni.istio.io/not-ready taint lifted', async () => {
        const node = JSON.parse(await kubectl(kc(), ['get', 'node', 'real-node-0', '-o', 'json'])) as NodeObj;
        return !(node.spec.taints ?? []).some((t) => t.key === 'cni.istio.io/not-ready');
      }, 60_000, 250);
      await waitFor('the seed HEALTHY', async () => {
        const iop = JSON.parse(await kubectl(kc(), ['get', 'istiooperators', '-n', 'istio-system', 'example-istiocontrolplane', '-o', 'json'])) as { status?: { status?: string } };
        return iop.status?.status === 'HEALTHY';
      }, 5 * 60_000, 500);
      console.log(`    helm install -> seed HEALTHY on the real node in ${((Date.now() - installedAt) / 1000).toFixed(1)}s (load ${loadavg()})`);
      // Memory in the pods, as the node runs them: each operator replica (the leader has installed the seed) and the agent.
      const operators = (JSON.parse(await kubectl(kc(), ['get', 'pods', '-n', 'mizzen-system', '-l', 'app.kubernetes.io/name=mizzen', '-o', 'json'])) as { items: Pod[] }).items;
      const rss = (p: Pod): string => `${podRssMiB(p.metadata.uid ?? '').toFixed(0)} MiB`;
      console.log(`    RSS in the pod: operators ${operators.map(rss).join(', ') || '(none found)'}; istio-cni-node ${rss(agent)} (load ${loadavg()})`);
      expect(podRssMiB(agent.metadata.uid ?? ''), 'the agent pod has processes in its cgroup').to.be.above(0);

      // Repair with the seed's modes (label and delete, Istio's defaults for `repair: true`): the pod that
      // started without rules is deleted and its ReplicaSet's replacement starts with them.
      const agentReady = Date.now();
      const replaced = await waitFor('the race pod replaced by one with rules', async () => {
        const list = JSON.parse(await kubectl(kc(), ['get', 'pods', '-n', ns, '-l', 'app=race', '-o', 'json'])) as { items: (Pod & { metadata: { deletionTimestamp?: string } })[] };
        return !list.items.some((p) => p.metadata.name === early.metadata.name) && list.items.find((p) => p.status?.phase === 'Running' && isReady(p) && !p.metadata.deletionTimestamp);
      }, 180_000, 250);
      console.log(`    race (label + delete): replacement Ready ${((Date.now() - agentReady) / 1000).toFixed(1)}s after the agent was Ready`);
      // Both modes acted on the early pod: labelled cni.istio.io/uninitialized=true, then deleted.
      expect(await eventsOf(kc(), early.metadata.name, 'UninitializedPodLabelled')).to.contain('Labelled cni.istio.io/uninitialized=true');
      expect(await eventsOf(kc(), early.metadata.name, 'UninitializedPodDeleted')).to.contain('started before the agent was ready');
      expect((await kubectl(kc(), ['exec', '-n', ns, replaced.metadata.name, '-c', 'app', '--', '/mztest', 'connect', `${echoIP}:8080`, 'late'])).trim()).to.match(new RegExp(`^proxy 15001 orig=${echoIP.replace(/\./g, '\\.')}:8080 `));
    });

    it('a pod with the sidecar shape: outbound to a pod IP arrives at 15001, inbound at 15006, uid 1337 and inject=false not captured', async function () {
      this.timeout(5 * 60_000);
      await apply(kc(), [sidecarPod('app'), sidecarPod('noinject', { 'sidecar.istio.io/inject': 'false' }), testPod('peer', ns, ['echo', '8080'], { ports: [8080] })]);
      const app = await waitPodReady(kc(), ns, 'app');
      const noinject = await waitPodReady(kc(), ns, 'noinject');
      const peer = await waitPodReady(kc(), ns, 'peer');
      const [appIP, noinjectIP, peerIP] = [app.status!.podIP!, noinject.status!.podIP!, peer.status!.podIP!];
      const execIn = async (pod: string, container: string, args: string[]): Promise<string> =>
        (await kubectl(kc(), ['exec', '-n', ns, pod, '-c', container, '--', '/mztest', ...args])).trim();

      // Outbound from the app container: redirected to the proxy's 15001, which sees the original destination.
      expect(await execIn('app', 'app', ['connect', `${peerIP}:8080`, 'out'])).to.match(new RegExp(`^proxy 15001 orig=${peerIP.replace(/\./g, '\\.')}:8080 from=${appIP.replace(/\./g, '\\.')}:\\d+ uid=1337$`));
      // The proxy's own traffic (uid 1337) goes straight out.
      expect(await execIn('app', 'istio-proxy', ['connect', `${peerIP}:8080`, 'own'])).to.equal('echo peer 8080: own');
      // Inbound to the app port from another pod: redirected to 15006 with the original destination.
      expect(await execIn('client', 'main', ['connect', `${appIP}:8080`, 'in'])).to.match(new RegExp(`^proxy 15006 orig=${appIP.replace(/\./g, '\\.')}:8080 from=`));
      // sidecar.istio.io/inject: "false": no rules either way.
      expect(await execIn('noinject', 'app', ['connect', `${peerIP}:8080`, 'plain'])).to.equal('echo peer 8080: plain');
      expect(await execIn('client', 'main', ['connect', `${noinjectIP}:8080`, 'plain-in'])).to.equal('echo noinject 8080: plain-in');
    });

    it('starts pods with mizzen-cni in the chain (figures: create to Running)', async function () {
      this.timeout(10 * 60_000);
      const times = await podStartFigures('mz', Number(process.env.MIZZEN_E2E_NODE_PODS ?? 30));
      console.log(`    pod create -> Running (bridge + mizzen-cni, ${times.length} pods): p50 ${percentile(times, 50)} ms, p99 ${percentile(times, 99)} ms (load ${loadavg()})`);
    });

    it('bad input: an unreachable agent fails the sandbox ADD with the clear message and the pod never runs without rules', async function () {
      this.timeout(5 * 60_000);
      // The plugin connects to the agent's socket by path; moving it away makes the agent unreachable for it.
      await nodeExec(['mv', '/var/run/mizzen/cni.sock', '/var/run/mizzen/cni.sock.away']);
      let restored = false;
      try {
        await apply(kc(), [sidecarPod('unreachable')]);
        let seen = '';
        const ev = await waitFor('a FailedCreatePodSandBox event naming the unreachable agent', async () => {
          const out = await kubectl(kc(), ['get', 'events', '-n', ns, '--field-selector', 'involvedObject.name=unreachable,reason=FailedCreatePodSandBox', '-o', 'jsonpath={.items[*].message}']);
          seen = out;
          return /mizzen node agent is unreachable/.test(out) && out;
        }, 120_000, 500).catch(async (err: Error) => {
          const events = await kubectl(kc(), ['get', 'events', '-n', ns, '--field-selector', 'involvedObject.name=unreachable', '-o', 'custom-columns=REASON:.reason,MESSAGE:.message']).catch(() => '');
          const phase = (await getPod(kc(), ns, 'unreachable').catch(() => undefined))?.status?.phase;
          throw new Error(`${err.message}; sandbox events seen: ${seen || 'none'}; the pod's events:\n${events}; phase ${phase ?? 'unknown'}`);
        });
        expect(ev).to.match(/mizzen-cni cannot program pod traffic redirection: the mizzen node agent is unreachable at \/var\/run\/mizzen\/cni\.sock/);
        expect((await getPod(kc(), ns, 'unreachable')).status?.phase).to.equal('Pending');
        await nodeExec(['mv', '/var/run/mizzen/cni.sock.away', '/var/run/mizzen/cni.sock']);
        restored = true;
        // The kubelet retries; with the agent back the pod starts, with its rules.
        const pod = await waitPodReady(kc(), ns, 'unreachable', 180_000);
        const echoIP = (await getPod(kc(), ns, 'echo')).status!.podIP!;
        expect((await kubectl(kc(), ['exec', '-n', ns, pod.metadata.name, '-c', 'app', '--', '/mztest', 'connect', `${echoIP}:8080`, 'x'])).trim()).to.match(/^proxy 15001 /);
      } finally {
        if (!restored) await nodeExec(['mv', '/var/run/mizzen/cni.sock.away', '/var/run/mizzen/cni.sock']).catch(() => undefined);
      }
    });

    it('bad input: an invalid traffic annotation gives the pod a Warning Event naming it', async () => {
      const annotation = 'traffic.sidecar.istio.io/includeOutboundIPRanges';
      await apply(kc(), [sidecarPod('badannotation', { [annotation]: 'not-a-cidr' })]);
      const msg = await waitFor('a Warning InvalidTrafficAnnotation event', async () => {
        const out = await kubectl(kc(), ['get', 'events', '-n', ns, '--field-selector', 'involvedObject.name=badannotation,type=Warning,reason=InvalidTrafficAnnotation', '-o', 'jsonpath={.items[*].message}']);
        return out.includes(annotation) && out;
      }, 120_000, 500);
      expect(msg).to.contain(annotation);
      expect((await getPod(kc(), ns, 'badannotation')).status?.phase).not.to.equal('Running');
    });

    it('an agent restart (its pod deleted, the DaemonSet stays) leaves mizzen-cni in the chain: a pod created meanwhile waits and starts with its rules', async function () {
      this.timeout(10 * 60_000);
      const old = (await agentPods(kc())).find((p) => !p.metadata.deletionTimestamp && isReady(p));
      expect(old, 'a Ready agent before the restart').to.not.equal(undefined);
      const chained = async (): Promise<boolean> => (JSON.parse(await nodeExec(['cat', '/etc/cni/net.d/10-bridge.conflist'])) as { plugins: { type: string }[] }).plugins.some((p) => p.type === 'mizzen-cni');
      let samples = 0;
      let missing = 0;
      let watching = true;
      const sampler = (async () => {
        while (watching) {
          samples++;
          if (!(await chained())) missing++;
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      try {
        const t0 = Date.now();
        await kubectl(kc(), ['delete', 'pod', '-n', 'kube-system', old!.metadata.name, '--wait=false']);
        await waitFor('the old agent pod gone', async () => !(await agentPods(kc())).some((p) => p.metadata.name === old!.metadata.name), 120_000, 200);
        const gone = Date.now();
        await apply(kc(), [sidecarPod('restart')]);
        const next = await waitFor('the next agent Ready', async () =>
          (await agentPods(kc())).find((p) => !p.metadata.deletionTimestamp && p.status?.phase === 'Running' && isReady(p)), 5 * 60_000, 250);
        const ready = Date.now();
        const pod = await waitPodReady(kc(), ns, 'restart', 180_000);
        const retried = (await eventsOf(kc(), 'restart', 'FailedCreatePodSandBox')).split('mizzen').length - 1;
        console.log(`    agent restart: old pod gone ${((gone - t0) / 1000).toFixed(1)}s after the delete, next agent ${next.metadata.name} Ready ${((ready - gone) / 1000).toFixed(1)}s later; the pod created in between had ${retried} failed sandbox ADD(s) naming mizzen before it started; conflist sampled ${samples}x, without mizzen-cni ${missing}x (load ${loadavg()})`);
        expect(missing, 'samples of the conflist without our entry during the restart').to.equal(0);
        const echoIP = (await getPod(kc(), ns, 'echo')).status!.podIP!;
        expect((await kubectl(kc(), ['exec', '-n', ns, pod.metadata.name, '-c', 'app', '--', '/mztest', 'connect', `${echoIP}:8080`, 'restart'])).trim()).to.match(/^proxy 15001 /);
        expect(await eventsOf(kc(), 'restart', 'UninitializedPodLabelled')).to.equal('');
      } finally {
        watching = false;
        await sampler;
      }
    });

    it('the race with repair in place: a pod started while no agent ran gets its rules in the same sandbox', async function () {
      this.timeout(10 * 60_000);
      const patchIop = (spec: object): Promise<string> =>
        kubectl(kc(), ['patch', 'istiooperators', '-n', 'istio-system', 'example-istiocontrolplane', '--type=merge', '-p', JSON.stringify({ spec })]);
      // Disabling the component takes the agent away: its SIGTERM puts the primary conflist back as it was.
      await patchIop({ components: { cni: { enabled: false } } });
      await waitFor('no agent on real-node-0 and the primary conflist as before', async () =>
        (await agentPods(kc())).length === 0 && (await nodeExec(['cat', '/etc/cni/net.d/10-bridge.conflist'])) === primaryConflist, 180_000, 500);
      expect(await nodeExec(['ls', '-A', '/etc/cni/net.d'])).to.equal('10-bridge.conflist\n');
      expect(await nodeExec(['ls', '/home/kubernetes/bin'])).not.to.match(/^mizzen-cni$/m);

      await kubectl(kc(), ['taint', 'node', 'real-node-0', 'cni.istio.io/not-ready=true:NoSchedule', '--overwrite']);
      await apply(kc(), [raceDeployment('race-inplace')]);
      const early = await waitFor('the race-inplace pod Running without an agent', async () => {
        const list = JSON.parse(await kubectl(kc(), ['get', 'pods', '-n', ns, '-l', 'app=race-inplace', '-o', 'json'])) as { items: Pod[] };
        return list.items.find((p) => p.status?.phase === 'Running' && isReady(p));
      }, 120_000, 250);
      const echoIP = (await getPod(kc(), ns, 'echo')).status!.podIP!;
      const connect = async (msg: string): Promise<string> =>
        (await kubectl(kc(), ['exec', '-n', ns, early.metadata.name, '-c', 'app', '--', '/mztest', 'connect', `${echoIP}:8080`, msg])).trim();
      expect(await connect('before')).to.equal('echo echo 8080: before');

      await patchIop({ components: { cni: { enabled: true } }, values: { cni: { repair: { enabled: true, repairPods: true, labelPods: false, deletePods: false } } } });
      await waitFor('a new istio-cni-node pod on real-node-0 Running and Ready', async () =>
        (await agentPods(kc())).find((p) => !p.metadata.deletionTimestamp && p.status?.phase === 'Running' && isReady(p)), 5 * 60_000, 500);
      const agentReady = Date.now();
      const msg = await waitFor('a TrafficRedirectRepaired event on the race pod', async () => {
        const out = await eventsOf(kc(), early.metadata.name, 'TrafficRedirectRepaired');
        return out !== '' && out;
      }, 120_000, 250);
      console.log(`    race (repair in place): pod repaired ${((Date.now() - agentReady) / 1000).toFixed(1)}s after the agent was Ready (load ${loadavg()})`);
      expect(msg).to.contain('Programmed traffic redirection in place');
      // The same pod (not a replacement) now sends its outbound traffic to the proxy.
      const now = await getPod(kc(), ns, early.metadata.name);
      expect(now.metadata.uid).to.equal(early.metadata.uid);
      expect(await connect('after')).to.match(new RegExp(`^proxy 15001 orig=${echoIP.replace(/\./g, '\\.')}:8080 `));
      await waitFor('the cni.istio.io/not-ready taint lifted again', async () => {
        const node = JSON.parse(await kubectl(kc(), ['get', 'node', 'real-node-0', '-o', 'json'])) as NodeObj;
        return !(node.spec.taints ?? []).some((t) => t.key === 'cni.istio.io/not-ready');
      }, 60_000, 250);
    });

    it('uninstall: deleting the IstioOperator restores the primary conflist byte for byte, removes the binary, pods keep starting', async function () {
      this.timeout(7 * 60_000);
      // (120 s was not enough once, at load 45.)
      await kubectl(kc(), ['delete', 'istiooperators', '-n', 'istio-system', 'example-istiocontrolplane', '--timeout=240s']);
      // The agent's pod goes (the operator deletes the DaemonSet; the kubelet sends SIGTERM): wait for it to be
      // gone, so what follows is what it left.
      await waitFor('no istio-cni-node pod on real-node-0', async () => (await agentPods(kc())).length === 0, 120_000, 500);
      expect(await nodeExec(['cat', '/etc/cni/net.d/10-bridge.conflist'])).to.equal(primaryConflist);
      expect(await nodeExec(['ls', '-A', '/etc/cni/net.d'])).to.equal('10-bridge.conflist\n');
      expect(await nodeExec(['ls', '/home/kubernetes/bin'])).not.to.match(/^mizzen-cni$/m);
      await apply(kc(), [testPod('after-uninstall', ns, ['sleep'])]);
      await waitPodReady(kc(), ns, 'after-uninstall');
    });

    it('helm uninstall with uninstall.mode=delete: the hook Job runs on the real node, the mesh goes, the conflist is back byte for byte', async function () {
      this.timeout(10 * 60_000);
      await kubectl(kc(), ['apply', '-f', seedFile]);
      await waitFor('the agent back, mizzen-cni chained last', async () => {
        const agent = (await agentPods(kc())).find((p) => !p.metadata.deletionTimestamp && p.status?.phase === 'Running' && isReady(p));
        if (!agent) return false;
        const conf = JSON.parse(await nodeExec(['cat', '/etc/cni/net.d/10-bridge.conflist'])) as { plugins: { type: string }[] };
        return conf.plugins.at(-1)?.type === 'mizzen-cni';
      }, 5 * 60_000, 500);
      // uninstall.mode is read by the pre-delete hook only: an upgrade that sets it leaves the operator as it is.
      await helm(['upgrade', 'mizzen', chart, '-n', 'mizzen-system', '--kubeconfig', kc(), '--reuse-values', '--set', 'uninstall.mode=delete']);
      const t0 = Date.now();
      await helm(['uninstall', 'mizzen', '-n', 'mizzen-system', '--kubeconfig', kc(), '--timeout', '4m']);
      console.log(`    helm uninstall (hook Job on the real node, mode delete) in ${((Date.now() - t0) / 1000).toFixed(1)}s (load ${loadavg()})`);
      expect((await kubectl(kc(), ['get', 'istiooperators', '-A', '-o', 'name'])).trim()).to.equal('');
      await waitFor('no istio-cni-node pod on real-node-0', async () => (await agentPods(kc())).length === 0, 120_000, 500);
      expect(await nodeExec(['cat', '/etc/cni/net.d/10-bridge.conflist'])).to.equal(primaryConflist);
      expect(await nodeExec(['ls', '-A', '/etc/cni/net.d'])).to.equal('10-bridge.conflist\n');
      expect(await nodeExec(['ls', '/home/kubernetes/bin'])).not.to.match(/^mizzen-cni$/m);
      await apply(kc(), [testPod('after-helm-uninstall', ns, ['sleep'])]);
      await waitPodReady(kc(), ns, 'after-helm-uninstall');
    });
  });

  // In a suite of its own, declared after the journey: mocha runs a suite's own tests before its nested suites,
  // so a plain test here would take the node down before the journey ran.
  describe('teardown', function () {
    it('down leaves no process, namespace, mount, cgroup, veth or host CNI state behind', async function () {
      this.timeout(120_000);
      const dir = nodeCluster.kubeconfig.replace(/\/kubeconfig$/, '');
      const initPid = fs.readFileSync(`${dir}/pids/real-node-0.pid`, 'utf8').trim();
      const netns = fs.readlinkSync(`/proc/${initPid}/ns/net`);
      const mntns = fs.readlinkSync(`/proc/${initPid}/ns/mnt`);
      const veth = `mzr${index}-0`;
      const cgroups = fs.readdirSync('/sys/fs/cgroup').map((h) => `/sys/fs/cgroup/${h}/mizzen-${nodeCluster.name}-0`).filter((p) => fs.existsSync(p));
      expect(cgroups.length, 'cgroup dirs of the node while it runs').to.be.greaterThan(0);
      await exec('ip', ['link', 'show', veth]);

      const t0 = Date.now();
      await clusterDown(nodeCluster.name);
      console.log(`    down in ${((Date.now() - t0) / 1000).toFixed(1)}s`);

      const left: string[] = [];
      for (const p of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
        try {
          const ns1 = fs.readlinkSync(`/proc/${p}/ns/net`);
          const ns2 = fs.readlinkSync(`/proc/${p}/ns/mnt`);
          if (ns1 === netns || ns2 === mntns) left.push(`${p} ${fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ')}`);
        } catch {
          // exited meanwhile
        }
      }
      expect(left, 'processes still in the node namespaces').to.deep.equal([]);
      expect(cgroups.filter((p) => fs.existsSync(p)), 'cgroup dirs left').to.deep.equal([]);
      const links = (await exec('ip', ['-o', 'link', 'show'])).stdout;
      expect(links).not.to.contain(`${veth}@`);
      expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.to.contain(dir);
      expect(fs.existsSync(dir), 'state directory').to.equal(false);
      for (const [p, existed] of hostBefore) expect(fs.existsSync(p), `host ${p}`).to.equal(existed);
      const ipt = (await exec('iptables-save', [])).stdout;
      expect(ipt).not.to.contain(`10.${128 + index}.200.`);
      expect(ipt).not.to.contain('MIZZEN-NODE-EGRESS');
    });
  });
});
