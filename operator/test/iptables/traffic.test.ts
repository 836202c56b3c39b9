// Real TCP through the redirection, the same assertions for every backend: iptables (legacy and nft) and native
// nftables. Two network namespaces joined by a veth pair (IPv4 and IPv6): "pod" runs the fake sidecar (15001,
// 15006) and an app, "peer" a server. Each answer names the listener that took the connection ("TAG:port"), so a
// redirected connection is told apart from one that was let through. Opt-in (MIZZEN_NETNS_TESTS=1, root).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { NftExecutor, SystemExecutor, buildNftRuleSet, buildRuleSet, parseArgs, resolveConfig } from '../../src/iptables/index.js';

const enabled = process.env.MIZZEN_NETNS_TESTS === '1';
const id = process.pid % 100000;
const POD = `mz-tcp-pod-${id}`;
const PEER = `mz-tcp-peer-${id}`;
const ADDR = { v4: { pod: '10.251.77.1', peer: '10.251.77.2' }, v6: { pod: 'fd00:251:77::1', peer: 'fd00:251:77::2' } } as const;

const TOOL = `
const net = require('net');
const [mode, ...a] = process.argv.slice(1);
if (mode === 'listen') {
  const [tag, ...ports] = a;
  let n = 0;
  for (const p of ports) net.createServer((s) => s.end(tag + ':' + s.localPort + '\\n')).listen({ port: Number(p), host: '::', ipv6Only: false }, () => { if (++n === ports.length) console.log('ready'); });
} else {
  const s = net.connect(Number(a[1]), a[0]);
  let d = '';
  s.on('data', (c) => (d += c));
  s.on('end', () => { process.stdout.write(d.trim()); process.exit(0); });
  s.on('error', (e) => { process.stdout.write('ERR ' + e.code); process.exit(0); });
  setTimeout(() => { process.stdout.write('TIMEOUT'); process.exit(0); }, 4000);
}`;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function dial(netns: string, host: string, port: number, uid = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [`--net=/run/netns/${netns}`, '-S', String(uid), '-G', String(uid), process.execPath, '-e', TOOL, 'dial', host, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(out));
  });
}

async function listen(netns: string, tag: string, ports: number[]): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', TOOL, 'listen', tag, ...ports.map(String)], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`listener in ${netns} exited (${code})`)));
  });
  return child;
}

/** istio-init's flags for a pod that excludes inbound 8081 and outbound 9091, dual-stack. */
const ARGV = ['-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT', '-i', '*', '-b', '*', '-d', '8081', '-o', '9091', '--ipv6'];

interface Backend {
  readonly name: string;
  apply(): Promise<void>;
  cleanup(): Promise<void>;
}

const config = resolveConfig(parseArgs(ARGV).flags, {});
const opts = { netnsPath: `/run/netns/${POD}` };
const BACKENDS: readonly Backend[] = [
  ...(['legacy', 'nft'] as const).map((b): Backend => {
    const ex = new SystemExecutor({ backend: b });
    const ruleSet = buildRuleSet(config);
    return { name: `iptables (${b})`, apply: async () => void (await ex.apply(ruleSet, opts)), cleanup: async () => void (await ex.cleanup({ ...opts, ruleSet })) };
  }),
  (() => {
    const ex = new NftExecutor();
    const ruleSet = buildNftRuleSet(config);
    return { name: 'native nftables', apply: async () => void (await ex.apply(ruleSet, opts)), cleanup: async () => void (await ex.cleanup({ ...opts, ruleSet })) };
  })(),
];

(enabled ? describe : describe.skip)('redirection of real TCP, per backend (MIZZEN_NETNS_TESTS=1)', function () {
  this.timeout(60_000);
  const procs: ChildProcess[] = [];

  before(async () => {
    for (const ns of [POD, PEER]) {
      sh('ip', ['netns', 'add', ns]);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    sh('ip', ['-n', POD, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', PEER]);
    for (const [ns, side] of [
      [POD, 'pod'],
      [PEER, 'peer'],
    ] as const) {
      sh('ip', ['-n', ns, 'addr', 'add', `${ADDR.v4[side]}/24`, 'dev', 'eth0']);
      sh('ip', ['-n', ns, '-6', 'addr', 'add', `${ADDR.v6[side]}/64`, 'dev', 'eth0', 'nodad']);
      sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    }
    procs.push(await listen(POD, 'ENVOY', [15001, 15006]), await listen(POD, 'APP', [8080, 8081, 15008]), await listen(PEER, 'PEER', [9090, 9091]));
  });

  after(() => {
    for (const p of procs) p.kill('SIGTERM');
    for (const ns of [POD, PEER]) {
      try {
        sh('ip', ['netns', 'del', ns]);
      } catch {
        // already gone
      }
    }
  });

  it('lets everything through before any rule is applied', async () => {
    expect(await Promise.all([dial(POD, ADDR.v4.peer, 9090), dial(PEER, ADDR.v4.pod, 8080)])).to.deep.equal(['PEER:9090', 'APP:8080']);
  });

  for (const backend of BACKENDS) {
    describe(`with ${backend.name}`, () => {
      before(() => backend.apply());
      after(() => backend.cleanup());

      for (const family of ['v4', 'v6'] as const) {
        const a = ADDR[family];
        it(`${family}: captures the app's outbound TCP, but not the proxy's (uid 1337) nor an excluded port`, async () => {
          expect(await Promise.all([dial(POD, a.peer, 9090), dial(POD, a.peer, 9090, 1337), dial(POD, a.peer, 9091)])).to.deep.equal(['ENVOY:15001', 'PEER:9090', 'PEER:9091']);
        });

        it(`${family}: captures inbound TCP, but not an excluded port nor the tunnel port`, async () => {
          expect(await Promise.all([dial(PEER, a.pod, 8080), dial(PEER, a.pod, 8081), dial(PEER, a.pod, 15008)])).to.deep.equal(['ENVOY:15006', 'APP:8081', 'APP:15008']);
        });
      }

      it('leaves localhost alone', async () => {
        expect(await Promise.all([dial(POD, '127.0.0.1', 8080), dial(POD, '::1', 8080)])).to.deep.equal(['APP:8080', 'APP:8080']);
      });

      it('lets everything through again once cleaned up', async () => {
        await backend.cleanup();
        expect(await Promise.all([dial(POD, ADDR.v4.peer, 9090), dial(PEER, ADDR.v6.pod, 8080)])).to.deep.equal(['PEER:9090', 'APP:8080']);
      });
    });
  }
});
