// The BUILT plugin (dist/mizzen-cni, the static Go binary of cni/) against a stub agent on a real unix socket:
// what a container runtime sees, for every CNI command and spec version, and the program exchange.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { type AgentResponse, type PluginRequest, type StepResult, SUPPORTED_VERSIONS } from '../../src/agent/protocol.js';
import { AgentSocketServer, type PluginPeer } from '../../src/agent/socket.js';
import { builtPlugin, tempDir } from './helpers.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  json: Record<string, unknown> | undefined;
}

function run(exe: string, env: Record<string, string>, stdin: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(exe, [], { env: { PATH: '/nonexistent', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      let json: Record<string, unknown> | undefined;
      try {
        json = stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, json });
    });
    child.stdin.end(stdin);
  });
}

/** A result in the shape of each spec version (0.3.x/0.4.0 carry `version` in ips, 1.x does not). */
function prevResult(cniVersion: string): Record<string, unknown> {
  const legacy = cniVersion.startsWith('0.');
  return {
    cniVersion,
    interfaces: [{ name: 'eth0', mac: '0a:58:0a:f4:00:02', sandbox: '/var/run/netns/cni-1' }],
    ips: [{ ...(legacy ? { version: '4' } : {}), address: '10.244.0.2/24', gateway: '10.244.0.1', interface: 0 }],
    routes: [{ dst: '0.0.0.0/0' }],
    dns: { nameservers: ['10.96.0.10'] },
  };
}

