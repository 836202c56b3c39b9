import { expect } from 'chai';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { clusterDown, kubectl, waitFor } from '../lib/cluster.js';
import { apply, cannotRunRealNode, cluster, nodeCluster, nodeExec, percentile, testPod, waitPodReady, type Pod } from './lib.js';

const exec = promisify(execFile);
const ns = 'node-e2e';

interface NodeObj {
  spec: { podCIDR?: string; taints?: { key: string }[] };
  status: { nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string }; addresses: { type: string; address: string }[]; conditions: { type: string; status: string }[] };
}

// Host paths a real node must never create or change (its own are bind-mounted inside its mount namespace).
const hostPaths = ['/etc/cni', '/opt/cni', '/var/lib/cni', '/home/kubernetes', '/var/log/pods', '/var/lib/kubelet', '/var/lib/containerd', '/run/containerd'];

describe('real node: kubelet + containerd + runc in its own namespaces', function () {
  this.timeout(5 * 60_000);
  const kc = (): string => nodeCluster.kubeconfig;
  const hostBefore = new Map<string, boolean>();
  let index = 0;

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
    const { stdout } = await cluster(['up', nodeCluster.name, '--real-nodes', '1'], { KWOK_NODES: '0' });
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
    this.timeout(10 * 60_000);
    const n = Number(process.env.MIZZEN_E2E_NODE_PODS ?? 30);
    const times: number[] = [];
    const batch = 10;
    for (let b = 0; b < n; b += batch) {
      const names = Array.from({ length: Math.min(batch, n - b) }, (_, k) => `fig-${b + k}`);
      const t0 = Date.now();
      await apply(kc(), names.map((m) => testPod(m, ns, ['sleep'], { labels: { fig: '1' } })));
      const pending = new Set(names);
      await waitFor(`pods ${names[0]}..${names[names.length - 1]} Running`, async () => {
        const list = JSON.parse(await kubectl(kc(), ['get', 'pods', '-n', ns, '-l', 'fig=1', '-o', 'json'])) as { items: Pod[] };
        for (const p of list.items) {
          if (pending.has(p.metadata.name) && p.status?.phase === 'Running') {
            times.push(Date.now() - t0);
            pending.delete(p.metadata.name);
          }
        }
        return pending.size === 0;
      }, 180_000, 100);
      await kubectl(kc(), ['delete', 'pod', '-n', ns, ...names, '--wait=false']);
    }
    times.sort((x, y) => x - y);
    const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    console.log(`    pod create -> Running (primary CNI only, ${n} pods in batches of ${batch}): p50 ${percentile(times, 50)} ms, p99 ${percentile(times, 99)} ms (load ${load})`);
    expect(times).to.have.length(n);
  });

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