describe('mizzen-cni, the built executable', function () {
  this.timeout(120_000);
  let exe: string;
  let dir: string;
  let socketPath: string;
  let server: AgentSocketServer;
  const requests: PluginRequest[] = [];
  let answer: (req: PluginRequest, peer?: PluginPeer) => AgentResponse | Promise<AgentResponse> = () => ({ ok: true, redirected: true, reason: 'sidecar', message: 'ok', spawns: 2 });

  const conf = (cniVersion: string, extra: Record<string, unknown> = {}): string =>
    JSON.stringify({ cniVersion, name: 'k8s-pod-network', type: 'mizzen-cni', agentSocket: socketPath, prevResult: prevResult(cniVersion), ...extra });
  const env = (command: string, extra: Record<string, string> = {}): Record<string, string> => ({
    CNI_COMMAND: command,
    CNI_CONTAINERID: 'c0ffee',
    CNI_NETNS: '/var/run/netns/cni-1',
    CNI_IFNAME: 'eth0',
    CNI_PATH: '/opt/cni/bin',
    CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-1;K8S_POD_INFRA_CONTAINER_ID=c0ffee;K8S_POD_UID=uid-1',
    ...extra,
  });

  before(async function () {
    this.timeout(600_000); // a cold build of the executable
    exe = builtPlugin();
    dir = tempDir('plugin');
    socketPath = path.join(dir, 'cni.sock');
    server = new AgentSocketServer(socketPath, (req, peer) => {
      requests.push(req);
      return Promise.resolve(answer(req, peer));
    });
    await server.start();
  });
  after(async () => {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    requests.length = 0;
    answer = () => ({ ok: true, redirected: true, reason: 'sidecar', message: 'ok', spawns: 2 });
  });

  it('is a small static executable, not a script', () => {
    const head = Buffer.alloc(4);
    const fd = fs.openSync(exe, 'r');
    fs.readSync(fd, head, 0, 4, 0);
    fs.closeSync(fd);
    expect(head.toString('latin1')).to.equal('\x7fELF');
    expect(fs.statSync(exe).mode & 0o111).to.not.equal(0);
    // No program interpreter: statically linked, runs on any node whatever its libc.
    expect(fs.readFileSync(exe).includes('/lib64/ld-linux')).to.equal(false);
    console.log(`      mizzen-cni is ${(fs.statSync(exe).size / 1e6).toFixed(1)} MB`);
  });

  it('answers VERSION with every supported version (0.3.1 through 1.1.0)', async () => {
    const r = await run(exe, { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
    expect(r.code).to.equal(0);
    expect(r.json).to.deep.equal({ cniVersion: '1.0.0', supportedVersions: ['0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  });

  for (const v of SUPPORTED_VERSIONS) {
    it(`ADD with cniVersion ${v}: asks the agent once and prints prevResult unchanged`, async () => {
      const r = await run(exe, env('ADD'), conf(v));
      expect(r.code, r.stdout + r.stderr).to.equal(0);
      expect(r.json).to.deep.equal(prevResult(v));
      expect(r.stderr).to.equal('');
      expect(requests).to.deep.equal([
        {
          command: 'ADD',
          cniVersion: v,
          containerId: 'c0ffee',
          netns: '/var/run/netns/cni-1',
          ifName: 'eth0',
          pod: { namespace: 'shop', name: 'web-1', uid: 'uid-1' },
          ips: ['10.244.0.2/24'],
          network: 'k8s-pod-network',
          exec: true,
          netlink: true,
        },
      ]);
    });
  }

  it('fails ADD with a clear, retriable CNI error when the agent is unreachable (never a pod without rules)', async () => {
    const r = await run(exe, env('ADD'), conf('1.0.0', { agentSocket: path.join(dir, 'nobody.sock') }));
    expect(r.code).to.equal(1);
    expect(r.json).to.include({ cniVersion: '1.0.0', code: 11 });
    expect(String(r.json?.msg)).to.match(/mizzen node agent is unreachable at .*nobody\.sock \(connect ENOENT\); is the istio-cni-node pod running and ready on this node\?/);
  });

  it("passes the agent's refusal through: code and a message naming the annotation", async () => {
    answer = () => ({ ok: false, code: 100, msg: 'pod shop/web-1 has an invalid annotation traffic.sidecar.istio.io/excludeInboundPorts: "x" is not a port (1-65535)' });
    const r = await run(exe, env('ADD'), conf('1.0.0'));
    expect(r.code).to.equal(1);
    expect(r.json).to.deep.equal({ cniVersion: '1.0.0', code: 100, msg: 'pod shop/web-1 has an invalid annotation traffic.sidecar.istio.io/excludeInboundPorts: "x" is not a port (1-65535)' });
  });

  it('does not ask the agent about a sandbox that is not a Kubernetes pod', async () => {
    const r = await run(exe, env('ADD', { CNI_ARGS: 'IgnoreUnknown=1' }), conf('1.0.0'));
    expect(r.code).to.equal(0);
    expect(r.json).to.deep.equal(prevResult('1.0.0'));
    expect(requests).to.have.length(0);
  });

  it('refuses to run unchained (no prevResult) and unsupported versions', async () => {
    const noPrev = await run(exe, env('ADD'), JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'mizzen-cni', agentSocket: socketPath }));
    expect(noPrev.json).to.include({ code: 7 });
    expect(String(noPrev.json?.msg)).to.match(/must run chained after the primary CNI plugin/);
    const old = await run(exe, env('ADD'), conf('0.2.0'));
    expect(old.json).to.include({ cniVersion: '0.2.0', code: 1 });
    expect(String(old.json?.msg)).to.match(/supports 0\.3\.1, 0\.4\.0, 1\.0\.0, 1\.1\.0/);
    expect(requests).to.have.length(0);
  });

  it('reports undecodable input and missing environment as CNI errors', async () => {
    expect((await run(exe, env('ADD'), '{nope')).json).to.include({ code: 6 });
    expect((await run(exe, env('ADD', { CNI_NETNS: '' }), conf('1.0.0'))).json).to.include({ code: 4, msg: 'mizzen-cni: CNI_NETNS must be set' });
    expect((await run(exe, env('FROB'), conf('1.0.0'))).json).to.include({ code: 4 });
  });

  it('CHECK (0.4.0+) asks the agent and prints nothing; with 0.3.1 it is an incompatible-version error', async () => {
    const r = await run(exe, env('CHECK'), conf('1.0.0'));
    expect([r.code, r.stdout]).to.deep.equal([0, '']);
    expect(requests.map((q) => q.command)).to.deep.equal(['CHECK']);
    const old = await run(exe, env('CHECK'), conf('0.3.1'));
    expect(old.json).to.include({ code: 1 });
  });

  it('DEL asks the agent to clean up, and succeeds even when the agent is unreachable', async () => {
    const r = await run(exe, env('DEL'), conf('0.4.0'));
    expect([r.code, r.stdout]).to.deep.equal([0, '']);
    expect(requests.map((q) => q.command)).to.deep.equal(['DEL']);
    const gone = await run(exe, env('DEL'), conf('1.0.0', { agentSocket: path.join(dir, 'nobody.sock') }));
    expect([gone.code, gone.stdout]).to.deep.equal([0, '']);
    expect(gone.stderr).to.match(/DEL did not clean/);
    const noNetns = await run(exe, env('DEL', { CNI_NETNS: '' }), JSON.stringify({ cniVersion: '0.3.1', name: 'n', type: 'mizzen-cni', agentSocket: socketPath }));
    expect(noNetns.code).to.equal(0);
    expect(requests).to.have.length(1);
  });

  it('STATUS and GC (1.1.0): available while the agent answers, code 50 when it does not', async () => {
    expect((await run(exe, env('STATUS'), conf('1.1.0'))).code).to.equal(0);
    const down = await run(exe, env('STATUS'), conf('1.1.0', { agentSocket: path.join(dir, 'nobody.sock') }));
    expect(down.json).to.include({ code: 50 });
    expect((await run(exe, env('GC'), conf('1.1.0'))).code).to.equal(0);
    expect((await run(exe, env('STATUS'), conf('1.0.0'))).json).to.include({ code: 1 });
  });

  it('runs the agent’s program in the netns it was given and reports every result on the same connection', async function () {
    if (process.getuid?.() !== 0) this.skip(); // setns needs CAP_SYS_ADMIN
    let reports: StepResult[][] = [];
    answer = async (_req, peer) => {
      reports = [await (peer as PluginPeer).run([{ family: 'v4', tool: 'ip', args: ['-V'] }])];
      reports.push(await (peer as PluginPeer).run([{ family: 'v4', tool: 'ip', args: ['-4', '-batch', '-'], stdin: 'addr show dev lo\n' }, { family: 'v4', tool: 'sh', args: ['-c', 'true'] }, { family: 'v4', tool: 'ip', args: ['-V'] }]));
      return { ok: true, redirected: true, reason: 'sidecar', message: 'ok', spawns: 3 };
    };
    // The plugin's own netns as the pod's: entering it changes nothing. PATH has no tools: the plugin falls back to /usr/sbin etc.
    const r = await run(exe, env('ADD', { CNI_NETNS: '/proc/self/ns/net' }), conf('1.0.0'));
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(reports[0]?.[0]).to.include({ code: 0 });
    expect(reports[0]?.[0]?.stdout).to.match(/^ip utility, iproute2/);
    // Stops after the first failing step: the disallowed tool.
    expect(reports[1]?.map((x) => x.code)).to.deep.equal([0, -1]);
    expect(reports[1]?.[0]?.stdout).to.match(/inet 127\.0\.0\.1\/8/);
    expect(reports[1]?.[1]?.stderr).to.equal('mizzen-cni runs only iptables, ip6tables, ip and nft programs, not "sh"');
  });

  it('reports a netns it cannot enter as a failed step, and prints the agent’s verdict', async () => {
    let report: StepResult[] = [];
    answer = async (_req, peer) => {
      report = await (peer as PluginPeer).run([{ family: 'v4', tool: 'iptables-restore', args: ['--noflush', '--wait'], stdin: '*nat\nCOMMIT\n' }]);
      return { ok: false, code: 101, msg: `mizzen agent could not program pod shop/web-1: ${report[0]?.stderr ?? ''}` };
    };
    const r = await run(exe, env('ADD', { CNI_NETNS: path.join(dir, 'no-such-netns') }), conf('1.0.0'));
    expect(report).to.have.length(1);
    expect(report[0]?.code).to.equal(-1);
    expect(report[0]?.stderr).to.match(/^mizzen-cni could not enter the network namespace .*no-such-netns: open .*no such file or directory/);
    expect(r.code).to.equal(1);
    expect(r.json).to.include({ cniVersion: '1.0.0', code: 101 });
    expect(String(r.json?.msg)).to.match(/could not program pod shop\/web-1: mizzen-cni could not enter/);
  });

  it('times out with a clear error when the agent never answers', async () => {
    answer = () => {
      throw new Error('unused');
    };
    const silent = path.join(dir, 'silent.sock');
    const net = await import('node:net');
    const srv = net.createServer(() => undefined);
    await new Promise<void>((r) => srv.listen(silent, r));
    try {
      const r = await run(exe, env('ADD'), conf('1.0.0', { agentSocket: silent, timeoutSeconds: 0.3 }));
      expect(r.json).to.include({ code: 11 });
      expect(String(r.json?.msg)).to.match(/no answer within 0\.3s/);
    } finally {
      srv.close();
    }
  });
});
